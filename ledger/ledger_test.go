package ledger_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/money"
)

const (
	bal    = 1000 * money.UstrPerSTR // each funded account's genesis balance
	minFee = 1000
)

// smallParams has the smallest max_tx_bytes allowed, so an oversize
// transaction can be built with a memo that decodes.
func smallParams() *ledger.Params {
	p := flatFeeParams()
	p.MaxTxBytes = 256
	return &p
}

// TestDeliverTransfer sends one transaction in a fresh chain's first block
// and checks its result code and exactly what moved. Transactions that fail
// their ante checks must change nothing but the audit log; a message that
// fails after the ante keeps its fee and nonce.
func TestDeliverTransfer(t *testing.T) {
	nobody := testKey("nobody")     // no account
	selfAddr := identity.Address{1} // stands for "the sender" as recipient
	fresh := testKey("fresh").Address()
	type delta struct {
		from, to   int64 // balance changes of keys[0] and the recipient
		nonce      uint64
		fees       uint64
		auditOnly  bool // no write outside the audit log
		wantEvents int
	}
	ok := func(amount int64, fee uint64) delta {
		return delta{from: -amount - int64(fee), to: amount, nonce: 1, fees: fee, wantEvents: 1}
	}
	paidFee := delta{from: -minFee, nonce: 1, fees: minFee}
	nothing := delta{auditOnly: true}
	tests := []struct {
		name string
		to   identity.Address // recipient whose balance is checked; default keys[1]
		tx   func(h *harness) []byte
		code uint32
		want delta
	}{
		{"transfer", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[1].Address(), 5*money.UstrPerSTR, 0)
		}, ledger.CodeOK, ok(5*money.UstrPerSTR, minFee)},
		{"fee above minimum", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], testChain, 0, 2500, "", &ledger.Transfer{To: h.keys[1].Address(), Amount: 7}).Bytes()
		}, ledger.CodeOK, ok(7, 2500)},
		{"whole balance", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[1].Address(), bal-minFee, 0)
		}, ledger.CodeOK, ok(bal-minFee, minFee)},
		{"with memo", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], testChain, 0, minFee, "rent for march", &ledger.Transfer{To: h.keys[1].Address(), Amount: 1}).Bytes()
		}, ledger.CodeOK, ok(1, minFee)},
		{"to a new account", fresh, func(h *harness) []byte {
			return h.transfer(h.keys[0], fresh, 3, 0)
		}, ledger.CodeOK, ok(3, minFee)},
		{"to self", selfAddr, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[0].Address(), 3, 0)
		}, ledger.CodeOK, delta{from: -minFee, nonce: 1, fees: minFee, wantEvents: 1}},
		{"overdraft by the fee", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[1].Address(), bal, 0)
		}, ledger.CodeInsufficient, paidFee},
		{"overdraft by far", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[1].Address(), math.MaxUint64, 0)
		}, ledger.CodeInsufficient, paidFee},
		{"cannot pay the fee", identity.Address{}, func(h *harness) []byte {
			return h.transfer(nobody, h.keys[1].Address(), 1, 0)
		}, ledger.CodeInsufficient, nothing},
		{"wrong chain", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], "other-chain", 0, minFee, "", &ledger.Transfer{To: h.keys[1].Address(), Amount: 1}).Bytes()
		}, ledger.CodeWrongChain, nothing},
		{"flipped signature byte", identity.Address{}, func(h *harness) []byte {
			return flipSig(h.transfer(h.keys[0], h.keys[1].Address(), 1, 0))
		}, ledger.CodeUnauthorized, nothing},
		{"signer swapped after signing", identity.Address{}, func(h *harness) []byte {
			// keys[2] signed; the body now claims keys[0] sent it.
			tx := signTx(t, h.keys[2], testChain, 0, minFee, "", &ledger.Transfer{To: h.keys[1].Address(), Amount: 1})
			signer, claimed := h.keys[2].Address(), h.keys[0].Address()
			return bytes.Replace(tx.Bytes(), signer[:], claimed[:], 1)
		}, ledger.CodeUnauthorized, nothing},
		{"signed by another key", identity.Address{}, func(h *harness) []byte {
			// keys[2] signs a body that names keys[0].
			tx := signTx(t, h.keys[2], testChain, 0, minFee, "", &ledger.Transfer{To: h.keys[1].Address(), Amount: 1})
			return resign(t, tx, h.keys[0].Address(), h.keys[2])
		}, ledger.CodeUnauthorized, nothing},
		{"fee below minimum", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], testChain, 0, minFee-1, "", &ledger.Transfer{To: h.keys[1].Address(), Amount: 1}).Bytes()
		}, ledger.CodeFee, nothing},
		{"zero fee", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], testChain, 0, 0, "", &ledger.Transfer{To: h.keys[1].Address(), Amount: 1}).Bytes()
		}, ledger.CodeFee, nothing},
		{"zero amount", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[1].Address(), 0, 0)
		}, ledger.CodeInvalid, nothing},
		{"no recipient", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], identity.Address{}, 1, 0)
		}, ledger.CodeInvalid, nothing},
		{"future nonce", identity.Address{}, func(h *harness) []byte {
			return h.transfer(h.keys[0], h.keys[1].Address(), 1, 1)
		}, ledger.CodeBadNonce, nothing},
		{"over the chain's max_tx_bytes", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], testChain, 0, minFee, strings.Repeat("m", 200), &ledger.Transfer{To: h.keys[1].Address(), Amount: 1}).Bytes()
		}, ledger.CodeTooLarge, nothing},
		{"over MaxTxBytes", identity.Address{}, func(h *harness) []byte {
			return make([]byte, ledger.MaxTxBytes+1)
		}, ledger.CodeTooLarge, nothing},
		{"memo over MaxMemo", identity.Address{}, func(h *harness) []byte {
			tx := &ledger.Tx{ChainID: testChain, GasLimit: 1, GasPrice: minFee, Memo: strings.Repeat("m", ledger.MaxMemo+1), Msg: &ledger.Transfer{To: h.keys[1].Address(), Amount: 1}}
			if err := tx.Sign(h.keys[0]); err == nil {
				t.Error("Sign accepted a memo over MaxMemo")
			}
			return ledger.SignUnchecked(tx, h.keys[0])
		}, ledger.CodeInvalid, nothing},
		{"unknown message type", identity.Address{}, func(h *harness) []byte {
			return signTx(t, h.keys[0], testChain, 0, minFee, "", bogusMsg{}).Bytes()
		}, ledger.CodeInvalid, nothing},
		{"garbage", identity.Address{}, func(h *harness) []byte { return []byte("hello, chain") }, ledger.CodeInvalid, nothing},
		{"empty", identity.Address{}, func(h *harness) []byte { return nil }, ledger.CodeInvalid, nothing},
		{"trailing byte", identity.Address{}, func(h *harness) []byte {
			return append(h.transfer(h.keys[0], h.keys[1].Address(), 1, 0), 0)
		}, ledger.CodeInvalid, nothing},
		{"truncated", identity.Address{}, func(h *harness) []byte {
			raw := h.transfer(h.keys[0], h.keys[1].Address(), 1, 0)
			return raw[:len(raw)-1]
		}, ledger.CodeInvalid, nothing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{params: smallParams()})
			from := h.keys[0].Address()
			to := tt.to
			switch to {
			case identity.Address{}:
				to = h.keys[1].Address()
			case selfAddr:
				to = from
			}
			before := map[identity.Address]ledger.Account{from: h.Account(from), to: h.Account(to)}
			feesBefore := h.Bucket(ledger.BucketFees)

			res := h.Block(tt.tx(h))[0]
			if res.Code != tt.code {
				t.Fatalf("code = %d (%s), want %d", res.Code, res.Log, tt.code)
			}
			if res.Code != ledger.CodeOK && res.Log == "" {
				t.Errorf("failed without a log message")
			}
			gotFrom, gotTo := h.Account(from), h.Account(to)
			if got, want := int64(gotFrom.Balance)-int64(before[from].Balance), tt.want.from; got != want {
				t.Errorf("sender balance changed by %d, want %d", got, want)
			}
			if to != from {
				if got, want := int64(gotTo.Balance)-int64(before[to].Balance), tt.want.to; got != want {
					t.Errorf("recipient balance changed by %d, want %d", got, want)
				}
				if gotTo.Nonce != before[to].Nonce {
					t.Errorf("recipient nonce changed to %d", gotTo.Nonce)
				}
			}
			if got := gotFrom.Nonce - before[from].Nonce; got != tt.want.nonce {
				t.Errorf("sender nonce changed by %d, want %d", got, tt.want.nonce)
			}
			if got := h.Bucket(ledger.BucketFees) - feesBefore; got != tt.want.fees {
				t.Errorf("fees bucket grew by %d, want %d", got, tt.want.fees)
			}
			if tt.want.auditOnly {
				if w := h.nonAuditWrites(); len(w) != 0 {
					t.Errorf("a refused transaction wrote %v", w)
				}
			}
			if len(res.Events) != tt.want.wantEvents {
				t.Errorf("events = %v, want %d", res.Events, tt.want.wantEvents)
			}
			if tt.want.wantEvents == 1 {
				e := res.Events[0]
				if e.Type != "bank.transfer" || e.Get("from") != from.String() || e.Get("to") != to.String() {
					t.Errorf("event = %+v", e)
				}
			}
		})
	}
}

