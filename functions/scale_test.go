package functions_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// reportAll has every replica of id report avg concurrency each, in one
// block dt after the last.
func (c *chain) reportAll(id uint64, each uint32, seq uint64, dt time.Duration) {
	c.T.Helper()
	var txs [][]byte
	for _, r := range c.dep(id).Replicas {
		if r.LeaseState != market.LeaseActive {
			continue
		}
		txs = append(txs, c.Tx(c.providerKey(r.Provider), &functions.UsageReport{
			Deployment: id, Sequence: seq, Epoch: c.epoch(), Calls: 10, MiBMs: 640, PeakConcurrency: each + 2, AvgConcurrency: each}))
	}
	for _, r := range c.BlockAfter(dt, txs...) {
		if r.Code != ledger.CodeOK {
			c.T.Fatalf("report: %s", r.Log)
		}
	}
}

func scaled(evs []ledger.Event) []ledger.Event { return find(evs, "function.scaled") }

// TestScaleOutAndIn: sustained concurrency of 14 on one replica with a
// target of 8 opens a second and a third replica on other providers, no
// more than max; light load for the cooldown closes them one at a time,
// down to min.
func TestScaleOutAndIn(t *testing.T) {
	c := newChain(t, testParams(), 4)
	id := c.deploy("web", spec(), 20*str)
	if n := len(c.dep(id).Replicas); n != 1 {
		t.Fatalf("%d replicas after deploy", n)
	}
	var seq uint64 = 1
	c.reportAll(id, 14, seq, time.Second)
	// The next evaluation (every 10 s) scales out.
	var reasons []string
	for i := 0; i < 4; i++ {
		c.BlockAfter(10 * time.Second)
		for _, e := range scaled(c.EndEvents) {
			reasons = append(reasons, e.Get("from")+"->"+e.Get("to")+": "+e.Get("reason"))
		}
		c.ackAll()
		seq++
		c.reportAll(id, 14, seq, time.Second)
	}
	want := []string{"1->2: concurrency 14 > 1 x 8", "2->3: concurrency 28 > 2 x 8"}
	if strings.Join(reasons, "|") != strings.Join(want, "|") {
		t.Fatalf("scaling decisions %q, want %q", reasons, want)
	}
	d := c.dep(id)
	if len(d.Replicas) != 3 {
		t.Fatalf("%d replicas under load, want max 3", len(d.Replicas))
	}
	seen := map[identity.Address]bool{}
	for _, r := range d.Replicas {
		if seen[r.Provider] {
			t.Fatalf("two replicas on %s", r.Provider)
		}
		seen[r.Provider] = true
		if r.LeaseState != market.LeaseActive {
			t.Fatalf("replica lease %d is %s", r.Lease, r.LeaseState)
		}
	}
	// Light load: 2 per replica fits in fewer replicas.
	reasons = nil
	start := c.Now
	for c.Now.Sub(start) < 5*time.Minute {
		seq++
		c.reportAll(id, 2, seq, 10*time.Second)
		for _, e := range scaled(c.EndEvents) {
			reasons = append(reasons, e.Get("from")+"->"+e.Get("to"))
			if !strings.Contains(e.Get("reason"), "for 60s") && !strings.Contains(e.Get("reason"), "for 70s") {
				t.Errorf("scale-in reason %q does not name the cooldown", e.Get("reason"))
			}
		}
	}
	if strings.Join(reasons, ",") != "3->2,2->1" {
		t.Fatalf("scale-in %q, want 3->2,2->1", reasons)
	}
	d = c.dep(id)
	if len(d.Replicas) != 1 {
		t.Fatalf("%d replicas after the cooldown, want min 1", len(d.Replicas))
	}
	// The closed replicas' leases are closed by the consumer.
	var closed int
	for _, l := range c.leasesOf(c.users[0].Address()) {
		if l.State == market.LeaseClosed && l.CloseReason == "consumer" {
			closed++
		}
	}
	if closed != 2 {
		t.Fatalf("%d leases closed by scale-in, want 2", closed)
	}
}

func (c *chain) leasesOf(a identity.Address) []market.Lease {
	c.T.Helper()
	ids, err := market.LeasesOf(c.Query(), a, false)
	if err != nil {
		c.T.Fatal(err)
	}
	var out []market.Lease
	for _, id := range ids {
		out = append(out, c.lease(id))
	}
	return out
}

