package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// issueMsg mints (or with Burn, burns) Amount of Denom for its signer: a
// stand-in for the tokens module.
type issueMsg struct {
	Denom  string
	Amount uint64
	Burn   bool
}

func (*issueMsg) Type() string { return "denomtest/issue" }
func (m *issueMsg) Encode(w *codec.Writer) {
	w.String(m.Denom)
	w.Uvarint(m.Amount)
	w.Bool(m.Burn)
}
func (m *issueMsg) Decode(r *codec.Reader) error {
	m.Denom, m.Amount, m.Burn = r.String(64), r.Uvarint(), r.Bool()
	return r.Err()
}
func (m *issueMsg) Validate() error { return nil }

type issuerModule struct{}

func (issuerModule) Name() string { return "denomtest" }
func (issuerModule) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{{New: func() ledger.Msg { return &issueMsg{} }, Handler: func(ctx *ledger.Context, signer identity.Address, msg ledger.Msg) error {
		m := msg.(*issueMsg)
		if m.Burn {
			return ctx.BurnDenom(m.Denom, signer, m.Amount)
		}
		return ctx.MintDenom(m.Denom, signer, m.Amount)
	}}}
}
func (issuerModule) InitGenesis(*ledger.Context, json.RawMessage) error { return nil }
func (issuerModule) EndBlock(*ledger.Context) error                     { return nil }

