package functions_test

// Issue 10's attacks on the functions module, replayed: each shows the
// attempt failing, with the figures. The harness checks conservation after
// every block.

import (
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// TestUsageReportBounds replays attack 5: a replica's provider reported 1
// call with 10^16 MiB-ms (the spec allows at most 320,000 per call) and
// charged the whole 100 STR spend limit; one report of avg_concurrency 4e9
// scaled the deployment to scaling.max. Both are refused now, and nothing
// is charged or scaled.
func TestUsageReportBounds(t *testing.T) {
	c := newChain(t, testParams(), 3)
	id := c.deploy("bounded", spec(), 100*str)
	d := c.dep(id)
	prov := c.providerKey(d.Replicas[0].Provider)
	escrow := d.Escrow
	provBal, provFees := c.Balance(prov.Address()), c.Fees[prov.Address()]

	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1, MiBMs: 10_000_000_000_000_000, PeakConcurrency: 1, AvgConcurrency: 1},
		ledger.CodeInvalid, "usage report has 10000000000000000 MiB-ms for 1 calls: deployment 1 allows at most 320000 per call (64 MiB for 5000 ms)")
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1, MiBMs: 1, PeakConcurrency: 4_000_000_000, AvgConcurrency: 4_000_000_000},
		ledger.CodeInvalid, "usage report peak_concurrency 4000000000 is above 16, what one replica of deployment 1 can run and queue (8 instances and as many waiting)")
	// The calls one replica can serve are bounded by the time since its
	// previous report: 8 instances x (4 s since it opened + one 60 s epoch
	// + one 5 s timeout) x 10 calls a ms (calls_per_instance_ms) =
	// 5,520,000 calls.
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 5_520_001, MiBMs: 5_520_001 * 64, PeakConcurrency: 1, AvgConcurrency: 1},
		ledger.CodeInvalid, "usage report has 5520001 calls: one replica of deployment 1 can serve at most 5520000 in the 4000 ms since its previous report, one epoch and one timeout (8 instances, 10 calls a ms each)")
	// MiB-ms likewise, a block later: 64 MiB x (8 instances x 70,000 ms +
	// 1,000 calls).
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1_000, MiBMs: 64*(8*70_000+1_000) + 1, PeakConcurrency: 1, AvgConcurrency: 1},
		ledger.CodeInvalid, "usage report has 35904001 MiB-ms: one replica of deployment 1 can use at most 35904000 in the 5000 ms since its previous report, one epoch and one timeout")
	// The spend limit was never touched, the provider got nothing, and
	// the deployment did not scale.
	d = c.dep(id)
	if d.Charged != 0 || d.Escrow != escrow || c.Balance(prov.Address()) != provBal-(c.Fees[prov.Address()]-provFees) || len(d.Replicas) != 1 {
		t.Fatalf("charged %d, escrow %d (was %d), provider %d (was %d), %d replicas", d.Charged, d.Escrow, escrow, c.Balance(prov.Address()), provBal, len(d.Replicas))
	}
	c.BlockAfter(10 * time.Second)
	if sc := scaled(c.EndEvents); len(sc) != 0 {
		t.Fatalf("scaled on a refused report: %v", sc)
	}
	// An honest report within the bounds is charged: 16 in queue and in
	// flight, 100 calls of 1 s at 64 MiB.
	r := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 100, MiBMs: 6_400_000, PeakConcurrency: 16, AvgConcurrency: 16})
	if r.Code != ledger.CodeOK {
		t.Fatal(r.Log)
	}
	// 100 x 0.2 ustr + 6,400,000 x 16 nano-ustr = 20 + 0.1024 ustr.
	if d = c.dep(id); d.Charged != 20 || d.AccruedNano != 102_400_000 {
		t.Fatalf("charged %d and %d nano-ustr carried, want 20 and 102400000", d.Charged, d.AccruedNano)
	}
}