// TestTransferEventAmount checks the event's figures, which the dashboard
// and audit exports show.
func TestTransferEventAmount(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	res := h.Block(h.transfer(h.keys[0], h.keys[1].Address(), 1_234_567, 0))[0]
	want := ledger.Event{Type: "bank.transfer", Attrs: []ledger.Attr{
		{Key: "from", Value: h.keys[0].Address().String()},
		{Key: "to", Value: h.keys[1].Address().String()},
		{Key: "amount", Value: "1234567"},
	}}
	if len(res.Events) != 1 || fmt.Sprint(res.Events[0]) != fmt.Sprint(want) {
		t.Errorf("events = %+v, want [%+v]", res.Events, want)
	}
	if res.Tx == nil || res.Tx.Signer != h.keys[0].Address() || res.Tx.Nonce != 0 {
		t.Errorf("result Tx = %+v", res.Tx)
	}
}

func TestNonceIncrements(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	k, to := h.keys[0], h.keys[1].Address()
	steps := []struct {
		nonces    []uint64
		wantCodes []uint32
		wantNonce uint64
	}{
		{[]uint64{0, 1, 2}, []uint32{0, 0, 0}, 3},
		{[]uint64{2, 4, 3}, []uint32{ledger.CodeBadNonce, ledger.CodeBadNonce, 0}, 4},
		{[]uint64{0}, []uint32{ledger.CodeBadNonce}, 4},
		{[]uint64{5, 4, 5, 5}, []uint32{ledger.CodeBadNonce, 0, 0, ledger.CodeBadNonce}, 6},
		{nil, nil, 6},
	}
	for i, s := range steps {
		var txs [][]byte
		for _, n := range s.nonces {
			// Different amounts, so a stale nonce is not a byte-for-byte replay.
			txs = append(txs, h.transfer(k, to, 100+uint64(i), n))
		}
		res := h.Block(txs...)
		for j, r := range res {
			if r.Code != s.wantCodes[j] {
				t.Errorf("step %d tx %d (nonce %d): code %d (%s), want %d", i, j, s.nonces[j], r.Code, r.Log, s.wantCodes[j])
			}
		}
		if got := h.Account(k.Address()).Nonce; got != s.wantNonce {
			t.Errorf("step %d: nonce %d, want %d", i, got, s.wantNonce)
		}
	}
	// The recipient's nonce counts only what it sent.
	if got := h.Account(to).Nonce; got != 0 {
		t.Errorf("recipient nonce = %d, want 0", got)
	}
}

