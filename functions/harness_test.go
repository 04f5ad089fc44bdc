package functions_test

// The harness for the functions module's state-machine tests: a chain over
// memory with the market and functions modules, driven block by block with
// block times the test chooses, checking after every block that value is
// conserved and every deployment's books add up.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

const chainID = "functions-sm"

const str = money.UstrPerSTR

const seed = "stratus-functions-sm"

var t0 = ledgertest.T0

func testKey(name string) *identity.Key { return ledgertest.Key(seed, name) }

// chain is a ledgertest chain with the market and functions modules, whose
// check after every block also checks every deployment's books.
type chain struct {
	*ledgertest.Chain
	fp functions.Params

	users     []*identity.Key
	providers []*identity.Key // compute providers registered at genesis
	creator   *identity.Key   // a payee
	stranger  *identity.Key
}

// moduleWrites counts the last block's writes under functions/.
func (c *chain) moduleWrites() int {
	n := 0
	for _, w := range c.Changes.Writes {
		if strings.HasPrefix(string(w.Key), functions.Prefix) {
			n++
		}
	}
	return n
}

// testParams are the defaults with a 10 s evaluation.
func testParams() functions.Params { return functions.DefaultParams() }

func newChain(t testing.TB, fp functions.Params, nProviders int) *chain {
	t.Helper()
	c := &chain{fp: fp, creator: testKey("creator"), stranger: testKey("stranger")}
	funded := []string{"user0", "user1"}
	for _, n := range funded {
		c.users = append(c.users, testKey(n))
	}
	mg := market.DefaultGenesis()
	for i := range nProviders {
		k := testKey(fmt.Sprintf("provider%d", i))
		c.providers = append(c.providers, k)
		funded = append(funded, k.Name)
		mg.Providers = append(mg.Providers, market.GenesisProvider{Operator: k.Address(), RegisterProvider: market.RegisterProvider{
			Endpoint: "https://provider.example", Region: "eu",
			// 0.01 STR per cu-hour: 2,777,777 nano-ustr per cu-second.
			Offers:     []market.Offer{{Class: market.ClassCompute, Capacity: 16, Pricing: market.Rule{Kind: "fixed", Price: 2_777_777}}},
			Collateral: 1000 * str,
		}})
	}
	c.Chain = ledgertest.New(t, ledgertest.Options{
		ChainID: chainID, Registry: ledger.DefaultRegistry(market.Module{}, functions.Module{}), Seed: seed,
		Funded: append(funded, "creator", "stranger"), FundOperators: true,
		Genesis:       map[string]any{"market": mg, "functions": functions.Genesis{Params: fp}},
		GenesisEvents: len(mg.Providers), HashTag: "functions-block", Gas: ledgertest.LateGas,
	})
	c.Watch = moduleState
	c.AddCheck(c.check)
	return c
}

// fails runs msg, wants code and a log containing want, and checks that
// neither the functions nor the market state changed.
func (c *chain) fails(k *identity.Key, msg ledger.Msg, code uint32, want string) {
	c.T.Helper()
	c.Fails(c.Tx(k, msg), code, want)
}

// moduleState renders the functions module's state and the market's
// leases; block-time bookkeeping that EndBlock does on its own (the
// evaluation queue) is left out. A failed transaction must leave it as it
// was.
func moduleState(c *ledgertest.Chain) string {
	var sb strings.Builder
	c.St.Iterate([]byte("functions/dep/"), func(k, v []byte) error {
		var d functions.Deployment
		json.Unmarshal(v, &d)
		d.DueMs, d.LowSinceMs = 0, 0
		b, _ := json.Marshal(d)
		fmt.Fprintf(&sb, "%q=%s\n", k, b)
		return nil
	})
	for _, p := range []string{"functions/seq/", "functions/byname/", "functions/byprov/", "functions/bylease/", "functions/spec/", "functions/cron/", "market/lease/"} {
		c.St.Iterate([]byte(p), func(k, v []byte) error { fmt.Fprintf(&sb, "%q=%q\n", k, v); return nil })
	}
	return sb.String()
}