// TestOwnerCannotDodgeUsage replays attack 6: the owner closed each
// replica's lease before its provider reported, so the usage served could
// never be charged. Now the direct close is refused, naming the
// deployment; closing the replica through the deployment (functions/scale)
// keeps escrow back, and the provider's final report is charged.
func TestOwnerCannotDodgeUsage(t *testing.T) {
	c := newChain(t, testParams(), 3)
	owner := c.users[0]
	s := spec()
	s.Scaling.Min, s.Scaling.Max = 2, 2
	id := c.deploy("dodge", s, 20*str)
	d := c.dep(id)
	r1 := d.Replicas[1]
	prov := c.providerKey(r1.Provider)

	c.fails(owner, &market.CloseLease{ID: r1.Lease}, ledger.CodeConflict,
		"lease "+ledger.FormatInt(r1.Lease)+" is a replica of deployment 1 (dodge): a replica's lease closes through its deployment, by lowering its scaling (functions/scale) or removing it (functions/remove)")

	// The owner scales in instead: the newest replica's lease closes in
	// this block's evaluation, and escrow is kept back for its provider's
	// final report: 8 instances x (3 s since it opened + 60 s + 5 s) x 10
	// calls a ms = 5,440,000 calls (1,088,000 ustr) and 64 x (544,000 +
	// 5,440,000) MiB-ms (6.13 ustr) at most, 1,088,007 ustr rounded up.
	c.OK(owner, &functions.Scale{ID: id, Min: 1, Max: 1})
	if sc := scaled(c.EndEvents); len(sc) != 1 || sc[0].Get("lease") != ledger.FormatInt(r1.Lease) {
		t.Fatalf("end events %v", c.EndEvents)
	}
	if l := c.lease(r1.Lease); l.State != market.LeaseClosed || l.CloseReason != "consumer" {
		t.Fatalf("lease %d: %s (%s)", r1.Lease, l.State, l.CloseReason)
	}
	d = c.dep(id)
	if d.Reserved != 1_088_007 || len(d.Replicas) != 1 || d.Spec.Scaling.Max != 1 {
		t.Fatalf("reserved %d, %d replicas, scaling %+v", d.Reserved, len(d.Replicas), d.Spec.Scaling)
	}
	// Nor can the owner take the reserve back by removing the deployment:
	// the removal keeps back as much for the other replica (8 x 69 s x 10:
	// 1,104,007 ustr), 2,192,014 in all.
	escrow := d.Escrow
	r := c.OK(owner, &functions.Remove{ID: id})
	if ev := find(r.Events, "function.removed"); len(ev) != 1 || ev[0].Get("reserved") != "2192014" || ledgertest.AttrU64(t, ev[0], "refund") != escrow-2_192_014 {
		t.Fatalf("removed %v", r.Events)
	}

	// The provider's final report, a minute later: 100 calls of 1 s at
	// 64 MiB served before the close, 20 + 0.1024 ustr.
	provBal := c.Balance(prov.Address())
	c.BlockAfter(50 * time.Second)
	rep := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 100, MiBMs: 6_400_000, PeakConcurrency: 8, AvgConcurrency: 8})
	if rep.Code != ledger.CodeOK {
		t.Fatal(rep.Log)
	}
	if ev := find(rep.Events, "function.charged"); len(ev) != 1 || ev[0].Get("amount") != "20" || ev[0].Get("final") != "true" {
		t.Fatalf("charged %v", rep.Events)
	}
	if got := c.Balance(prov.Address()); got != provBal+20-rep.Fee || rep.Fee == 0 {
		t.Fatalf("provider balance %d, want %d", got, provBal+20-rep.Fee)
	}
	// One final report only.
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), Calls: 1, PeakConcurrency: 1}, ledger.CodeConflict, "was removed")
	// After final_report_seconds the rest of the reserve goes back.
	c.BlockAfter(10 * time.Minute)
	d = c.dep(id)
	if d.Escrow != 0 || d.Reserved != 0 || d.Charged != 20 {
		t.Fatalf("escrow %d, reserved %d, charged %d", d.Escrow, d.Reserved, d.Charged)
	}
}