// TestReplaceClosedLease: a replica whose lease its provider closes is
// replaced on another provider at the next evaluation, with the reason.
func TestReplaceClosedLease(t *testing.T) {
	c := newChain(t, testParams(), 3)
	s := spec()
	s.Scaling.Min = 2
	id := c.deploy("ha", s, 20*str)
	d := c.dep(id)
	gone := d.Replicas[0]
	c.OK(c.providerKey(gone.Provider), &market.CloseLease{ID: gone.Lease})
	c.BlockAfter(10 * time.Second)
	lost := find(c.EndEvents, "function.replica_lost")
	sc := scaled(c.EndEvents)
	if len(lost) != 1 || lost[0].Get("reason") != "provider" || len(sc) != 1 {
		t.Fatalf("end events %v", c.EndEvents)
	}
	if got, want := sc[0].Get("reason"), "replacing lease "+ledger.FormatInt(gone.Lease)+" (provider)"; got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
	d = c.dep(id)
	if len(d.Replicas) != 2 {
		t.Fatalf("%d replicas", len(d.Replicas))
	}
	for _, r := range d.Replicas {
		if r.Provider == gone.Provider {
			t.Fatalf("the replacement went back to %s", gone.Provider)
		}
	}
	got, err := functions.ReplicasOf(c.Query(), gone.Provider)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReplicasOf the lost provider: %v %v", got, err)
	}
	// The old provider may send one final report, for the usage it served
	// before it closed; then its reports are refused.
	if r := c.report(c.providerKey(gone.Provider), &functions.UsageReport{Deployment: id, Sequence: 1, Epoch: c.epoch(), Calls: 1, PeakConcurrency: 1}); r.Code != ledger.CodeOK {
		t.Fatalf("final report: %s", r.Log)
	}
	c.fails(c.providerKey(gone.Provider), &functions.UsageReport{Deployment: id, Sequence: 2, Epoch: c.epoch(), Calls: 1, PeakConcurrency: 1},
		ledger.CodeUnauthorized, "holds no replica")
	// With no other provider left (the first one retires), a lost replica
	// is reported blocked.
	c.ackAll()
	c.OK(c.providerKey(gone.Provider), &market.RetireProvider{})
	d = c.dep(id)
	c.OK(c.providerKey(d.Replicas[1].Provider), &market.CloseLease{ID: d.Replicas[1].Lease})
	c.BlockAfter(10 * time.Second)
	if b := find(c.EndEvents, "function.scale_blocked"); len(b) != 1 || !strings.Contains(b[0].Get("blocked"), "no other active compute provider") {
		t.Fatalf("end events %v", c.EndEvents)
	}
}

// TestCron emits one run per schedule at each due time, round robin over
// the active replicas, and lists runs with DueCron.
func TestCron(t *testing.T) {
	c := newChain(t, testParams(), 3)
	s := spec()
	s.Scaling.Min = 2
	s.Cron = []functions.CronJob{{Schedule: "*/5 * * * *", Path: "/tick"}, {Schedule: "@hourly", Path: "/hourly", Body: "{}"}}
	id := c.deploy("tick", s, 20*str)
	runs, err := functions.DueCron(c.Query(), id, t0.UnixMilli(), t0.Add(time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	// In [0:00, 1:00): twelve five-minute runs from 0:00 and the hourly
	// one at 0:00.
	if len(runs) != 13 {
		t.Fatalf("%d runs: %+v", len(runs), runs)
	}
	var got []ledger.Event
	for c.Now.Before(t0.Add(61 * time.Minute)) {
		c.BlockAfter(30 * time.Second)
		got = append(got, find(c.EndEvents, "function.cron")...)
	}
	// Deployed at about 0:00:02: five-minute runs at 0:05 ... 1:00 (12),
	// and the hourly at 1:00.
	if len(got) != 13 {
		t.Fatalf("%d cron events", len(got))
	}
	provs := map[string]int{}
	for _, e := range got {
		provs[e.Get("provider")]++
	}
	if len(provs) != 2 || provs[""] != 0 {
		t.Fatalf("runs by provider %v: want round robin over the two replicas", provs)
	}

	// Each provider is handed exactly the runs given to its replica.
	handed := func() map[uint64]functions.CronAssigned {
		t.Helper()
		out := map[uint64]functions.CronAssigned{}
		for _, r := range c.dep(id).Replicas {
			as, err := functions.ReplicasOf(c.Query(), r.Provider)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				for _, run := range a.Cron {
					if run.Lease != a.Lease || run.Provider != r.Provider {
						t.Fatalf("provider %s handed run %+v of another replica", r.Provider, run)
					}
					out[run.Run] = run
				}
			}
		}
		return out
	}
	runs13 := handed()
	if len(runs13) != 13 {
		t.Fatalf("%d runs handed to the providers, want 13: %+v", len(runs13), runs13)
	}
	for _, e := range got {
		run := runs13[ledgertest.AttrU64(t, e, "run")]
		if run.Provider.String() != e.Get("provider") || strconv.Itoa(run.Index) != e.Get("index") || strconv.FormatInt(run.DueMs, 10) != e.Get("due_ms") {
			t.Fatalf("run %+v does not match its event %v", run, e)
		}
	}
	// Only the 16 latest runs are kept.
	for c.Now.Before(t0.Add(121 * time.Minute)) {
		c.BlockAfter(30 * time.Second)
	}
	if d := c.dep(id); d.CronRuns != 26 || len(d.CronRecent) != 16 || d.CronRecent[0].Run != 10 || d.CronRecent[15].Run != 25 {
		t.Fatalf("%d runs, recent %+v: want runs 10..25 of 26", d.CronRuns, d.CronRecent)
	}
	// An update drops the runs not served: their index would name another job.
	s.Cron = s.Cron[1:]
	c.OK(c.users[0], &functions.Update{ID: id, Spec: s})
	if d := c.dep(id); len(d.CronRecent) != 0 || len(handed()) != 0 {
		t.Fatalf("after an update: recent %+v", d.CronRecent)
	}
}
