package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Key layout the tests look at. The ledger exports AccountPrefix; the bucket
// and audit prefixes are checked against ReadBucket and audit.Load below, so a
// change of layout fails loudly rather than silently skipping checks.
const (
	bucketPrefix = "bucket/"
	auditPrefix  = "audit/"
)

const testChain = "test"

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// testKey derives a key from name, so tests are repeatable and fast (no
// mnemonic).
func testKey(name string) *identity.Key {
	seed := sha256.Sum256([]byte("stratus-test-key/" + name))
	return &identity.Key{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
}

// harnessOpts shapes a test chain. Zero values give defaults.
type harnessOpts struct {
	accounts int            // funded accounts; default 4
	balance  uint64         // each funded account's balance; default 1000STR
	powers   []int64        // validator powers, one validator each; default {1}
	params   *ledger.Params // default flatFeeParams()
	reg      *ledger.Registry
}

// harness is a chain driven block by block over a MemReader, with every
// block checked for conservation and audit log growth.
type harness struct {
	t       testing.TB
	m       *ledger.Machine
	st      ledger.MemReader
	params  ledger.Params
	keys    []*identity.Key // funded accounts
	ops     []*identity.Key // validator operators, unfunded at genesis
	vals    []ledger.Validator
	supply  uint64
	height  int64
	appHash []byte

	auditSize uint64
	auditRoot []byte

	// What the last block gave back.
	results []ledger.TxResult
	events  []ledger.Event
	changes ledger.Changes
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.accounts == 0 {
		o.accounts = 4
	}
	if o.balance == 0 {
		o.balance = 1000 * money.UstrPerSTR
	}
	if len(o.powers) == 0 {
		o.powers = []int64{1}
	}
	p := flatFeeParams()
	if o.params != nil {
		p = *o.params
	}
	reg := o.reg
	if reg == nil {
		reg = ledger.DefaultRegistry()
	}
	h := &harness{t: t, m: ledger.New(reg), st: ledger.MemReader{}, params: p}
	g := ledger.Genesis{Params: p}
	for i := range o.accounts {
		k := testKey(fmt.Sprintf("acct%d", i))
		h.keys = append(h.keys, k)
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: o.balance})
		h.supply += o.balance
	}
	for i, pw := range o.powers {
		op := testKey(fmt.Sprintf("op%d", i))
		cons := testKey(fmt.Sprintf("cons%d", i))
		h.ops = append(h.ops, op)
		h.vals = append(h.vals, ledger.Validator{
			Name: fmt.Sprintf("val%d", i), Operator: op.Address(),
			ConsPubKey: cons.Priv.Public().(ed25519.PublicKey), Power: pw,
		})
	}
	g.Validators = h.vals
	app, err := g.MarshalAppState(nil)
	if err != nil {
		t.Fatalf("MarshalAppState: %v", err)
	}
	h.initChain(app)
	return h
}

func (h *harness) initChain(app []byte) {
	h.t.Helper()
	ch, err := h.m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: testChain, Height: 0, Time: t0}, app)
	if err != nil {
		h.t.Fatalf("InitChain: %v", err)
	}
	h.st.Apply(ch.Writes)
	h.appHash = ch.AppHash
	if ch.AuditSize != 1 {
		h.t.Errorf("genesis audit size = %d, want 1 (the chain.genesis event)", ch.AuditSize)
	}
	h.auditSize, h.auditRoot = ch.AuditSize, ch.AuditRoot
	if got := h.supplyNow(); got != h.supply {
		h.t.Errorf("genesis supply = %d, want %d", got, h.supply)
	}
	h.checkConservation(h.t)
}

// header is the header of the next block.
func (h *harness) header() ledger.Header {
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("block"), uint64(h.height+1)))
	return ledger.Header{
		ChainID: testChain, Height: h.height + 1, Time: t0.Add(time.Duration(h.height+1) * time.Second),
		Hash: hash[:], PrevAppHash: h.appHash,
	}
}

// deliverBlock executes one block of txs (signatures verified by the block),
// persists it, and checks the audit log's growth and conservation.
func (h *harness) deliverBlock(txs ...[]byte) []ledger.TxResult {
	h.t.Helper()
	hdr := h.header()
	b, err := h.m.BeginBlock(h.st, hdr)
	if err != nil {
		h.t.Fatalf("BeginBlock %d: %v", hdr.Height, err)
	}
	var results []ledger.TxResult
	leaves := uint64(0)
	for i, raw := range txs {
		res := b.Deliver(raw, false)
		if res.Hash != ledger.HashTx(raw) {
			h.t.Errorf("block %d tx %d: result hash %v, want %v", hdr.Height, i, res.Hash, ledger.HashTx(raw))
		}
		if res.Code != ledger.CodeOK && len(res.Events) != 0 {
			h.t.Errorf("block %d tx %d failed with code %d but has events %v", hdr.Height, i, res.Code, res.Events)
		}
		if (res.Code == ledger.CodeOK) != (res.Log == "") {
			h.t.Errorf("block %d tx %d: code %d with log %q", hdr.Height, i, res.Code, res.Log)
		}
		results = append(results, res)
		leaves += 1 + uint64(len(res.Events))
	}
	if len(b.Results) != len(results) {
		h.t.Errorf("block %d: Block.Results has %d entries, want %d", hdr.Height, len(b.Results), len(results))
	}
	ch, evs, err := b.End()
	if err != nil {
		h.t.Fatalf("End of block %d: %v", hdr.Height, err)
	}
	leaves += uint64(len(evs))
	h.st.Apply(ch.Writes)

	if want := h.auditSize + leaves; ch.AuditSize != want {
		h.t.Errorf("block %d: audit size %d, want %d (%d before, %d txs, %d leaves)", hdr.Height, ch.AuditSize, want, h.auditSize, len(txs), leaves)
	}
	if rootChanged := !bytes.Equal(ch.AuditRoot, h.auditRoot); rootChanged != (leaves > 0) {
		h.t.Errorf("block %d: audit root changed = %v with %d new leaves", hdr.Height, rootChanged, leaves)
	}
	if bytes.Equal(ch.AppHash, h.appHash) {
		h.t.Errorf("block %d: app hash did not change", hdr.Height)
	}
	h.height = hdr.Height
	h.appHash = ch.AppHash
	h.auditSize, h.auditRoot = ch.AuditSize, ch.AuditRoot
	h.results, h.events, h.changes = results, evs, ch
	h.checkConservation(h.t)
	return results
}