// TestScaleInKeepsLastEpoch: the autoscaler's own scale-in closes a
// replica between two reports; its provider's last partial epoch is still
// charged from its final report.
func TestScaleInKeepsLastEpoch(t *testing.T) {
	c := newChain(t, testParams(), 3)
	s := spec()
	s.Scaling = functions.Scaling{Min: 1, Max: 2, TargetConcurrency: 8, CooldownSeconds: 0}
	id := c.deploy("scalein", s, 20*str)
	c.reportAll(id, 12, 1, time.Second)
	c.BlockAfter(10 * time.Second) // scales out to 2
	c.ackAll()
	d := c.dep(id)
	if len(d.Replicas) != 2 {
		t.Fatalf("%d replicas", len(d.Replicas))
	}
	newest := d.Replicas[1]
	prov := c.providerKey(newest.Provider)
	// Load drops: the next evaluation closes the newest replica.
	c.reportAll(id, 1, 2, time.Second)
	for i := 0; i < 3 && len(c.dep(id).Replicas) == 2; i++ {
		c.BlockAfter(10 * time.Second)
	}
	if l := c.lease(newest.Lease); l.State != market.LeaseClosed {
		t.Fatalf("lease %d is %s", newest.Lease, l.State)
	}
	charged := c.dep(id).Charged
	rep := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 3, Epoch: c.epoch(), Calls: 50, MiBMs: 50 * 64 * 100, PeakConcurrency: 1, AvgConcurrency: 1})
	if rep.Code != ledger.CodeOK {
		t.Fatal(rep.Log)
	}
	// 50 x 0.2 ustr + 320,000 x 16 nano-ustr = 10.00512 ustr: 10, the
	// fraction carried.
	if got := c.dep(id).Charged - charged; got != 10 {
		t.Fatalf("the last partial epoch charged %d, want 10", got)
	}
}

// TestSuspendedDeploymentsWriteNothing replays attack 4: deployments that
// can no longer run (their replicas' leases closed, too little escrow for
// another) were evaluated every 10 s and ran cron every minute, each time
// decoding and rewriting the whole record (~580 KB with a large env). Now
// they are suspended: the blocks after write nothing of theirs, until a
// top-up resumes them.
func TestSuspendedDeploymentsWriteNothing(t *testing.T) {
	c := newChain(t, testParams(), 2)
	owner := c.users[0]
	s := spec()
	s.Env = map[string]string{}
	for i := range 8 {
		s.Env["BIG_"+string(rune('A'+i))] = strings.Repeat("<", 4000)
	}
	s.Cron = []functions.CronJob{{Schedule: "* * * * *", Path: "/tick", Body: strings.Repeat("&", 60_000)}}
	const n = 5
	var ids []uint64
	for i := range n {
		// 1.5 STR: one replica's 1 STR deposit, and 0.5 STR left.
		ids = append(ids, c.deploy("dormant-"+string(rune('a'+i)), s, 1_500_000))
	}
	// The owner may not close the replicas' leases itself.
	d0 := c.dep(ids[0])
	c.fails(owner, &market.CloseLease{ID: d0.Replicas[0].Lease}, ledger.CodeConflict, "is a replica of deployment")
	// The provider leaves them: each replica's lease closes, and there is
	// no escrow for another.
	for _, id := range ids {
		r := c.dep(id).Replicas[0]
		c.OK(c.providerKey(r.Provider), &market.CloseLease{ID: r.Lease})
	}
	c.BlockAfter(10 * time.Second)
	if sus := find(c.EndEvents, "function.suspended"); len(sus) == 0 {
		t.Fatalf("end events %v", c.EndEvents)
	}
	for _, id := range ids {
		if d := c.dep(id); d.State != functions.StateSuspended || !strings.Contains(d.SuspendedReason, "short of a replica's lease deposit") {
			t.Fatalf("deployment %d: %s (%s)", id, d.State, d.SuspendedReason)
		}
	}
	// The final-report reserve is released at final_report_seconds; from
	// then on, ten minutes of blocks write nothing under functions/.
	c.BlockAfter(time.Duration(c.fp.FinalReportSeconds) * time.Second)
	for i := range 60 {
		c.BlockAfter(10 * time.Second)
		fnEvents := 0
		for _, e := range c.EndEvents {
			if strings.HasPrefix(e.Type, "function.") {
				fnEvents++
			}
		}
		if w := c.moduleWrites(); w != 0 || fnEvents != 0 {
			t.Fatalf("block %d after suspension: %d functions writes, events %v", i, w, c.EndEvents)
		}
	}
	if err := functions.Payable(c.Query(), ids[0]); err == nil || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("Payable: %v", err)
	}
	// A top-up resumes it: a replica opens on the other provider, and cron
	// runs again.
	r := c.OK(owner, &functions.Topup{ID: ids[0], Amount: 2 * str})
	if len(find(r.Events, "function.resumed")) != 1 || len(scaled(c.EndEvents)) != 1 {
		t.Fatalf("top-up events %v, end events %v", r.Events, c.EndEvents)
	}
	c.ackAll()
	c.BlockAfter(time.Minute)
	if len(find(c.EndEvents, "function.cron")) != 1 {
		t.Fatalf("end events %v", c.EndEvents)
	}
}

