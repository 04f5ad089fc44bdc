package ledger_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/money"
)

const testChain = "test"

var t0 = ledgertest.T0

// testKey derives a key from name, so tests are repeatable and fast (no
// mnemonic).
func testKey(name string) *identity.Key { return ledgertest.Key("stratus-test-key", name) }

// harnessOpts shapes a test chain. Zero values give defaults.
type harnessOpts struct {
	accounts int            // funded accounts; default 4
	balance  uint64         // each funded account's balance; default 1000STR
	powers   []int64        // validator powers, one validator each; default {1}
	params   *ledger.Params // default flatFeeParams()
	reg      *ledger.Registry
}

// harness is a ledgertest chain of the ledger's own modules: every block is
// checked for conservation and audit log growth. Its validator operators
// are unfunded at genesis.
type harness struct {
	*ledgertest.Chain
	keys []*identity.Key // funded accounts acct<i>
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.accounts == 0 {
		o.accounts = 4
	}
	if o.balance == 0 {
		o.balance = 1000 * money.UstrPerSTR
	}
	p := flatFeeParams()
	if o.params != nil {
		p = *o.params
	}
	var names []string
	for i := range o.accounts {
		names = append(names, fmt.Sprintf("acct%d", i))
	}
	h := &harness{Chain: ledgertest.New(t, ledgertest.Options{
		ChainID: testChain, Registry: o.reg, Params: &p, Funded: names, Balance: o.balance, Powers: o.powers,
	})}
	for _, n := range names {
		h.keys = append(h.keys, h.Key(n))
	}
	return h
}

// everyBlock reports whether a key is one every block writes: the audit
// log and the block time.
func everyBlock(k string) bool {
	return strings.HasPrefix(k, ledgertest.AuditPrefix) || k == "block_time"
}

// nonAuditState is committed state without the audit log and block time,
// which every block changes.
func (h *harness) nonAuditState() map[string]string { return h.State(everyBlock) }

// nonAuditWrites lists the keys the last block wrote outside the audit log.
func (h *harness) nonAuditWrites() []string {
	var out []string
	for _, c := range h.Changes.Writes {
		if !everyBlock(string(c.Key)) {
			out = append(out, fmt.Sprintf("%q", c.Key))
		}
	}
	return out
}

// flatFeeParams are the default parameters with a gas table that charges
// one gas per transaction and nothing else, at a minimum price of minFee:
// a transaction signed by signTx then pays exactly its fee, so the tests of
// the bank, fees and blocks keep exact figures. gas_test.go tests metering
// with the real table.
func flatFeeParams() ledger.Params {
	p := ledger.DefaultParams()
	p.MinGasPrice = minFee
	p.Gas = ledger.GasTable{TxBase: 1}
	return p
}

// signTx builds and signs a transaction with a gas limit of 1 at a gas
// price of fee: under flatFeeParams it pays fee.
func signTx(t testing.TB, key *identity.Key, chainID string, nonce, fee uint64, memo string, msg ledger.Msg) *ledger.Tx {
	t.Helper()
	tx := &ledger.Tx{ChainID: chainID, Nonce: nonce, GasLimit: 1, GasPrice: fee, Memo: memo, Msg: msg}
	if err := tx.Sign(key); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tx
}

// transfer is a signed bank/transfer paying the minimum fee.
func (h *harness) transfer(from *identity.Key, to identity.Address, amount, nonce uint64) []byte {
	h.T.Helper()
	return signTx(h.T, from, testChain, nonce, h.Params.MinGasPrice, "", &ledger.Transfer{To: to, Amount: amount}).Bytes()
}

// flipSig returns raw with the last byte of its signature flipped.
func flipSig(raw []byte) []byte {
	out := bytes.Clone(raw)
	out[len(out)-1] ^= 0x01
	return out
}

