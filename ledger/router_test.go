package ledger_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// relayMsg dispatches, as its signer, a transfer of Amount to To, nested
// Depth messages deep; with Burn it burns that much gas inside the
// innermost one. The outer message succeeds whether the transfer did or
// not (it emits routertest.after saying which), unless Strict.
type relayMsg struct {
	To     identity.Address
	Amount uint64
	Depth  uint64
	Burn   uint64
	Strict bool
}

func (*relayMsg) Type() string { return "routertest/relay" }
func (m *relayMsg) Encode(w *codec.Writer) {
	w.Fixed(m.To[:])
	w.Uvarint(m.Amount)
	w.Uvarint(m.Depth)
	w.Uvarint(m.Burn)
	w.Bool(m.Strict)
}
func (m *relayMsg) Decode(r *codec.Reader) error {
	copy(m.To[:], r.Fixed(len(m.To)))
	m.Amount, m.Depth, m.Burn, m.Strict = r.Uvarint(), r.Uvarint(), r.Uvarint(), r.Bool()
	return r.Err()
}
func (m *relayMsg) Validate() error { return nil }

var relayAfter = ledger.DeclareEvent("routertest.after", "the relay's outcome", ledger.A("inner", "ok or the error"))

type routerModule struct{}

func (routerModule) Name() string { return "routertest" }
func (routerModule) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{{New: func() ledger.Msg { return &relayMsg{} }, Handler: relay}}
}
func (routerModule) InitGenesis(*ledger.Context, json.RawMessage) error { return nil }
func (routerModule) EndBlock(*ledger.Context) error                     { return nil }

func relay(ctx *ledger.Context, signer identity.Address, msg ledger.Msg) error {
	m := msg.(*relayMsg)
	var err error
	if m.Depth > 0 {
		next := *m
		next.Depth--
		err = ctx.Dispatch(signer, &next)
	} else {
		ctx.ConsumeGas(m.Burn, "burning")
		err = ctx.Dispatch(signer, &ledger.Transfer{To: m.To, Amount: m.Amount})
	}
	if err != nil && m.Strict {
		return err
	}
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
	}
	relayAfter.Emit(ctx, outcome)
	return nil
}

// TestDispatchRunsMessagesFromMessages: a message dispatched from inside
// another runs under the same gas meter; its failure undoes its own writes
// and events only, out of gas fails the whole transaction, and nesting is
// bounded.
func TestDispatchRunsMessagesFromMessages(t *testing.T) {
	m := ledger.New(ledger.DefaultRegistry(routerModule{}))
	alice, bob, op := testKey("router-alice"), testKey("router-bob"), testKey("router-op")
	p := ledger.DefaultParams()
	g := ledger.Genesis{Params: p,
		Accounts:   []ledger.GenesisAccount{{Address: alice.Address(), Balance: 1_000_000_000}},
		Validators: []ledger.Validator{{Name: "v", Operator: op.Address(), ConsPubKey: op.Priv.Public().(ed25519.PublicKey), Power: 1}}}
	app, err := g.MarshalAppState(nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: "router", Time: t0}, app)
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.MemReader{}
	st.Apply(ch.Writes)
	height, nonce := int64(0), uint64(0)
	run := func(msg ledger.Msg, gas uint64) ledger.TxResult {
		t.Helper()
		tx := &ledger.Tx{ChainID: "router", Nonce: nonce, GasLimit: gas, GasPrice: p.MinGasPrice, Msg: msg}
		if err := tx.Sign(alice); err != nil {
			t.Fatal(err)
		}
		height++
		b, err := m.BeginBlock(st, ledger.Header{ChainID: "router", Height: height, Time: t0.Add(time.Duration(height) * time.Second), Hash: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		res := b.Deliver(tx.Bytes(), false)
		if res.Fee > 0 {
			nonce++
		}
		ch, _, err := b.End()
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(ch.Writes)
		return res
	}
	balance := func(k *identity.Key) uint64 {
		t.Helper()
		a, err := ledger.ReadAccount(st, k.Address())
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance
	}
	types := func(evs []ledger.Event) string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Type)
		}
		return strings.Join(out, ",")
	}

	// A dispatched transfer moves the money and its event comes first.
	res := run(&relayMsg{To: bob.Address(), Amount: 1000, Depth: 2}, 200_000)
	if res.Code != ledger.CodeOK || balance(bob) != 1000 {
		t.Fatalf("relay of 1000: code %d (%s), bob has %d", res.Code, res.Log, balance(bob))
	}
	// Each level of the relay emits its after, innermost first.
	if got := types(res.Events); got != "bank.transfer,routertest.after,routertest.after,routertest.after" || res.Events[1].Get("inner") != "ok" {
		t.Fatalf("events %s %+v, want the transfer then three after=ok", got, res.Events)
	}

	// A dispatched transfer that fails is undone alone: the caller goes on.
	before := balance(alice)
	res = run(&relayMsg{To: bob.Address(), Amount: 10_000_000_000, Depth: 1}, 200_000)
	if res.Code != ledger.CodeOK || balance(bob) != 1000 || balance(alice) != before-res.Fee {
		t.Fatalf("failed inner transfer: code %d, bob %d, alice %d (fee %d, before %d)", res.Code, balance(bob), balance(alice), res.Fee, before)
	}
	if got := types(res.Events); got != "routertest.after,routertest.after" || !strings.Contains(res.Events[0].Get("inner"), "insufficient funds") || res.Events[1].Get("inner") != "ok" {
		t.Fatalf("events %s %+v, want no transfer: after saying it lacked funds, then the outer after=ok", got, res.Events)
	}

	// Out of gas inside a dispatched message fails the transaction: only
	// the fee is kept.
	before = balance(alice)
	res = run(&relayMsg{To: bob.Address(), Amount: 500, Depth: 1, Burn: 1_000_000}, 200_000)
	if res.Code != ledger.CodeOutOfGas || !strings.Contains(res.Log, "out of gas") || len(res.Events) != 0 {
		t.Fatalf("out of gas: code %d log %q events %v", res.Code, res.Log, res.Events)
	}
	if balance(bob) != 1000 || balance(alice) != before-res.Fee || res.Fee != 200_000*p.MinGasPrice {
		t.Fatalf("out of gas moved money: bob %d, alice %d (before %d, fee %d)", balance(bob), balance(alice), before, res.Fee)
	}

	// Nesting is bounded.
	res = run(&relayMsg{To: bob.Address(), Amount: 1, Depth: ledger.MaxDispatchDepth + 1, Strict: true}, 2_000_000)
	if res.Code == ledger.CodeOK || !strings.Contains(res.Log, "nest at most") || balance(bob) != 1000 {
		t.Fatalf("deep nesting: code %d log %q, bob %d", res.Code, res.Log, balance(bob))
	}
}