// TestModuleErrorShown: a provider that cannot run the module says why in
// its report; the deployment shows it (fn info) until calls run again.
func TestModuleErrorShown(t *testing.T) {
	c := newChain(t, testParams(), 1)
	id := c.deploy("broken", spec(), 10*str)
	prov := c.providerKey(c.dep(id).Replicas[0].Provider)
	r := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), PeakConcurrency: 1,
		ModuleError: "deployment 1: its module cannot run: not a WebAssembly module (bad magic number)"})
	if ev := find(r.Events, "function.module_error"); len(ev) != 1 {
		t.Fatalf("events %v", r.Events)
	}
	if d := c.dep(id); d.ModuleError != "deployment 1: its module cannot run: not a WebAssembly module (bad magic number)" {
		t.Fatalf("module error %q", d.ModuleError)
	}
	c.fails(prov, &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), ModuleError: "two\nlines"}, ledger.CodeInvalid, "module_error contains")
	c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), Calls: 1, MiBMs: 64, PeakConcurrency: 1})
	if d := c.dep(id); d.ModuleError != "" {
		t.Fatalf("module error %q after calls ran", d.ModuleError)
	}
}

// TestResumeWhenReserveReleased: a deployment suspended because the escrow
// kept back for a final report left too little for a replica resumes on
// its own once that reserve is released.
func TestResumeWhenReserveReleased(t *testing.T) {
	c := newChain(t, testParams(), 2)
	// 2.05 STR: 1 STR for the replica, 1.05 STR left.
	id := c.deploy("tight", spec(), 2_050_000)
	r := c.dep(id).Replicas[0]
	c.OK(c.providerKey(r.Provider), &market.CloseLease{ID: r.Lease})
	c.BlockAfter(10 * time.Second)
	d := c.dep(id)
	if d.State != functions.StateSuspended || d.Reserved == 0 || d.Escrow-d.Reserved >= c.fp.ReplicaDeposit || d.Escrow < c.fp.ReplicaDeposit {
		t.Fatalf("state %s, escrow %d, reserved %d", d.State, d.Escrow, d.Reserved)
	}
	c.BlockAfter(time.Duration(c.fp.FinalReportSeconds) * time.Second) // released, resumed
	if len(find(c.EndEvents, "function.resumed")) != 1 {
		t.Fatalf("end events %v", c.EndEvents)
	}
	c.BlockAfter(time.Second) // evaluated: a new replica
	if d = c.dep(id); d.State != functions.StateActive || len(d.Replicas) != 1 || d.Replicas[0].Lease == r.Lease {
		t.Fatalf("state %s, replicas %+v", d.State, d.Replicas)
	}
}

// TestBlockWorkBounded: a block runs at most block_cron_runs cron runs
// (and block_evaluations evaluations); the rest stay due and the next
// blocks run them, earliest first.
func TestBlockWorkBounded(t *testing.T) {
	fp := testParams()
	fp.BlockCronRuns = 1
	c := newChain(t, fp, 3)
	s := spec()
	s.Cron = []functions.CronJob{{Schedule: "* * * * *", Path: "/tick"}}
	for _, n := range []string{"a", "b", "c"} {
		c.deploy(n, s, 5*str)
	}
	// All three are due at 0:01.
	c.BlockAfter(time.Minute - c.Now.Sub(t0))
	var per []int
	for range 4 {
		per = append(per, len(find(c.EndEvents, "function.cron")))
		c.BlockAfter(time.Second)
	}
	if per[0] != 1 || per[1] != 1 || per[2] != 1 || per[3] != 0 {
		t.Fatalf("cron runs per block %v, want [1 1 1 0]", per)
	}
}