// resign makes a transaction whose body names signer but whose signature is
// by key: the body of tx with the signer swapped, signed by key.
func resign(t testing.TB, tx *ledger.Tx, signer identity.Address, key *identity.Key) []byte {
	t.Helper()
	raw := tx.Bytes()
	old := tx.Signer
	swapped := bytes.Replace(raw, old[:], signer[:], 1)
	if bytes.Equal(swapped, raw) {
		t.Fatal("signer not found in the encoding")
	}
	dec, err := ledger.DecodeTx(swapped, ledger.DefaultRegistry())
	if err != nil {
		t.Fatalf("DecodeTx of the swapped tx: %v", err)
	}
	if dec.Signer != signer {
		t.Fatalf("swapped tx names %s, want %s", dec.Signer, signer)
	}
	sb := dec.SignBytes()
	body := sb[len("stratus/tx/v1\n"):]
	w := codec.NewWriter(len(raw))
	w.BytesField(body)
	w.Fixed(key.Sign(sb))
	return w.Bytes()
}

// testModule holds value in its own bucket and can fail after writing, to
// check that a failed message's writes and events are undone.
type testModule struct{}

const lockBucket = "test_locked"

type lockMsg struct {
	Amount uint64
	Fail   bool
}

func (*lockMsg) Type() string { return "test/lock" }
func (m *lockMsg) Encode(w *codec.Writer) {
	w.Uvarint(m.Amount)
	w.Bool(m.Fail)
}
func (m *lockMsg) Decode(r *codec.Reader) error {
	m.Amount = r.Uvarint()
	m.Fail = r.Bool()
	return r.Err()
}
func (m *lockMsg) Validate() error { return nil }

// gasMsg writes Writes keys of 100 bytes under test/k/, walks them, and
// burns Burn gas, so the gas tests can tell each kind of work apart.
type gasMsg struct{ Writes, Burn uint64 }

func (*gasMsg) Type() string { return "test/gas" }
func (m *gasMsg) Encode(w *codec.Writer) {
	w.Uvarint(m.Writes)
	w.Uvarint(m.Burn)
}
func (m *gasMsg) Decode(r *codec.Reader) error {
	m.Writes, m.Burn = r.Uvarint(), r.Uvarint()
	return r.Err()
}
func (m *gasMsg) Validate() error { return nil }

const gasValueBytes = 100

// testStore opens the test module's state, under test/.
var testStore = ledger.NewStoreKey("test")

// gasKey is key i under test/k/, relative to the module's state.
func gasKey(i uint64) []byte { return fmt.Appendf(nil, "k/%08d", i) }

func (testModule) Name() string      { return "test" }
func (testModule) Buckets() []string { return []string{lockBucket} }
func (testModule) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{{
		New: func() ledger.Msg { return &gasMsg{} },
		Handler: func(ctx *ledger.Context, _ identity.Address, msg ledger.Msg) error {
			m := msg.(*gasMsg)
			for i := range m.Writes {
				ctx.Store(testStore).Set(gasKey(i), make([]byte, gasValueBytes))
			}
			if err := ctx.Store(testStore).Iterate([]byte("k/"), func(k, v []byte) error { return nil }); err != nil {
				return err
			}
			ctx.ConsumeGas(m.Burn, "burning")
			return nil
		},
	}, {
		New: func() ledger.Msg { return &lockMsg{} },
		Handler: func(ctx *ledger.Context, signer identity.Address, msg ledger.Msg) error {
			m := msg.(*lockMsg)
			if err := ctx.Debit(signer, lockBucket, m.Amount); err != nil {
				return err
			}
			ctx.Store(testStore).Set([]byte("touched"), []byte{1})
			ctx.Emit("test.locked", ledger.Attr{Key: "amount", Value: ledger.FormatInt(m.Amount)})
			if m.Fail {
				return errs.E(errs.Conflict, "told to fail")
			}
			return nil
		},
	}}
}
func (testModule) InitGenesis(*ledger.Context, json.RawMessage) error { return nil }
func (testModule) EndBlock(*ledger.Context) error                     { return nil }

// bogusMsg is a message type no registry knows.
type bogusMsg struct{}

func (bogusMsg) Type() string               { return "test/bogus" }
func (bogusMsg) Encode(*codec.Writer)       {}
func (bogusMsg) Decode(*codec.Reader) error { return nil }
func (bogusMsg) Validate() error            { return nil }
