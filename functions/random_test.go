package functions_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// TestRandom drives the chain with a random mix of deploys, updates,
// top-ups, removals, usage reports (fresh, replayed and from strangers),
// acknowledgements and leases closed by providers, over random block
// times. The harness checks conservation and every deployment's books
// after each block; here the spend limit is checked against the sum of
// the charged events too.
func TestRandom(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			fp := testParams()
			fp.PricePerCall = 1 + r.Uint64N(300_000_000)
			fp.PricePerMiBMs = r.Uint64N(40)
			fp.ReplicaDeposit = 1 + r.Uint64N(2*str)
			c := newChain(t, fp, 5)
			seqs := map[string]uint64{}
			stats := map[string]int{}
			charged := map[string]uint64{}
			for range 300 {
				var txs [][]byte
				var kinds []string
				deps := c.deployments()
				for range r.IntN(5) {
					k, m, kind := randomMsg(r, c, deps, seqs)
					if m == nil {
						continue
					}
					txs = append(txs, c.Tx(k, m))
					kinds = append(kinds, kind)
				}
				dt := time.Duration(1+r.IntN(20)) * time.Second
				if r.IntN(20) == 0 {
					dt = time.Duration(r.IntN(3600)) * time.Second
				}
				res := c.BlockAfter(dt, txs...)
				for i, x := range res {
					stats[fmt.Sprintf("%s/%d", kinds[i], x.Code)]++
					if x.Code == ledger.CodeInternal {
						t.Errorf("%s: internal error: %s", kinds[i], x.Log)
					}
					if kinds[i] == "owner-close" && x.Code == ledger.CodeOK {
						t.Errorf("the owner closed a replica's lease directly")
					}
					for _, e := range find(x.Events, "function.charged") {
						charged[e.Get("deployment")] += ledgertest.AttrU64(t, e, "amount")
					}
				}
			}
			for _, d := range c.deployments() {
				if got := charged[ledger.FormatInt(d.ID)]; got != d.Charged {
					t.Fatalf("deployment %d: charged events add to %d, the record says %d", d.ID, got, d.Charged)
				}
			}
			t.Logf("outcomes: %v", stats)
		})
	}
}

func randomMsg(r *rand.Rand, c *chain, deps []functions.Deployment, seqs map[string]uint64) (*identity.Key, ledger.Msg, string) {
	owner := c.users[r.IntN(len(c.users))]
	s := spec()
	s.Scaling.Min = 1 + uint32(r.IntN(2))
	s.Scaling.Max = s.Scaling.Min + uint32(r.IntN(3))
	s.Scaling.TargetConcurrency = 1 + uint32(r.IntN(10))
	s.Scaling.CooldownSeconds = int64(r.IntN(120))
	s.SpendLimit = 1 + r.Uint64N(5000)
	if r.IntN(3) == 0 {
		s.Split = []market.Payee{{To: "provider", Bps: 7000}, {To: c.creator.Address().String(), Bps: 2000}, {To: "treasury", Bps: 1000}}
	}
	if r.IntN(4) == 0 {
		s.Cron = []functions.CronJob{{Schedule: "*/2 * * * *", Path: "/tick"}}
	}
	var live []functions.Deployment
	for _, d := range deps {
		if d.State != functions.StateRemoved {
			live = append(live, d)
		}
	}
	n := r.IntN(100)
	if len(live) == 0 || n < 10 {
		return owner, &functions.Deploy{Name: fmt.Sprintf("f%d", r.IntN(6)), Spec: s, Deposit: r.Uint64N(8 * c.fp.ReplicaDeposit)}, "deploy"
	}
	d := live[r.IntN(len(live))]
	ownerKey := c.users[0]
	if c.users[1].Address() == d.Owner {
		ownerKey = c.users[1]
	}
	switch {
	case n < 15:
		if r.IntN(4) == 0 {
			ownerKey = c.stranger
		}
		return ownerKey, &functions.Update{ID: d.ID, Spec: s}, "update"
	case n < 22:
		return c.stranger, &functions.Topup{ID: d.ID, Amount: 1 + r.Uint64N(3*c.fp.ReplicaDeposit)}, "topup"
	case n < 25:
		return ownerKey, &functions.Remove{ID: d.ID}, "remove"
	case n < 28:
		mn := 1 + uint32(r.IntN(3))
		return ownerKey, &functions.Scale{ID: d.ID, Min: mn, Max: mn + uint32(r.IntN(2))}, "scale"
	case n < 30 && len(d.Replicas) > 0:
		// The owner tries to close a replica's lease behind the
		// deployment's back: always refused.
		return ownerKey, &market.CloseLease{ID: d.Replicas[r.IntN(len(d.Replicas))].Lease}, "owner-close"
	case n < 35:
		// A provider acknowledges or closes a lease.
		for _, p := range c.providers {
			ids, _ := market.PendingFor(c.Query(), p.Address())
			if len(ids) > 0 {
				return p, &market.AckLease{ID: ids[0]}, "ack"
			}
		}
		if len(d.Replicas) > 0 && r.IntN(3) == 0 {
			rep := d.Replicas[r.IntN(len(d.Replicas))]
			return c.providerKey(rep.Provider), &market.CloseLease{ID: rep.Lease}, "provider-close"
		}
		return nil, nil, ""
	default:
		var prov *identity.Key
		if len(d.Replicas) > 0 {
			prov = c.providerKey(d.Replicas[r.IntN(len(d.Replicas))].Provider)
		} else {
			prov = c.providers[r.IntN(len(c.providers))]
		}
		k := fmt.Sprintf("%d/%s", d.ID, prov.Address())
		seq := seqs[k] + 1
		if r.IntN(5) == 0 && seq > 1 {
			seq-- // a replay
		} else {
			seqs[k] = seq
		}
		peak := uint32(r.IntN(40))
		return prov, &functions.UsageReport{Deployment: d.ID, Sequence: seq, Epoch: c.epoch(), Calls: 1 + r.Uint64N(5000),
			MiBMs: r.Uint64N(10_000_000), PeakConcurrency: peak, AvgConcurrency: uint32(r.IntN(int(peak) + 1))}, "report"
	}
}