// TestReplay delivers the same bytes again, in a later block and in the
// same block, and expects a nonce failure that changes nothing.
func TestReplay(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	raw := h.transfer(h.keys[0], h.keys[1].Address(), 42, 0)
	if res := h.Block(raw); res[0].Code != ledger.CodeOK {
		t.Fatalf("first delivery: code %d (%s)", res[0].Code, res[0].Log)
	}
	before := h.nonAuditState()
	for _, txs := range [][][]byte{{raw}, {raw, raw}} {
		for i, r := range h.Block(txs...) {
			if r.Code != ledger.CodeBadNonce {
				t.Errorf("replay %d: code %d (%s), want %d", i, r.Code, r.Log, ledger.CodeBadNonce)
			}
			if r.Log == "" || !strings.Contains(r.Log, "nonce") {
				t.Errorf("replay %d: log %q does not say what was wrong", i, r.Log)
			}
		}
		if d := ledgertest.DiffKeys(before, h.nonAuditState()); len(d) != 0 {
			t.Errorf("replay changed %v", d)
		}
		if w := h.nonAuditWrites(); len(w) != 0 {
			t.Errorf("replay wrote %v", w)
		}
	}

	// Within one block the second copy is a replay of the first.
	raw2 := h.transfer(h.keys[0], h.keys[1].Address(), 43, 1)
	res := h.Block(raw2, raw2)
	if res[0].Code != ledger.CodeOK || res[1].Code != ledger.CodeBadNonce {
		t.Errorf("same block: codes %d, %d; want %d, %d", res[0].Code, res[1].Code, ledger.CodeOK, ledger.CodeBadNonce)
	}
	if got := h.Account(h.keys[0].Address()); got.Nonce != 2 || got.Balance != bal-42-43-2*minFee {
		t.Errorf("sender = %+v, want nonce 2 and balance %d", got, bal-42-43-2*minFee)
	}
}

