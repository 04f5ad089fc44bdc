package market_test

import (
	"crypto/ed25519"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
)

// badInputChain is a chain with something of everything to aim bad input
// at: provider0 offers compute, provider1 an enormous (the most one offer
// may hold) and dear storage offer, provider2 is retiring with an open lease; lease 1 is active, lease
// 2 closed, lease 3 (on provider2) active; provider3 offers cheap storage;
// op0 has reported epoch e for
// provider0 with 10 probes.
func badInputChain(t *testing.T) (*smChain, int64) {
	c := newSMChain(t, smOpts{genesis: []market.GenesisProvider{
		smProvider(market.ClassCompute, 100, 1_000_000_000),
		smProvider(market.ClassStorage, market.MaxCapacity, math.MaxUint64),
		smProvider(market.ClassCompute, 100, 2_000_000_000),
		smProvider(market.ClassStorage, 10*smGiB, 1000),
	}})
	cons := c.consumers[0]
	p2 := c.providers[2].Address()
	c.OKAfter(time.Second,
		c.Tx(cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 2, Deposit: 100 * smSTR}),
		c.Tx(cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR}),
		c.Tx(cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1, Deposit: smSTR, Provider: &p2}))
	c.OKAfter(time.Second,
		c.Tx(c.providers[0], &market.AckLease{ID: 1}),
		c.Tx(c.providers[2], &market.AckLease{ID: 3}),
		c.Tx(cons, &market.CloseLease{ID: 2}))
	c.OKAfter(time.Second, c.Tx(c.providers[2], &market.RetireProvider{}))
	e := c.epoch()
	c.OKAfter(time.Second, c.Tx(c.Ops[0], &market.ProbeReport{Epoch: e, Results: []market.ProbeRow{{Provider: c.providers[0].Address(), OK: 9, Total: 10}}}))
	if c.lease(1).State != market.LeaseActive || c.lease(2).State != market.LeaseClosed || c.lease(3).State != market.LeaseActive {
		t.Fatalf("setup: leases %v", c.leases())
	}
	return c, e
}