// check runs after genesis and every block, after the chain's
// conservation check: every deployment's books, and the escrow buckets.
func (c *chain) check(t testing.TB, _ *ledgertest.Chain) {
	t.Helper()
	var escrow, pending uint64
	for _, d := range c.deployments() {
		escrow += d.Escrow
		pending += d.Pending
		if d.Deposited != d.Escrow+d.Charged+d.ReplicaFunding+d.Refunded {
			c.T.Fatalf("height %d: deployment %d: deposited %d != escrow %d + charged %d + replica funding %d + refunded %d",
				c.Height, d.ID, d.Deposited, d.Escrow, d.Charged, d.ReplicaFunding, d.Refunded)
		}
		paid := d.PaidBefore + d.Pending
		for _, p := range d.Payees {
			paid += p.Paid
		}
		if paid != d.Charged {
			c.T.Fatalf("height %d: deployment %d: payees were paid %d, charged %d", c.Height, d.ID, paid, d.Charged)
		}
		if d.Charged > d.Spec.SpendLimit && d.State != functions.StateRemoved {
			c.T.Fatalf("height %d: deployment %d charged %d over its spend limit %d", c.Height, d.ID, d.Charged, d.Spec.SpendLimit)
		}
		if d.Reserved > d.Escrow {
			c.T.Fatalf("height %d: deployment %d keeps back %d of an escrow of %d", c.Height, d.ID, d.Reserved, d.Escrow)
		}
		if d.State == functions.StateSuspended && (len(d.Replicas) != 0 || len(d.CronNextMs) != 0 || (d.DueMs != 0 && d.ReservedUntilMs == 0)) {
			c.T.Fatalf("height %d: suspended deployment %d still has replicas %v, cron %v or is due at %d", c.Height, d.ID, d.Replicas, d.CronNextMs, d.DueMs)
		}
		if d.Pending >= uint64(len(d.Payees)) && d.Pending > 0 {
			c.T.Fatalf("height %d: deployment %d has %d pending for %d payees", c.Height, d.ID, d.Pending, len(d.Payees))
		}
	}
	var leaseEscrow uint64
	c.St.Iterate([]byte("market/lease/"), func(_, v []byte) error {
		var l market.Lease
		json.Unmarshal(v, &l)
		leaseEscrow += l.Escrow
		return nil
	})
	if got := c.Bucket(market.BucketEscrow); got != leaseEscrow {
		c.T.Fatalf("height %d: market escrow bucket %d, leases hold %d", c.Height, got, leaseEscrow)
	}
	if got := c.Bucket(functions.BucketEscrow); got != escrow {
		c.T.Fatalf("height %d: functions escrow bucket %d, deployments hold %d", c.Height, got, escrow)
	}
	if got := c.Bucket(functions.BucketPayouts); got != pending {
		c.T.Fatalf("height %d: functions payouts bucket %d, deployments pend %d", c.Height, got, pending)
	}
}

func (c *chain) deployments() []functions.Deployment {
	var out []functions.Deployment
	c.St.Iterate([]byte("functions/dep/"), func(_, v []byte) error {
		var d functions.Deployment
		if err := json.Unmarshal(v, &d); err != nil {
			c.T.Fatal(err)
		}
		out = append(out, d)
		return nil
	})
	return out
}

func (c *chain) dep(id uint64) *functions.DeploymentView {
	c.T.Helper()
	v, err := functions.GetDeployment(c.Query(), id)
	if err != nil {
		c.T.Fatal(err)
	}
	return v
}

func (c *chain) lease(id uint64) market.Lease {
	c.T.Helper()
	l, err := market.GetLease(c.Query(), id)
	if err != nil {
		c.T.Fatal(err)
	}
	return l.Lease
}

func (c *chain) providerKey(a identity.Address) *identity.Key {
	for _, k := range c.providers {
		if k.Address() == a {
			return k
		}
	}
	c.T.Fatalf("no provider key for %s", a)
	return nil
}

// ackAll has every provider acknowledge its pending leases, in one block.
func (c *chain) ackAll() {
	c.T.Helper()
	var txs [][]byte
	for _, p := range c.providers {
		ids, err := market.PendingFor(c.Query(), p.Address())
		if err != nil {
			c.T.Fatal(err)
		}
		for _, id := range ids {
			txs = append(txs, c.Tx(p, &market.AckLease{ID: id}))
		}
	}
	for i, r := range c.BlockAfter(time.Second, txs...) {
		if r.Code != ledger.CodeOK {
			c.T.Fatalf("ack %d: %s", i, r.Log)
		}
	}
}

func find(evs []ledger.Event, typ string) []ledger.Event {
	var out []ledger.Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// moduleID is a valid object ID.
var moduleID = func() string {
	var id storage.ID
	copy(id[:], bytes.Repeat([]byte{7}, len(id)))
	return id.String()
}()

func spec() functions.Spec {
	return functions.Spec{
		Module: moduleID, SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000,
		Routes: []string{"/"},
		Env:    map[string]string{"GREETING": "hello", "LOG_LEVEL": "info"},
		// The spec's defaults, written out as the CLI does.
		MaxRequestBytes:  1 << 20,
		MaxResponseBytes: 16 << 20,
		Scaling:          functions.Scaling{Min: 1, Max: 3, TargetConcurrency: 8, CooldownSeconds: 60},
		SpendLimit:       100 * str,
	}
}

// deploy deploys s from the first user, acknowledges the replicas and
// returns the deployment's id.
func (c *chain) deploy(name string, s functions.Spec, deposit uint64) uint64 {
	c.T.Helper()
	r := c.OK(c.users[0], &functions.Deploy{Name: name, Spec: s, Deposit: deposit})
	ev := find(r.Events, "function.deployed")
	if len(ev) != 1 {
		c.T.Fatalf("deploy: events %v", r.Events)
	}
	c.ackAll()
	return ledgertest.AttrU64(c.T, ev[0], "deployment")
}

// report sends a usage report from provider k in its own block.
func (c *chain) report(k *identity.Key, m *functions.UsageReport) ledger.TxResult {
	c.T.Helper()
	return c.Do(k, m)
}

func (c *chain) epoch() int64 { return c.Now.UnixMilli() / (c.fp.EpochSeconds * 1000) }