// TestFeeDistribution collects an exact pool of fees in block 1 and checks
// the payout at the first epoch: the treasury's share rounded down, each
// validator's share by power rounded down, and the remainder to the treasury.
func TestFeeDistribution(t *testing.T) {
	tests := []struct {
		name         string
		powers       []int64
		bps          uint64
		epoch        uint64
		fees         []uint64 // one transaction per fee, in block 1
		wantVals     []uint64
		wantTreasury uint64
	}{
		// 3001: treasury 600 (of 600.2), rest 2401 / 3 = 800 each, remainder 1.
		{"equal powers, odd pool", []int64{1, 1, 1}, 2000, 2, []uint64{1001, 1000, 1000}, []uint64{800, 800, 800}, 601},
		// 10007: treasury 2001, rest 8006 shared 1:2:3 = 1334, 2668, 4003.
		{"powers 1 2 3", []int64{1, 2, 3}, 2000, 2, []uint64{3001, 3002, 4004}, []uint64{1334, 2668, 4003}, 2002},
		{"one validator, no treasury share", []int64{5}, 0, 2, []uint64{1000}, []uint64{1000}, 0},
		{"treasury takes all", []int64{1, 1}, 10_000, 2, []uint64{1000, 1000}, []uint64{0, 0}, 2000},
		// rest 800: the small validators' shares round to 0, the big one's to 799.
		{"dust shares", []int64{1, 1, 1, 1_000_000}, 2000, 2, []uint64{1000}, []uint64{0, 0, 0, 799}, 201},
		// 1 bps of 3001 rounds to 0; 3001 / 2 leaves 1.
		{"tiny treasury share", []int64{1, 1}, 1, 2, []uint64{3001}, []uint64{1500, 1500}, 1},
		{"epoch of one block", []int64{1, 1, 1}, 2000, 1, []uint64{1001, 1000, 1000}, []uint64{800, 800, 800}, 601},
		{"epoch of three blocks", []int64{2, 1}, 2000, 3, []uint64{1500, 1500}, []uint64{1600, 800}, 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := flatFeeParams()
			p.MinGasPrice, p.TreasuryFeeBps, p.FeeEpochBlocks = minFee, tt.bps, tt.epoch
			h := newHarness(t, harnessOpts{powers: tt.powers, params: &p, accounts: len(tt.fees)})
			var pool uint64
			var txs [][]byte
			for i, fee := range tt.fees {
				pool += fee
				txs = append(txs, signTx(t, h.keys[i], testChain, 0, fee, "", &ledger.Transfer{To: h.keys[0].Address(), Amount: 1}).Bytes())
			}
			for i, r := range h.Block(txs...) {
				if r.Code != ledger.CodeOK {
					t.Fatalf("tx %d: code %d (%s)", i, r.Code, r.Log)
				}
			}
			for h.Height < int64(tt.epoch) {
				if got := h.Bucket(ledger.BucketFees); got != pool {
					t.Fatalf("height %d, before the epoch: fees bucket %d, want %d", h.Height, got, pool)
				}
				if len(h.EndEvents) != 0 {
					t.Fatalf("height %d, before the epoch: end events %v", h.Height, h.EndEvents)
				}
				h.Block()
			}

			var paid uint64
			for i, op := range h.Ops {
				if got := h.Account(op.Address()).Balance; got != tt.wantVals[i] {
					t.Errorf("validator %d (power %d) got %d, want %d", i, tt.powers[i], got, tt.wantVals[i])
				}
				paid += tt.wantVals[i]
			}
			if got := h.Bucket(ledger.BucketTreasury); got != tt.wantTreasury {
				t.Errorf("treasury = %d, want %d", got, tt.wantTreasury)
			}
			if got := h.Bucket(ledger.BucketFees); got != 0 {
				t.Errorf("fees bucket = %d after payout, want 0", got)
			}
			want := ledger.Event{Type: "bank.fees_distributed", Attrs: []ledger.Attr{
				{Key: "pool", Value: fmt.Sprint(pool)},
				{Key: "validators", Value: fmt.Sprint(paid)},
				{Key: "treasury", Value: fmt.Sprint(tt.wantTreasury)},
			}}
			if len(h.EndEvents) != 1 || fmt.Sprint(h.EndEvents[0]) != fmt.Sprint(want) {
				t.Errorf("end events = %+v, want [%+v]", h.EndEvents, want)
			}

			// The next epoch has an empty pool: nothing moves, nothing is said.
			treasury := h.Bucket(ledger.BucketTreasury)
			for h.Height < 2*int64(tt.epoch) {
				h.Block()
			}
			if len(h.EndEvents) != 0 || h.Bucket(ledger.BucketTreasury) != treasury {
				t.Errorf("empty epoch: events %v, treasury %d (was %d)", h.EndEvents, h.Bucket(ledger.BucketTreasury), treasury)
			}
		})
	}
}

