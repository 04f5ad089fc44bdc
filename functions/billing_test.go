package functions_test

import (
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// TestExactBilling charges three known reports and checks every number,
// worked out by hand at 0.2 ustr per call (200,000,000 nano-ustr) and 16
// nano-ustr per MiB-ms, with a 90/10 split between the provider and a
// creator.
func TestExactBilling(t *testing.T) {
	c := newChain(t, testParams(), 2)
	owner := c.users[0]
	s := spec()
	s.Scaling = functions.Scaling{Min: 1, Max: 1, TargetConcurrency: 8}
	s.Split = []market.Payee{{To: "provider", Bps: 9000}, {To: c.creator.Address().String(), Bps: 1000}}
	b0, f0 := c.Balance(owner.Address()), c.Fees[owner.Address()]
	id := c.deploy("bill", s, 10*str)
	d := c.dep(id)
	if len(d.Replicas) != 1 || d.Replicas[0].LeaseState != market.LeaseActive {
		t.Fatalf("replicas %+v", d.Replicas)
	}
	if d.Escrow != 9*str || d.ReplicaFunding != 1*str {
		t.Fatalf("escrow %d, replica funding %d; want 9 STR and 1 STR", d.Escrow, d.ReplicaFunding)
	}
	prov := c.providerKey(d.Replicas[0].Provider)
	creator0 := c.Balance(c.creator.Address())
	leaseCreator0 := c.lease(d.Replicas[0].Lease).Split[1].Paid // settled to now, as a query shows it

	// 1000 calls of 5 ms at 64 MiB: 1000 x 0.2 ustr + 320,000 MiB-ms x 16
	// nano-ustr = 200 ustr + 5,120,000 nano-ustr carried.
	r := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1000, MiBMs: 320_000, PeakConcurrency: 3, AvgConcurrency: 1})
	if r.Code != ledger.CodeOK {
		t.Fatal(r.Log)
	}
	if ev := find(r.Events, "function.charged"); len(ev) != 1 || ev[0].Get("amount") != "200" {
		t.Fatalf("charged events %v", r.Events)
	}
	d = c.dep(id)
	if d.Charged != 200 || d.AccruedNano != 5_120_000 || d.Payees[0].Paid != 180 || d.Payees[1].Paid != 20 || d.Pending != 0 {
		t.Fatalf("after report 1: %+v", d.Deployment)
	}
	// 3 calls and 959,999 MiB-ms (the most 3 calls of 64 MiB for 5 s can
	// use is 960,000): 600,000,000 + 15,359,984 nano-ustr, plus the carry:
	// 620,479,984, still under a ustr.
	c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), Calls: 3, MiBMs: 959_999, PeakConcurrency: 1, AvgConcurrency: 1})
	d = c.dep(id)
	if d.Charged != 200 || d.AccruedNano != 620_479_984 {
		t.Fatalf("after report 2: charged %d, accrued %d", d.Charged, d.AccruedNano)
	}
	// 2 calls: 400,000,000 + 620,479,984 = 1 ustr and 20,479,984 carried.
	// 201 charged: the provider is due floor(180.9) = 180, the creator
	// floor(20.1) = 20, and 1 ustr waits.
	c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 3, Epoch: c.epoch(), Calls: 2, PeakConcurrency: 1})
	d = c.dep(id)
	if d.Charged != 201 || d.AccruedNano != 20_479_984 || d.Payees[0].Paid != 180 || d.Payees[1].Paid != 20 || d.Pending != 1 {
		t.Fatalf("after report 3: %+v", d.Deployment)
	}
	if d.Calls != 1005 || d.MiBMs != 1_279_999 || d.Escrow != 9*str-201 {
		t.Fatalf("totals: calls %d, MiB-ms %d, escrow %d", d.Calls, d.MiBMs, d.Escrow)
	}
	if len(d.Usage) != 1 || d.Usage[0].Paid != 180 || d.Usage[0].Sequence != 3 || d.Usage[0].Calls != 1005 {
		t.Fatalf("usage %+v", d.Usage)
	}

	// Removal: the pending ustr goes to the first payee (the provider),
	// the lease closes and refunds the owner, and so does the escrow.
	leaseID := d.Replicas[0].Lease
	// What the replica's final report may charge is kept back for
	// final_report_seconds: 8 instances for the 1 s since its last report,
	// one 60 s epoch and one 5 s timeout, at 10 calls a ms, 5,280,000 calls
	// and 64 x (528,000 + 5,280,000) MiB-ms at most, 1,056,006 ustr
	// (rounded up); then it is refunded too.
	r = c.OK(owner, &functions.Remove{ID: id})
	if ev := find(r.Events, "function.removed"); len(ev) != 1 || ev[0].Get("refund") != "7943793" || ev[0].Get("reserved") != "1056006" {
		t.Fatalf("removed events %v", r.Events)
	}
	c.BlockAfter(time.Duration(c.fp.FinalReportSeconds) * time.Second)
	if ev := find(c.EndEvents, "function.refunded"); len(ev) != 1 || ev[0].Get("refund") != "1056006" {
		t.Fatalf("end events %v", c.EndEvents)
	}
	d = c.dep(id)
	if d.State != functions.StateRemoved || d.Pending != 0 || d.Payees[0].Paid != 181 || d.Usage[0].Paid != 181 || d.Refunded != 8_999_799 {
		t.Fatalf("after remove: %+v", d.Deployment)
	}
	l := c.lease(leaseID)
	if l.State != market.LeaseClosed {
		t.Fatalf("lease %d is %s", leaseID, l.State)
	}
	// The owner paid two fees, the deposit, and got back the escrow and
	// what the lease did not spend.
	if got, want := c.Balance(owner.Address()), b0-(c.Fees[owner.Address()]-f0)-10*str+8_999_799+l.Refunded; got != want {
		t.Fatalf("owner balance %d, want %d", got, want)
	}
	if got, want := c.Balance(c.creator.Address()), creator0+20+l.Split[1].Paid-leaseCreator0; got != want {
		t.Fatalf("creator balance %d, want %d", got, want)
	}
	if _, err := functions.DeploymentByName(c.Query(), owner.Address(), "bill"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("the removed deployment's name is still taken: %v", err)
	}
}