// TestSMBadInputChangesNothing: every bad message fails with its code and
// changes nothing but what the ledger's rules say a failure costs. A
// message that fails its own validation fails the ante checks: no fee, no
// nonce, nothing. One that the handler refuses has passed them: the fee is
// paid and the nonce used (ledger/machine.go Deliver, ante), and nothing
// else changes. The check runs each bad transaction in a block on a fork of
// the chain and compares with an empty block at the same height and time.
func TestSMBadInputChangesNothing(t *testing.T) {
	base, e := badInputChain(t)
	p0, p1, p2 := base.providers[0], base.providers[1], base.providers[2]
	cons, op0, str := base.consumers[0], base.Ops[0], base.stranger
	p0a, p1a, p3a := p0.Address(), p1.Address(), base.providers[3].Address()
	creator := base.creator.Address().String()
	compute := func(m market.OpenLease) *market.OpenLease {
		if m.Class == "" {
			m.Class = market.ClassCompute
		}
		if m.Quantity == 0 {
			m.Quantity = 1
		}
		if m.Deposit == 0 {
			m.Deposit = smSTR
		}
		return &m
	}
	split := func(ps ...market.Payee) []market.Payee { return ps }
	reg := func(f func(*market.RegisterProvider)) *market.RegisterProvider {
		r := &market.RegisterProvider{Endpoint: "https://x.example", Region: "eu", Collateral: 100 * smSTR,
			Offers: []market.Offer{{Class: market.ClassCompute, Capacity: 1, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}
		f(r)
		return r
	}
	probe := func(ep int64, rows ...market.ProbeRow) *market.ProbeReport {
		return &market.ProbeReport{Epoch: ep, Results: rows}
	}
	row := func(a identity.Address, ok, total uint32) market.ProbeRow {
		return market.ProbeRow{Provider: a, OK: ok, Total: total}
	}
	canonical, err := json.Marshal(compute(market.OpenLease{}))
	if err != nil {
		t.Fatal(err)
	}
	// Validation failures: ante refuses, nothing at all changes.
	type bad struct {
		name string
		key  *identity.Key
		msg  ledger.Msg
		code uint32
	}
	// What some refusals must say.
	logHas := map[string]string{
		"quantity x price overflows":               "overflows",
		"quantity x price overflows, pinned":       "overflows",
		"quantity x max price overflows, floating": "overflows",
		"rate rounds to zero":                      "rounds to zero",
	}
	invalid := []bad{
		{"split sums to 9999", cons, compute(market.OpenLease{Split: split(market.Payee{To: "provider", Bps: 9000}, market.Payee{To: creator, Bps: 999})}), ledger.CodeInvalid},
		{"split sums to 10001", cons, compute(market.OpenLease{Split: split(market.Payee{To: "provider", Bps: 9000}, market.Payee{To: creator, Bps: 1001})}), ledger.CodeInvalid},
		{"split overflows", cons, compute(market.OpenLease{Split: split(market.Payee{To: "provider", Bps: math.MaxUint64}, market.Payee{To: creator, Bps: 10_001})}), ledger.CodeInvalid},
		{"duplicate payee", cons, compute(market.OpenLease{Split: split(market.Payee{To: creator, Bps: 5000}, market.Payee{To: creator, Bps: 5000})}), ledger.CodeInvalid},
		{"payee not a did", cons, compute(market.OpenLease{Split: split(market.Payee{To: "alice", Bps: 10_000})}), ledger.CodeInvalid},
		{"payee with a zero share", cons, compute(market.OpenLease{Split: split(market.Payee{To: "provider", Bps: 10_000}, market.Payee{To: creator})}), ledger.CodeInvalid},
		{"payee already paid", cons, compute(market.OpenLease{Split: split(market.Payee{To: "provider", Bps: 10_000, Paid: 5})}), ledger.CodeInvalid},
		{"nine payees", cons, compute(market.OpenLease{Split: func() []market.Payee {
			var ps []market.Payee
			for i := range 9 {
				ps = append(ps, market.Payee{To: smKey(string(rune('a' + i))).Address().String(), Bps: 1})
			}
			ps[0].Bps = 10_000 - 8
			return ps
		}()}), ledger.CodeInvalid},
		{"zero quantity", cons, &market.OpenLease{Class: market.ClassCompute, Deposit: 1}, ledger.CodeInvalid},
		{"quantity beyond the largest offer", cons, &market.OpenLease{Class: market.ClassStorage, Quantity: market.MaxCapacity + 1, Deposit: 1}, ledger.CodeInvalid},
		{"quantity of 2^64-1", cons, &market.OpenLease{Class: market.ClassStorage, Quantity: math.MaxUint64, Deposit: 1, Provider: &p1a}, ledger.CodeInvalid},
		{"floating without a max price", cons, compute(market.OpenLease{Float: true}), ledger.CodeInvalid},
		{"zero deposit", cons, &market.OpenLease{Class: market.ClassCompute, Quantity: 1}, ledger.CodeInvalid},
		{"unknown class", cons, compute(market.OpenLease{Class: "gpu"}), ledger.CodeInvalid},
		{"SLA over 100%", cons, compute(market.OpenLease{SLA: market.SLA{TargetBps: 10_001, WindowSeconds: 60}}), ledger.CodeInvalid},
		{"SLA without a window", cons, compute(market.OpenLease{SLA: market.SLA{TargetBps: 9000}}), ledger.CodeInvalid},
		{"SLA window negative", cons, compute(market.OpenLease{SLA: market.SLA{TargetBps: 9000, WindowSeconds: -60}}), ledger.CodeInvalid},
		{"SLA window over 30 days", cons, compute(market.OpenLease{SLA: market.SLA{TargetBps: 9000, WindowSeconds: 31 * 86400}}), ledger.CodeInvalid},
		{"ack of lease 0", p0, &market.AckLease{}, ledger.CodeInvalid},
		{"close of lease 0", cons, &market.CloseLease{}, ledger.CodeInvalid},
		{"top-up of zero", cons, &market.TopupLease{ID: 1}, ledger.CodeInvalid},
		{"register: ftp endpoint", str, reg(func(r *market.RegisterProvider) { r.Endpoint = "ftp://x.example" }), ledger.CodeInvalid},
		{"register: endpoint without host", str, reg(func(r *market.RegisterProvider) { r.Endpoint = "https://" }), ledger.CodeInvalid},
		{"register: endpoint too long", str, reg(func(r *market.RegisterProvider) { r.Endpoint = "https://x.example/" + strings.Repeat("a", 300) }), ledger.CodeInvalid},
		{"register: no region", str, reg(func(r *market.RegisterProvider) { r.Region = " " }), ledger.CodeInvalid},
		{"register: no offers", str, reg(func(r *market.RegisterProvider) { r.Offers = nil }), ledger.CodeInvalid},
		{"register: class twice", str, reg(func(r *market.RegisterProvider) { r.Offers = append(r.Offers, r.Offers[0]) }), ledger.CodeInvalid},
		{"register: zero capacity", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Capacity = 0 }), ledger.CodeInvalid},
		{"register: capacity beyond the bound", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Capacity = market.MaxCapacity + 1 }), ledger.CodeInvalid},
		{"register: capacity of 2^64-1", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Capacity = math.MaxUint64 }), ledger.CodeInvalid},
		{"register: sets used", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Used = 1 }), ledger.CodeInvalid},
		{"register: unknown rule", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Pricing = market.Rule{Kind: "auction", Price: 1} }), ledger.CodeInvalid},
		{"register: free", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Pricing = market.Rule{Kind: "fixed"} }), ledger.CodeInvalid},
		{"register: zero multiplier", str, reg(func(r *market.RegisterProvider) { r.Offers[0].Pricing = market.Rule{Kind: "reference"} }), ledger.CodeInvalid},
		{"register: steep curve", str, reg(func(r *market.RegisterProvider) {
			r.Offers[0].Pricing = market.Rule{Kind: "utilization", Price: 1, SlopeBps: 1_000_001}
		}), ledger.CodeInvalid},
		{"update: bad endpoint", p0, &market.UpdateProvider{Endpoint: "mailto:x"}, ledger.CodeInvalid},
		{"update: zero capacity", p0, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassCompute, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}, ledger.CodeInvalid},
		{"update: capacity beyond the bound", p0, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassCompute, Capacity: market.MaxCapacity + 1, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}, ledger.CodeInvalid},
		{"probe: more ok than total", op0, probe(e, row(p0a, 11, 10)), ledger.CodeInvalid},
		{"probe: zero total", op0, probe(e, row(p0a, 0, 0)), ledger.CodeInvalid},
		{"probe: provider twice", op0, probe(e, row(p0a, 1, 20), row(p0a, 1, 20)), ledger.CodeInvalid},
		{"probe: no rows", op0, probe(e), ledger.CodeInvalid},
		{"probe: negative epoch", op0, probe(-1, row(p0a, 1, 20)), ledger.CodeInvalid},
	}
	// Handler refusals: the fee and nonce are spent, nothing else moves.
	// (Only provider1 has room for so much storage, at 2^64-1 nano-ustr per
	// GiB-second: the rate overflows for anything over 1 GiB.)
	refused := []bad{
		{"quantity x price overflows", cons, &market.OpenLease{Class: market.ClassStorage, Quantity: market.MaxCapacity, Deposit: 1}, ledger.CodeInvalid},
		{"quantity x price overflows, pinned", cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 2 * smGiB, Deposit: 1, Provider: &p1a}, ledger.CodeInvalid},
		{"quantity x max price overflows, floating", cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 20 * smGiB, Deposit: 1, MaxPrice: math.MaxUint64, Float: true}, ledger.CodeInvalid},
		{"rate rounds to zero", cons, &market.OpenLease{Class: market.ClassStorage, Quantity: 1, Deposit: 1, Provider: &p3a}, ledger.CodeInvalid},
		{"deposit beyond the balance", cons, compute(market.OpenLease{Deposit: math.MaxUint64}), ledger.CodeInsufficient},
		{"provider named twice in the split", cons, compute(market.OpenLease{Split: split(market.Payee{To: "provider", Bps: 5000}, market.Payee{To: p0a.String(), Bps: 5000})}), ledger.CodeInvalid},
		{"SLA window not whole epochs", cons, compute(market.OpenLease{SLA: market.SLA{TargetBps: 9000, WindowSeconds: 90}}), ledger.CodeInvalid},
		{"more than any provider has", cons, compute(market.OpenLease{Quantity: 101}), ledger.CodeNotFound},
		{"unbond with open leases", p2, &market.Unbond{}, ledger.CodeConflict},
		{"unbond while active", p0, &market.Unbond{}, ledger.CodeConflict},
		{"unbond by a stranger", str, &market.Unbond{}, ledger.CodeNotFound},
		{"retire twice", p2, &market.RetireProvider{}, ledger.CodeConflict},
		{"retire by a stranger", str, &market.RetireProvider{}, ledger.CodeNotFound},
		{"register below the minimum collateral", str, reg(func(r *market.RegisterProvider) { r.Collateral = base.mp.MinCollateral - 1 }), ledger.CodeInvalid},
		{"register beyond the balance", str, reg(func(r *market.RegisterProvider) { r.Collateral = math.MaxUint64 }), ledger.CodeInsufficient},
		{"register twice", p0, reg(func(*market.RegisterProvider) {}), ledger.CodeConflict},
		{"update: capacity below use", p0, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassCompute, Capacity: 1, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}, ledger.CodeConflict},
		{"update: withdraw a class in use", p0, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassStorage, Capacity: 1, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}, ledger.CodeConflict},
		{"update: retiring", p2, &market.UpdateProvider{Offers: []market.Offer{{Class: market.ClassCompute, Capacity: 100, Pricing: market.Rule{Kind: "fixed", Price: 1}}}}, ledger.CodeConflict},
		{"update: collateral beyond the balance", p0, &market.UpdateProvider{AddCollateral: math.MaxUint64}, ledger.CodeInsufficient},
		{"update by a stranger", str, &market.UpdateProvider{Region: "x"}, ledger.CodeNotFound},
		{"probe by a non-validator", cons, probe(e, row(p0a, 1, 20)), ledger.CodeUnauthorized},
		{"probe by a provider", p0, probe(e, row(p0a, 1, 20)), ledger.CodeUnauthorized},
		{"probe duplicated", op0, probe(e, row(p0a, 9, 10)), ledger.CodeConflict},
		{"probe with fewer probes", op0, probe(e, row(p0a, 5, 5)), ledger.CodeConflict},
		{"probe duplicated in a later row", op0, probe(e, row(p1a, 1, 1), row(p0a, 10, 10)), ledger.CodeConflict},
		{"probe for a stale epoch", op0, probe(e-2, row(p0a, 1, 20)), ledger.CodeInvalid},
		{"probe for a future epoch", op0, probe(e+2, row(p0a, 1, 20)), ledger.CodeInvalid},
		{"probe for a non-provider", op0, probe(e, row(str.Address(), 1, 20)), ledger.CodeNotFound},
		{"ack by a stranger", str, &market.AckLease{ID: 1}, ledger.CodeUnauthorized},
		{"ack by the consumer", cons, &market.AckLease{ID: 1}, ledger.CodeUnauthorized},
		{"ack of an active lease", p0, &market.AckLease{ID: 1}, ledger.CodeConflict},
		{"ack of a closed lease", p0, &market.AckLease{ID: 2}, ledger.CodeConflict},
		{"ack of no lease", p0, &market.AckLease{ID: 99}, ledger.CodeNotFound},
		{"close by a stranger", str, &market.CloseLease{ID: 1}, ledger.CodeUnauthorized},
		{"close by another provider", p2, &market.CloseLease{ID: 1}, ledger.CodeUnauthorized},
		{"close of a closed lease", cons, &market.CloseLease{ID: 2}, ledger.CodeConflict},
		{"close of no lease", cons, &market.CloseLease{ID: 99}, ledger.CodeNotFound},
		{"top-up of a closed lease", cons, &market.TopupLease{ID: 2, Amount: 5}, ledger.CodeConflict},
		{"top-up of no lease", cons, &market.TopupLease{ID: 99, Amount: 5}, ledger.CodeNotFound},
		{"top-up beyond the balance", cons, &market.TopupLease{ID: 1, Amount: math.MaxUint64}, ledger.CodeInsufficient},
	}
	// Bytes that no encoder writes: decoding fails, before the ante checks.
	undecodable := []struct {
		name string
		typ  string
		b    string
	}{
		{"spaces", "market/open_lease", strings.Replace(string(canonical), ":", ": ", -1)},
		{"trailing newline", "market/open_lease", string(canonical) + "\n"},
		{"fields reordered", "market/open_lease", `{"quantity":"1","class":"compute","deposit":"1000000","sla":{"target_bps":0,"window_seconds":0}}`},
		{"unknown field", "market/open_lease", strings.TrimSuffix(string(canonical), "}") + `,"extra":1}`},
		{"negative deposit", "market/open_lease", strings.Replace(string(canonical), `"deposit":"1000000"`, `"deposit":"-1000000"`, 1)},
		{"deposit past 2^64", "market/open_lease", strings.Replace(string(canonical), `"deposit":"1000000"`, `"deposit":"18446744073709551616"`, 1)},
		{"deposit as a number", "market/open_lease", strings.Replace(string(canonical), `"deposit":"1000000"`, `"deposit":1000000`, 1)},
		{"escaped letter", "market/open_lease", strings.Replace(string(canonical), `"compute"`, `"comp\u0075te"`, 1)},
		{"two objects", "market/open_lease", string(canonical) + string(canonical)},
		{"not JSON", "market/open_lease", "\x00\x01"},
		{"empty", "market/topup_lease", ""},
		{"negative top-up", "market/topup_lease", `{"id":"1","amount":"-5"}`},
		{"top-up amount overflows", "market/topup_lease", `{"id":"1","amount":"99999999999999999999"}`},
		{"negative lease id", "market/close_lease", `{"id":"-1"}`},
	}
	if !strings.Contains(string(canonical), `"deposit":"1000000"`) {
		t.Fatalf("canonical encoding changed: %s", canonical)
	}

	// run delivers raw in a block on a fork and an empty block on another,
	// and returns the result and the two states.
	run := func(t *testing.T, mk func(c *smChain) []byte) (ledger.TxResult, *smChain, *smChain) {
		t.Helper()
		with, without := base.fork(), base.fork()
		with.T, without.T = t, t
		raw := mk(with)
		res := with.BlockAfter(time.Second, raw)
		without.BlockAfter(time.Second)
		if res[0].Code != ledger.CodeOK && len(res[0].Events) != 0 {
			t.Errorf("failed transaction has events %v", res[0].Events)
		}
		return res[0], with, without
	}
	diff := func(a, b map[string]string) map[string]bool {
		out := map[string]bool{}
		for k, v := range a {
			if b[k] != v {
				out[k] = true
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				out[k] = true
			}
		}
		return out
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			if tc.msg.Validate() == nil {
				t.Fatalf("Validate accepts it")
			}
			res, with, without := run(t, func(c *smChain) []byte { return c.Tx(tc.key, tc.msg) })
			if res.Code != tc.code {
				t.Fatalf("code %d (%s), want %d", res.Code, res.Log, tc.code)
			}
			if d := diff(with.nonAudit(), without.nonAudit()); len(d) != 0 {
				t.Errorf("a message refused by the ante checks changed %v", keysOf(d))
			}
		})
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			if err := tc.msg.Validate(); err != nil {
				t.Fatalf("Validate refuses it: %v", err)
			}
			res, with, without := run(t, func(c *smChain) []byte { return c.Tx(tc.key, tc.msg) })
			if res.Code != tc.code || !strings.Contains(res.Log, logHas[tc.name]) {
				t.Fatalf("code %d (%s), want %d (%q)", res.Code, res.Log, tc.code, logHas[tc.name])
			}
			a := tc.key.Address()
			d := diff(with.nonAudit(), without.nonAudit())
			for _, k := range []string{ledger.AccountPrefix + string(a[:]), ledgertest.BucketPrefix + ledger.BucketFees, ledgertest.BucketPrefix + ledger.BucketBalances} {
				if !d[k] {
					t.Errorf("%q did not change: the fee was not paid", k)
				}
				delete(d, k)
			}
			if len(d) != 0 {
				t.Errorf("a refused message changed %v", keysOf(d))
			}
			fee := res.Fee
			if got, want := with.Account(a), without.Account(a); got.Balance != want.Balance-fee || got.Nonce != want.Nonce+1 {
				t.Errorf("signer %+v, want %+v less the fee, one more nonce", got, want)
			}
			if with.Bucket(ledger.BucketFees) != without.Bucket(ledger.BucketFees)+fee {
				t.Errorf("fees bucket did not take the fee")
			}
		})
	}
	for _, tc := range undecodable {
		t.Run("undecodable/"+tc.name, func(t *testing.T) {
			res, with, without := run(t, func(c *smChain) []byte { return c.RawTx(cons, tc.typ, []byte(tc.b)) })
			if res.Code != ledger.CodeInvalid || res.Tx != nil {
				t.Fatalf("code %d (%s), decoded %v; want invalid, undecoded", res.Code, res.Log, res.Tx != nil)
			}
			if d := diff(with.nonAudit(), without.nonAudit()); len(d) != 0 {
				t.Errorf("an undecodable transaction changed %v", keysOf(d))
			}
		})
	}
	// The canonical bytes, sent the same way, do decode and open a lease:
	// the hand-built envelope is not what failed above.
	t.Run("canonical by hand", func(t *testing.T) {
		res, _, _ := run(t, func(c *smChain) []byte { return c.RawTx(cons, "market/open_lease", canonical) })
		if res.Code != ledger.CodeOK {
			t.Fatalf("code %d (%s)", res.Code, res.Log)
		}
	})
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, strings.ToValidUTF8(k, "?"))
	}
	return out
}