// scenario builds a fixed sequence of blocks with transfers, failures and
// fee payouts. tweak changes one amount in block 5.
func scenario(keys []*identity.Key, tweak bool) [][][]byte {
	nonces := make([]uint64, len(keys))
	var blocks [][][]byte
	for b := range 10 {
		var txs [][]byte
		for i := range 2 + b%3 {
			from := (b + i) % len(keys)
			to := keys[(from+1+i)%len(keys)].Address()
			amount := uint64(1000*(b+1) + i)
			if tweak && b == 5 && i == 0 {
				amount++
			}
			tx := &ledger.Tx{ChainID: testChain, Nonce: nonces[from], GasLimit: 1, GasPrice: minFee + uint64(b), Msg: &ledger.Transfer{To: to, Amount: amount}}
			if err := tx.Sign(keys[from]); err != nil {
				panic(err)
			}
			nonces[from]++
			txs = append(txs, tx.Bytes())
		}
		txs = append(txs, []byte("garbage"))
		if b%4 == 3 {
			txs = append(txs, txs[0]) // a replay
		}
		blocks = append(blocks, txs)
	}
	return blocks
}

func TestDeterminism(t *testing.T) {
	p := flatFeeParams()
	p.FeeEpochBlocks = 4
	opts := harnessOpts{params: &p, powers: []int64{3, 2, 1}, accounts: 5}
	a, b, c := newHarness(t, opts), newHarness(t, opts), newHarness(t, opts)
	if !bytes.Equal(a.AppHash, b.AppHash) {
		t.Fatalf("genesis app hashes differ: %x vs %x", a.AppHash, b.AppHash)
	}
	blocks := scenario(a.keys, false)
	tweaked := scenario(a.keys, true)
	for i := range blocks {
		a.Block(blocks[i]...)
		b.Block(blocks[i]...)
		c.Block(tweaked[i]...)
		if !bytes.Equal(a.AppHash, b.AppHash) {
			t.Fatalf("height %d: app hashes differ: %x vs %x", a.Height, a.AppHash, b.AppHash)
		}
		if !bytes.Equal(a.AuditRoot, b.AuditRoot) {
			t.Fatalf("height %d: audit roots differ", a.Height)
		}
		if !sort.SliceIsSorted(a.Changes.Writes, func(i, j int) bool {
			return bytes.Compare(a.Changes.Writes[i].Key, a.Changes.Writes[j].Key) < 0
		}) {
			t.Errorf("height %d: writes are not sorted by key", a.Height)
		}
		if diverged := !bytes.Equal(a.AppHash, c.AppHash); diverged != (i >= 5) {
			t.Errorf("height %d: tweaked chain diverged = %v, want %v", a.Height, diverged, i >= 5)
		}
	}
	if !maps.EqualFunc(a.St, b.St, bytes.Equal) {
		t.Errorf("states differ after %d blocks", a.Height)
	}
	if a.Bucket(ledger.BucketTreasury) == 0 {
		t.Errorf("the scenario never paid fees out; it should exercise EndBlock")
	}
}

// TestAppHashCommitsToHeader: the same writes at another height, or
// after another previous app hash, give another app hash.
func TestAppHashCommitsToHeader(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	hdr := h.NextHeader()
	hash := func(hdr ledger.Header) []byte {
		b, err := h.M.BeginBlock(h.St, hdr)
		if err != nil {
			t.Fatal(err)
		}
		ch, _, err := b.End()
		if err != nil {
			t.Fatal(err)
		}
		return ch.AppHash
	}
	base := hash(hdr)
	if !bytes.Equal(base, hash(hdr)) {
		t.Fatal("the same block gave two app hashes")
	}
	h2 := hdr
	h2.Height++
	h3 := hdr
	h3.PrevAppHash = append(bytes.Clone(hdr.PrevAppHash), 0)
	for name, other := range map[string]ledger.Header{"height": h2, "prev app hash": h3} {
		if bytes.Equal(base, hash(other)) {
			t.Errorf("changing the %s did not change the app hash", name)
		}
	}
}