// TestReplayedReportNotCharged sends a report, then the same one again, an
// older one, and the same sequence in one block twice: only the first is
// charged.
func TestReplayedReportNotCharged(t *testing.T) {
	c := newChain(t, testParams(), 2)
	s := spec()
	s.Scaling.Max = 1
	id := c.deploy("replay", s, 10*str)
	prov := c.providerKey(c.dep(id).Replicas[0].Provider)
	rep := &functions.UsageReport{Deployment: id, Sequence: 5, Epoch: c.epoch(), Calls: 10, PeakConcurrency: 1}
	if r := c.report(prov, rep); r.Code != ledger.CodeOK {
		t.Fatal(r.Log)
	}
	charged := c.dep(id).Charged
	if charged != 2 {
		t.Fatalf("charged %d, want 2 (10 x 0.2 ustr)", charged)
	}
	c.fails(prov, rep, ledger.CodeConflict, "never charged twice")
	old := *rep
	old.Sequence = 4
	c.fails(prov, &old, ledger.CodeConflict, "is not after 5")
	// Two copies of the next report in one block: the second is refused.
	next := *rep
	next.Sequence = 6
	res := c.BlockAfter(1, c.Tx(prov, &next), c.Tx(prov, &next))
	if res[0].Code != ledger.CodeOK || res[1].Code != ledger.CodeConflict {
		t.Fatalf("codes %d (%s), %d (%s)", res[0].Code, res[0].Log, res[1].Code, res[1].Log)
	}
	if got := c.dep(id).Charged; got != 4 {
		t.Fatalf("charged %d after two distinct reports, want 4", got)
	}
}

// TestSpendLimit caps charges at the spend limit, marks the deployment
// exhausted, charges nothing more, and lets a higher limit revive it.
func TestSpendLimit(t *testing.T) {
	c := newChain(t, testParams(), 2)
	s := spec()
	s.SpendLimit = 250
	s.Scaling.Max = 1
	id := c.deploy("capped", s, 10*str)
	prov := c.providerKey(c.dep(id).Replicas[0].Provider)
	c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1000, PeakConcurrency: 1})
	if d := c.dep(id); d.Charged != 200 || d.State != functions.StateActive || d.Room != 50 {
		t.Fatalf("after 1000 calls: charged %d, state %s, room %d", d.Charged, d.State, d.Room)
	}
	// 1000 more calls cost 200 ustr; only 50 fit.
	r := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), Calls: 1000, PeakConcurrency: 1})
	if ev := find(r.Events, "function.exhausted"); len(ev) != 1 || ev[0].Get("reason") != "spend_limit" {
		t.Fatalf("events %v", r.Events)
	}
	d := c.dep(id)
	if d.Charged != 250 || d.State != functions.StateExhausted || d.AccruedNano != 0 {
		t.Fatalf("after the cap: charged %d, state %s, accrued %d", d.Charged, d.State, d.AccruedNano)
	}
	if err := functions.Payable(c.Query(), id); errs.KindOf(err) != errs.Insufficient {
		t.Fatalf("Payable: %v, want insufficient funds", err)
	}
	c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 3, Epoch: c.epoch(), Calls: 1000, PeakConcurrency: 1})
	if d := c.dep(id); d.Charged != 250 {
		t.Fatalf("an exhausted deployment was charged: %d", d.Charged)
	}
	s.SpendLimit = 1000
	r = c.OK(c.users[0], &functions.Update{ID: id, Spec: s})
	if len(find(r.Events, "function.active")) != 1 {
		t.Fatalf("update events %v", r.Events)
	}
	if err := functions.Payable(c.Query(), id); err != nil {
		t.Fatal(err)
	}
}

// TestEscrowExhausts: usage that drains the escrow stops at zero.
func TestEscrowExhausts(t *testing.T) {
	c := newChain(t, testParams(), 2)
	s := spec()
	s.Scaling.Max = 1
	id := c.deploy("small", s, 1*str+100)
	prov := c.providerKey(c.dep(id).Replicas[0].Provider)
	r := c.report(prov, &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1000, PeakConcurrency: 1})
	if ev := find(r.Events, "function.exhausted"); len(ev) != 1 || ev[0].Get("reason") != "escrow" {
		t.Fatalf("events %v", r.Events)
	}
	if d := c.dep(id); d.Charged != 100 || d.Escrow != 0 {
		t.Fatalf("charged %d, escrow %d", d.Charged, d.Escrow)
	}
	r = c.OK(c.stranger, &functions.Topup{ID: id, Amount: 5 * str})
	if len(find(r.Events, "function.active")) != 1 {
		t.Fatalf("topup events %v", r.Events)
	}
}