// TestSMMessageDecoding: each message type decodes exactly what its
// encoder writes and nothing else.
func TestSMMessageDecoding(t *testing.T) {
	a := smKey("provider0").Address()
	msgs := []ledger.Msg{
		&market.RegisterProvider{Endpoint: "https://a.example", Region: "eu", Collateral: 5,
			Offers: []market.Offer{{Class: market.ClassStorage, Capacity: 7, Pricing: market.Rule{Kind: "utilization", Price: 3, SlopeBps: 9}}}},
		&market.UpdateProvider{AddCollateral: 1},
		&market.RetireProvider{},
		&market.Unbond{},
		&market.OpenLease{Class: market.ClassStorage, Quantity: 1 << 40, MaxPrice: 9, Deposit: 3, Provider: &a,
			SLA: market.SLA{TargetBps: 9900, WindowSeconds: 60}, Split: []market.Payee{{To: "provider", Bps: 10_000}}, Float: true},
		&market.AckLease{ID: 1},
		&market.TopupLease{ID: math.MaxUint64, Amount: math.MaxUint64},
		&market.CloseLease{ID: 3},
		&market.ProbeReport{Epoch: 7, Results: []market.ProbeRow{{Provider: a, OK: 1, Total: 2}}},
	}
	fresh := map[string]func() ledger.Msg{}
	for _, spec := range (market.Module{}).Msgs() {
		fresh[spec.New().Type()] = spec.New
	}
	for _, m := range msgs {
		t.Run(m.Type(), func(t *testing.T) {
			w := codec.NewWriter(64)
			m.Encode(w)
			b := w.Bytes()
			got := fresh[m.Type()]()
			if err := got.Decode(codec.NewReader(b)); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			w2 := codec.NewWriter(64)
			got.Encode(w2)
			if string(w2.Bytes()) != string(b) {
				t.Fatalf("round trip: %s became %s", b, w2.Bytes())
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			pretty, _ := json.MarshalIndent(v, "", " ")
			for _, alt := range []string{strings.Replace(string(pretty), "{}", "{ }", 1), " " + string(b), string(b) + " ", strings.TrimSuffix(string(b), "}") + `,"x":0}`} {
				if err := fresh[m.Type()]().Decode(codec.NewReader([]byte(alt))); err == nil {
					t.Errorf("decoded the non-canonical %q", alt)
				}
			}
		})
	}
}

// TestSMParamsValidate: the market's parameters are checked at genesis. A
// refund of more than 100% per point, or a reference price floor of zero
// (a price that fell to zero could never rise again), is refused, and so
// is a chain started with them.
func TestSMParamsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*market.Params)
		ok   bool
	}{
		{"defaults", func(*market.Params) {}, true},
		{"refund 100% per point", func(p *market.Params) { p.RefundBpsPerPoint = 10_000 }, true},
		{"refund over 100% per point", func(p *market.Params) { p.RefundBpsPerPoint = 10_001 }, false},
		{"no refund", func(p *market.Params) { p.RefundBpsPerPoint = 0 }, true},
		{"floor of 1", func(p *market.Params) { p.MinReferencePrice = 1 }, true},
		{"floor of 0", func(p *market.Params) { p.MinReferencePrice = 0 }, false},
		{"no breaches allowed", func(p *market.Params) { p.MaxConsecutiveBreaches = 0 }, false},
		{"step over 100%", func(p *market.Params) { p.MaxPriceStepBps = 10_001 }, false},
		{"target 0", func(p *market.Params) { p.TargetUtilizationBps = 0 }, false},
		{"epoch over a day", func(p *market.Params) { p.EpochSeconds = 86_401 }, false},
		{"no ack timeout", func(p *market.Params) { p.AckTimeoutSeconds = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := market.DefaultParams()
			tc.edit(&p)
			err := p.Validate()
			if tc.ok != (err == nil) || (err != nil && errs.KindOf(err) != errs.Invalid) {
				t.Fatalf("Validate: %v; want ok %v, or invalid", err, tc.ok)
			}
			op := smKey("op0")
			g := ledger.Genesis{Params: ledger.DefaultParams(),
				Accounts:   []ledger.GenesisAccount{{Address: op.Address(), Balance: smSTR}},
				Validators: []ledger.Validator{{Name: "val0", Operator: op.Address(), ConsPubKey: smKey("cons0").Priv.Public().(ed25519.PublicKey), Power: 1}}}
			app, err := g.MarshalAppState(map[string]any{"market": market.Genesis{Params: p, ReferencePrices: market.DefaultReferencePrices()}})
			if err != nil {
				t.Fatal(err)
			}
			m := ledger.New(ledger.DefaultRegistry(market.Module{}))
			_, err = m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: smChainID, Time: smT0}, app)
			if tc.ok != (err == nil) {
				t.Fatalf("InitChain: %v; want ok %v", err, tc.ok)
			}
		})
	}
}