func TestAuditLog(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	k := h.keys
	// Block 1: two transfers (a leaf and an event each), a failed message
	// (one leaf), garbage (one leaf).
	res := h.Block(
		h.transfer(k[0], k[1].Address(), 1, 0),
		h.transfer(k[1], k[2].Address(), 2, 0),
		h.transfer(k[2], k[3].Address(), 10*bal, 0),
		[]byte("junk"),
	)
	if h.AuditSize != 1+2*2+1+1 {
		t.Errorf("audit size after block 1 = %d, want %d", h.AuditSize, 1+2*2+1+1)
	}
	rootAfter1 := h.AuditRoot
	h.Block() // an empty block adds nothing
	if h.AuditSize != 7 || !bytes.Equal(h.AuditRoot, rootAfter1) {
		t.Errorf("empty block changed the audit log: size %d", h.AuditSize)
	}

	l := h.AuditLog()
	if l.Size() != h.AuditSize || !bytes.Equal(l.Root(), h.AuditRoot) {
		t.Errorf("audit.Load: size %d root %x, want %d %x", l.Size(), l.Root(), h.AuditSize, h.AuditRoot)
	}
	// The root is the RFC 6962 root of the stored leaves.
	ref := testonly.New(rfc6962.DefaultHasher)
	kv := ledgertest.PrefixKV{M: h.St, P: ledgertest.AuditPrefix}
	for i := range h.AuditSize {
		leaf := kv.Get(audit.LeafKey(i))
		if leaf == nil {
			t.Fatalf("leaf %d is not stored", i)
		}
		ref.AppendData(leaf)
	}
	if !bytes.Equal(ref.Hash(), h.AuditRoot) {
		t.Errorf("audit root %x, want %x from the stored leaves", h.AuditRoot, ref.Hash())
	}
	// Leaf 1 is block 1's first transaction, leaf 2 its event, leaf 3 the
	// second transaction; each transaction leaf names its hash.
	for _, c := range []struct {
		leaf uint64
		hash ledger.Hash
	}{{1, res[0].Hash}, {3, res[1].Hash}, {5, res[2].Hash}, {6, res[3].Hash}} {
		if leaf := kv.Get(audit.LeafKey(c.leaf)); !bytes.Contains(leaf, c.hash[:]) {
			t.Errorf("leaf %d does not hold tx hash %v", c.leaf, c.hash)
		}
		if got, err := audit.TxIndex(kv, c.hash[:]); err != nil || got != c.leaf {
			t.Errorf("TxIndex(%v) = %d, %v; want %d", c.hash, got, err, c.leaf)
		}
	}
	if leaf := kv.Get(audit.LeafKey(2)); !bytes.Contains(leaf, []byte("bank.transfer")) {
		t.Errorf("leaf 2 = %q, want the bank.transfer event", leaf)
	}
	// package leaf, which verifiers import, reads every leaf the ledger
	// writes.
	for i := range h.AuditSize {
		if _, err := leaf.Decode(kv.Get(audit.LeafKey(i))); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	want := []struct {
		kind   leaf.Kind
		height int64
		tx     int
	}{{leaf.KindEvent, 0, -1}, {leaf.KindTx, 1, 0}, {leaf.KindEvent, 1, 0}, {leaf.KindTx, 1, 1}, {leaf.KindEvent, 1, 1}, {leaf.KindTx, 1, 2}, {leaf.KindTx, 1, 3}}
	for i, w := range want {
		e, _ := leaf.Decode(kv.Get(audit.LeafKey(uint64(i))))
		var height int64
		var tx int
		switch e.Kind {
		case leaf.KindTx:
			height, tx = e.Tx.Height, int(e.Tx.Index)
		case leaf.KindEvent:
			height, tx = e.Event.Height, e.Event.Tx
		}
		if e.Kind != w.kind || height != w.height || tx != w.tx {
			t.Errorf("leaf %d: %s at height %d tx %d, want %s at %d tx %d", i, e.Kind, height, tx, w.kind, w.height, w.tx)
		}
	}
	if e, _ := leaf.Decode(kv.Get(audit.LeafKey(1))); e.Tx.Hash != res[0].Hash || e.Tx.Code != 0 || !e.Tx.Decoded || e.Tx.Signer != k[0].Address() || e.Tx.MsgType == "" {
		t.Errorf("leaf 1 = %+v, want the first transfer, decoded", e.Tx)
	}
	if e, _ := leaf.Decode(kv.Get(audit.LeafKey(6))); e.Tx.Decoded || e.Tx.Code == 0 || e.Tx.Hash != res[3].Hash {
		t.Errorf("leaf 6 = %+v, want the junk transaction, failed and not decoded", e.Tx)
	}
	if e, _ := leaf.Decode(kv.Get(audit.LeafKey(2))); e.Event.Type != "bank.transfer" || len(e.Event.Attrs) == 0 {
		t.Errorf("leaf 2 = %+v, want the bank.transfer event", e.Event)
	}
}

func TestInitChain(t *testing.T) {
	alice, bob := testKey("alice").Address(), testKey("bob").Address()
	cons := base64.StdEncoding.EncodeToString(make([]byte, 32))
	valJSON := func(name string, op identity.Address, key string, power int) string {
		return fmt.Sprintf(`{"name":%q,"operator":%q,"cons_pub_key":%q,"power":%d}`, name, op, key, power)
	}
	state := func(params, accounts, validators string) string {
		return fmt.Sprintf(`{"params":%s,"accounts":[%s],"validators":[%s]}`, params, accounts, validators)
	}
	params := `{"min_gas_price":"1","max_block_gas":"50000000","gas":{"tx_base":600,"tx_byte":2},"treasury_fee_bps":2000,"fee_epoch_blocks":100,"max_tx_bytes":16384}`
	acct := func(a identity.Address, bal string) string { return fmt.Sprintf(`{"address":%q,"balance":%q}`, a, bal) }
	val := valJSON("v0", alice, cons, 10)

	t.Run("valid", func(t *testing.T) {
		m := ledger.New(ledger.DefaultRegistry())
		app := state(params, acct(alice, "5000000")+","+acct(bob, "18446744073704551615"), val)
		ch, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: testChain, Time: t0}, []byte(app))
		if err != nil {
			t.Fatal(err)
		}
		st := ledger.MemReader{}
		st.Apply(ch.Writes)
		ledgertest.CheckConservation(t, m, st, 0, math.MaxUint64)
		if got, err := ledger.ReadAccount(st, alice); err != nil || got != (ledger.Account{Balance: 5_000_000}) {
			t.Errorf("alice = %+v, %v", got, err)
		}
		vs, err := ledger.ReadValidators(st)
		if err != nil || len(vs) != 1 || vs[0].Name != "v0" || vs[0].Operator != alice || vs[0].Power != 10 || len(vs[0].ConsPubKey) != 32 {
			t.Errorf("validators = %+v, %v", vs, err)
		}
		if _, err := m.NewChecker(st, ledger.Header{ChainID: testChain, Height: 1}); err != nil {
			t.Errorf("NewChecker after genesis: %v", err)
		}
	})

	tests := []struct {
		name string
		app  string
	}{
		{"not JSON", `{"params":`},
		{"not an object", `[1,2]`},
		{"no validators", state(params, acct(alice, "1"), "")},
		{"allocated twice", state(params, acct(alice, "1")+","+acct(alice, "2"), val)},
		{"allocations overflow", state(params, acct(alice, "18446744073709551615")+","+acct(bob, "1"), val)},
		{"balance not a string", state(params, `{"address":"`+alice.String()+`","balance":5}`, val)},
		{"bad address", state(params, `{"address":"did:key:nope","balance":"5"}`, val)},
		{"short consensus key", state(params, "", valJSON("v", alice, base64.StdEncoding.EncodeToString(make([]byte, 31)), 1))},
		{"zero power", state(params, "", valJSON("v", alice, cons, 0))},
		{"negative power", state(params, "", valJSON("v", alice, cons, -1))},
		{"treasury over 100%", state(`{"treasury_fee_bps":10001,"max_tx_bytes":16384}`, "", val)},
		{"max_tx_bytes too small", state(`{"max_tx_bytes":255}`, "", val)},
		{"max_tx_bytes too large", state(fmt.Sprintf(`{"max_tx_bytes":%d}`, ledger.MaxTxBytes+1), "", val)},
		// The state stores names of at most 64 bytes; a longer one would
		// be written at genesis and fail to decode at the first payout.
		{"validator name too long", state(params, "", valJSON(strings.Repeat("v", 65), alice, cons, 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ledger.New(ledger.DefaultRegistry())
			_, err := m.InitChain(ledger.MemReader{}, ledger.Header{ChainID: testChain, Time: t0}, []byte(tt.app))
			if err == nil {
				t.Fatalf("InitChain succeeded, want an error")
			}
			if k := errs.KindOf(err); k != errs.Invalid {
				t.Errorf("error kind = %s (%v), want %s", k, err, errs.Invalid)
			}
		})
	}
}