// checkConservation checks that the balances bucket is the sum of every
// account's balance, that the buckets add up to the supply, that no value
// sits in a bucket the machine does not list, and that the supply is still
// what genesis minted.
func (h *harness) checkConservation(t testing.TB) {
	t.Helper()
	var sum uint64
	for k, v := range h.st {
		if !strings.HasPrefix(k, ledger.AccountPrefix) {
			continue
		}
		if len(k) != len(ledger.AccountPrefix)+len(identity.Address{}) {
			t.Errorf("account key %q has the wrong length", k)
		}
		var err error
		if sum, err = money.Add(sum, ledger.DecodeAccountValue(v).Balance); err != nil {
			t.Fatalf("height %d: balances overflow: %v", h.height, err)
		}
	}
	bal := h.bucket(ledger.BucketBalances)
	if sum != bal {
		t.Errorf("height %d: accounts hold %d but the balances bucket says %d", h.height, sum, bal)
	}

	listed := map[string]bool{}
	var total uint64
	for _, name := range h.m.Buckets() {
		if listed[name] {
			t.Errorf("bucket %q is listed twice", name)
		}
		listed[name] = true
		var err error
		if total, err = money.Add(total, h.bucket(name)); err != nil {
			t.Fatalf("height %d: buckets overflow: %v", h.height, err)
		}
	}
	for k, v := range h.st {
		name, ok := strings.CutPrefix(k, bucketPrefix)
		if !ok {
			continue
		}
		if got := h.bucket(name); got != binary.BigEndian.Uint64(v) {
			t.Fatalf("bucket key layout changed: %q holds %x but ReadBucket(%q) = %d", k, v, name, got)
		}
		if !listed[name] && binary.BigEndian.Uint64(v) != 0 {
			t.Errorf("height %d: bucket %q holds value but is not in Machine.Buckets()", h.height, name)
		}
	}
	supply := h.supplyNow()
	if total != supply {
		t.Errorf("height %d: buckets hold %d but supply is %d", h.height, total, supply)
	}
	if supply != h.supply {
		t.Errorf("height %d: supply is %d, want %d as minted at genesis", h.height, supply, h.supply)
	}
}

func (h *harness) bucket(name string) uint64 {
	h.t.Helper()
	v, err := ledger.ReadBucket(h.st, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) supplyNow() uint64 {
	h.t.Helper()
	v, err := ledger.ReadSupply(h.st)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) account(a identity.Address) ledger.Account {
	h.t.Helper()
	acct, err := ledger.ReadAccount(h.st, a)
	if err != nil {
		h.t.Fatal(err)
	}
	return acct
}

// auditLog loads the audit log from committed state.
func (h *harness) auditLog() *audit.Log {
	h.t.Helper()
	l, err := audit.Load(prefixKV{h.st, auditPrefix})
	if err != nil {
		h.t.Fatalf("audit.Load: %v", err)
	}
	return l
}

// prefixKV is an audit.KV over a MemReader under a prefix. Set writes
// straight into the map; the tests only read through it.
type prefixKV struct {
	m ledger.MemReader
	p string
}

func (p prefixKV) Get(k []byte) []byte { return p.m[p.p+string(k)] }
func (p prefixKV) Set(k, v []byte)     { p.m[p.p+string(k)] = bytes.Clone(v) }

// everyBlock reports whether a key is one every block writes: the audit
// log and the block time.
func everyBlock(k string) bool { return strings.HasPrefix(k, auditPrefix) || k == "block_time" }

// nonAuditState is committed state without the audit log and block time,
// which every block changes.
func (h *harness) nonAuditState() map[string]string {
	out := map[string]string{}
	for k, v := range h.st {
		if !everyBlock(k) {
			out[k] = string(v)
		}
	}
	return out
}

// diffKeys lists the keys whose values differ between a and b.
func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	sort.Strings(out)
	return out
}

// nonAuditWrites lists the keys the last block wrote outside the audit log.
func (h *harness) nonAuditWrites() []string {
	var out []string
	for _, c := range h.changes.Writes {
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
	h.t.Helper()
	return signTx(h.t, from, testChain, nonce, h.params.MinGasPrice, "", &ledger.Transfer{To: to, Amount: amount}).Bytes()
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

func gasKey(i uint64) []byte { return fmt.Appendf(nil, "test/k/%08d", i) }

func (testModule) Name() string      { return "test" }
func (testModule) Buckets() []string { return []string{lockBucket} }
func (testModule) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{{
		New: func() ledger.Msg { return &gasMsg{} },
		Handler: func(ctx *ledger.Context, _ identity.Address, msg ledger.Msg) error {
			m := msg.(*gasMsg)
			for i := range m.Writes {
				ctx.Set(gasKey(i), make([]byte, gasValueBytes))
			}
			if err := ctx.Iterate([]byte("test/k/"), func(k, v []byte) error { return nil }); err != nil {
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
			ctx.Set([]byte("test/touched"), []byte{1})
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