// TestDenominations: tokens are balances like STR. They move with
// bank/transfer and a denom, only their issuer mints and burns them, STR's
// supply cannot change, and for every denomination the balances add up to
// its supply after every block.
func TestDenominations(t *testing.T) {
	m := ledger.New(ledger.DefaultRegistry(issuerModule{}))
	alice, bob, op := testKey("denom-alice"), testKey("denom-bob"), testKey("denom-op")
	p := ledger.DefaultParams()
	g := ledger.Genesis{Params: p,
		Accounts:   []ledger.GenesisAccount{{Address: alice.Address(), Balance: 1_000_000_000}, {Address: bob.Address(), Balance: 1_000_000_000}},
		Validators: []ledger.Validator{{Name: "v", Operator: op.Address(), ConsPubKey: op.Priv.Public().(ed25519.PublicKey), Power: 1}}}
	app, err := g.MarshalAppState(nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: "denom", Time: t0}, app)
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.MemReader{}
	st.Apply(ch.Writes)
	strSupply, _ := ledger.ReadSupply(st)
	height := int64(0)
	nonces := map[identity.Address]uint64{}
	conserve := func() {
		t.Helper()
		sums := map[string]uint64{}
		supplies := map[string]uint64{}
		for k, v := range st {
			if d, _, ok := ledger.DenomKey([]byte(k)); ok {
				sums[d] += binary.BigEndian.Uint64(v)
			} else if d, ok := ledger.DenomSupplyKey([]byte(k)); ok {
				supplies[d] = binary.BigEndian.Uint64(v)
			}
		}
		for d, s := range supplies {
			if sums[d] != s {
				t.Errorf("height %d: %s balances add up to %d, supply %d", height, d, sums[d], s)
			}
		}
		for d := range sums {
			if _, ok := supplies[d]; !ok {
				t.Errorf("height %d: %s has balances but no supply", height, d)
			}
		}
		if s, _ := ledger.ReadSupply(st); s != strSupply {
			t.Errorf("height %d: STR supply %d, want %d", height, s, strSupply)
		}
	}
	run := func(k *identity.Key, msg ledger.Msg) ledger.TxResult {
		t.Helper()
		tx := &ledger.Tx{ChainID: "denom", Nonce: nonces[k.Address()], GasLimit: 100_000, GasPrice: p.MinGasPrice, Msg: msg}
		if err := tx.Sign(k); err != nil {
			t.Fatal(err)
		}
		height++
		b, err := m.BeginBlock(st, ledger.Header{ChainID: "denom", Height: height, Time: t0.Add(time.Duration(height) * time.Second), Hash: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		res := b.Deliver(tx.Bytes(), false)
		if res.Fee > 0 {
			nonces[k.Address()]++
		}
		ch, _, err := b.End()
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(ch.Writes)
		conserve()
		return res
	}
	bal := func(denom string, k *identity.Key) uint64 {
		t.Helper()
		v, err := ledger.ReadDenomBalance(st, denom, k.Address())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	if res := run(alice, &issueMsg{Denom: "gold", Amount: 1000}); res.Code != ledger.CodeOK {
		t.Fatalf("mint: %s", res.Log)
	}
	res := run(alice, &ledger.Transfer{To: bob.Address(), Amount: 300, Denom: "gold"})
	if res.Code != ledger.CodeOK || bal("gold", alice) != 700 || bal("gold", bob) != 300 {
		t.Fatalf("transfer of gold: code %d (%s), alice %d bob %d", res.Code, res.Log, bal("gold", alice), bal("gold", bob))
	}
	if e := res.Events[0]; e.Get("denom") != "gold" || e.Get("amount") != "300" {
		t.Fatalf("event %+v, want denom gold and amount 300", e)
	}
	strBefore := bal("", bob)
	if res = run(bob, &ledger.Transfer{To: alice.Address(), Amount: 301, Denom: "gold"}); res.Code != ledger.CodeInsufficient || !strings.Contains(res.Log, "insufficient gold") {
		t.Fatalf("overdraft of gold: code %d %q", res.Code, res.Log)
	}
	if bal("gold", bob) != 300 || bal("", bob) != strBefore-res.Fee {
		t.Fatalf("failed gold transfer changed balances: gold %d, STR %d", bal("gold", bob), bal("", bob))
	}
	if res := run(bob, &issueMsg{Denom: "gold", Amount: 100, Burn: true}); res.Code != ledger.CodeOK || bal("gold", bob) != 200 {
		t.Fatalf("burn: code %d %q, bob has %d", res.Code, res.Log, bal("gold", bob))
	}
	if s, _ := ledger.ReadDenomSupply(st, "gold"); s != 900 {
		t.Fatalf("gold supply %d, want 900", s)
	}
	for _, msg := range []*issueMsg{{Denom: "ustr", Amount: 1}, {Denom: "", Amount: 1}, {Denom: "ustr", Amount: 1, Burn: true}} {
		if res := run(alice, msg); res.Code != ledger.CodeInvalid || !strings.Contains(res.Log, "STR cannot be") {
			t.Errorf("%+v: code %d %q, want STR's supply fixed", msg, res.Code, res.Log)
		}
	}
	if res := run(alice, &issueMsg{Denom: "Gold!", Amount: 1}); res.Code != ledger.CodeInvalid {
		t.Errorf("mint of a bad denomination: code %d %q", res.Code, res.Log)
	}
	if res := run(alice, &issueMsg{Denom: "gold", Amount: ^uint64(0)}); res.Code == ledger.CodeOK {
		t.Error("a mint that overflows the supply succeeded")
	}

	// A STR transfer encodes exactly as before denominations existed, and
	// each transfer has one encoding.
	plain := &ledger.Transfer{To: bob.Address(), Amount: 5}
	w := codec.NewWriter(64)
	plain.Encode(w)
	to := bob.Address()
	if want := append(append([]byte(nil), to[:]...), 5); !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("STR transfer encodes as %x, want %x", w.Bytes(), want)
	}
	var dec ledger.Transfer
	r := codec.NewReader(append(w.Bytes(), 0)) // an empty denomination written out
	if err := dec.Decode(r); err == nil {
		t.Fatal("a transfer with an empty denomination written out decoded")
	}
	for _, bad := range []ledger.Transfer{{To: bob.Address(), Amount: 1, Denom: "ustr"}, {To: bob.Address(), Amount: 1, Denom: "x"}} {
		if err := bad.Validate(); !errs.Is(err, errs.Invalid) {
			t.Errorf("Validate(%+v) = %v, want invalid", bad, err)
		}
	}
}