func TestBeginBlockBeforeGenesis(t *testing.T) {
	m := ledger.New(ledger.DefaultRegistry())
	if _, err := m.BeginBlock(ledger.MemReader{}, ledger.Header{ChainID: testChain, Height: 1}); err == nil {
		t.Error("BeginBlock over empty state succeeded")
	}
	if _, err := m.NewChecker(ledger.MemReader{}, ledger.Header{ChainID: testChain, Height: 1}); err == nil {
		t.Error("NewChecker over empty state succeeded")
	}
}

// TestVerifiedSkipsSignature: Deliver trusts a signature CheckTx verified,
// and nothing else.
func TestVerifiedSkipsSignature(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	bad := flipSig(h.transfer(h.keys[0], h.keys[1].Address(), 1, 0))
	b, err := h.M.BeginBlock(h.St, h.NextHeader())
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Deliver(bad, false); r.Code != ledger.CodeUnauthorized {
		t.Errorf("unverified: code %d, want %d", r.Code, ledger.CodeUnauthorized)
	}
	if r := b.Deliver(bad, true); r.Code != ledger.CodeOK {
		t.Errorf("verified: code %d (%s), want %d", r.Code, r.Log, ledger.CodeOK)
	}
}

// TestModuleMessageFailureIsUndone: a module's handler that moves value,
// writes and emits, then fails, leaves only the fee and the nonce behind.
func TestModuleMessageFailureIsUndone(t *testing.T) {
	h := newHarness(t, harnessOpts{reg: ledger.DefaultRegistry(testModule{})})
	k := h.keys[0]
	lock := func(nonce, amount uint64, fail bool) []byte {
		return signTx(t, k, testChain, nonce, minFee, "", &lockMsg{Amount: amount, Fail: fail}).Bytes()
	}
	steps := []struct {
		name       string
		tx         []byte
		code       uint32
		wantLocked uint64
		wantBal    uint64
		wantEvents int
	}{
		{"lock", lock(0, 300, false), ledger.CodeOK, 300, bal - 300 - minFee, 1},
		{"lock then fail", lock(1, 200, true), ledger.CodeConflict, 300, bal - 300 - 2*minFee, 0},
		{"lock too much", lock(2, bal, false), ledger.CodeInsufficient, 300, bal - 300 - 3*minFee, 0},
	}
	for _, s := range steps {
		res := h.Block(s.tx)[0]
		if res.Code != s.code {
			t.Errorf("%s: code %d (%s), want %d", s.name, res.Code, res.Log, s.code)
		}
		if got := h.Bucket(lockBucket); got != s.wantLocked {
			t.Errorf("%s: locked %d, want %d", s.name, got, s.wantLocked)
		}
		if got := h.Account(k.Address()).Balance; got != s.wantBal {
			t.Errorf("%s: balance %d, want %d", s.name, got, s.wantBal)
		}
		if len(res.Events) != s.wantEvents {
			t.Errorf("%s: events %v, want %d", s.name, res.Events, s.wantEvents)
		}
		touched := false
		for _, c := range h.Changes.Writes {
			touched = touched || string(c.Key) == "test/touched"
		}
		if touched != (s.code == ledger.CodeOK) {
			t.Errorf("%s: handler's write persisted = %v", s.name, touched)
		}
	}
	if got := h.Account(k.Address()).Nonce; got != 3 {
		t.Errorf("nonce = %d, want 3", got)
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		want uint32
	}{
		{nil, ledger.CodeOK},
		{fmt.Errorf("%w: x", ledger.ErrWrongChain), ledger.CodeWrongChain},
		{fmt.Errorf("%w: x", ledger.ErrBadNonce), ledger.CodeBadNonce},
		{fmt.Errorf("%w: x", ledger.ErrFeeTooLow), ledger.CodeFee},
		{ledger.ErrBadSignature, ledger.CodeUnauthorized},
		{errs.E(errs.Invalid, "x"), ledger.CodeInvalid},
		{errs.E(errs.Insufficient, "x"), ledger.CodeInsufficient},
		{errs.E(errs.TooLarge, "x"), ledger.CodeTooLarge},
		{errs.E(errs.NotFound, "x"), ledger.CodeNotFound},
		{errs.E(errs.Conflict, "x"), ledger.CodeConflict},
		{errors.New("x"), ledger.CodeInternal},
	}
	for _, tt := range tests {
		got := ledger.CodeOf(tt.err)
		if got != tt.want {
			t.Errorf("CodeOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if tt.err != nil && errs.KindOf(tt.err) != errs.Internal && ledger.KindOfCode(got) != errs.KindOf(tt.err) {
			t.Errorf("KindOfCode(%d) = %s, want %s", got, ledger.KindOfCode(got), errs.KindOf(tt.err))
		}
	}
}
