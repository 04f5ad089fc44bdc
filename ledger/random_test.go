package ledger_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// shadow is the ledger's documented rules written out plainly, to check the
// machine against: an ante failure changes nothing, a message failure keeps
// the fee and the nonce, a success moves the fee and the amount; every
// FeeEpochBlocks the fees are paid out by power with the rest to treasury.
type shadow struct {
	params   ledger.Params
	vals     []ledger.Validator
	accts    map[identity.Address]*ledger.Account
	fees     uint64
	treasury uint64
}

func (s *shadow) acct(a identity.Address) *ledger.Account {
	if s.accts[a] == nil {
		s.accts[a] = &ledger.Account{}
	}
	return s.accts[a]
}

// txDesc is a transaction as the workload generated it.
type txDesc struct {
	kind    string
	raw     []byte
	garbage bool     // not a transaction at all
	anyOf   []uint32 // a mutated transaction: one of these codes, no effect
	sigOK   bool
	signer  identity.Address
	chain   string
	nonce   uint64
	fee     uint64
	amount  uint64
	to      identity.Address
}

// apply predicts d's result code and applies its effects to the shadow.
// ante reports whether it passed the ante checks (and so used its nonce).
func (s *shadow) apply(d *txDesc) (code uint32, ante bool) {
	switch {
	case d.garbage:
		return ledger.CodeInvalid, false
	case d.anyOf != nil:
		return 0, false
	case !d.sigOK:
		return ledger.CodeUnauthorized, false
	case d.chain != testChain:
		return ledger.CodeWrongChain, false
	case uint64(len(d.raw)) > s.params.MaxTxBytes:
		return ledger.CodeTooLarge, false
	case d.amount == 0 || d.to.IsZero():
		return ledger.CodeInvalid, false
	}
	from := s.acct(d.signer)
	switch {
	case d.nonce != from.Nonce:
		return ledger.CodeBadNonce, false
	case d.fee < s.params.MinGasPrice:
		return ledger.CodeFee, false
	case from.Balance < d.fee:
		return ledger.CodeInsufficient, false
	}
	from.Balance -= d.fee
	from.Nonce++
	s.fees += d.fee
	if d.amount > from.Balance {
		return ledger.CodeInsufficient, true
	}
	from.Balance -= d.amount
	s.acct(d.to).Balance += d.amount
	return ledger.CodeOK, true
}

func (s *shadow) endBlock(height int64) {
	if s.params.FeeEpochBlocks == 0 || height%int64(s.params.FeeEpochBlocks) != 0 || s.fees == 0 {
		return
	}
	mulDiv := func(a, b, c uint64) uint64 {
		x := new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
		return x.Div(x, new(big.Int).SetUint64(c)).Uint64()
	}
	var total uint64
	for _, v := range s.vals {
		total += uint64(v.Power)
	}
	rest := s.fees - mulDiv(s.fees, s.params.TreasuryFeeBps, 10_000)
	paid := uint64(0)
	for _, v := range s.vals {
		share := mulDiv(rest, uint64(v.Power), total)
		if share > 0 {
			s.acct(v.Operator).Balance += share
			paid += share
		}
	}
	s.treasury += s.fees - paid
	s.fees = 0
}

// workload generates random transactions against the shadow.
type workload struct {
	t       *testing.T
	r       *rand.Rand
	h       *harness
	s       *shadow
	senders []*identity.Key
	fresh   int
	pool    []*txDesc // transactions that used their nonce, for replays
}

func (w *workload) recipient(from *identity.Key) identity.Address {
	switch n := w.r.IntN(20); {
	case n == 0:
		return from.Address()
	case n == 1:
		w.fresh++
		return testKey(fmt.Sprintf("fresh%d", w.fresh)).Address()
	default:
		return w.senders[w.r.IntN(len(w.senders))].Address()
	}
}

// sign builds d's transaction with key, filling in d.raw and d.signer.
func (w *workload) sign(d *txDesc, key *identity.Key, memo string) {
	tx := signTx(w.t, key, d.chain, d.nonce, d.fee, memo, &ledger.Transfer{To: d.to, Amount: d.amount})
	d.raw, d.signer, d.sigOK = tx.Bytes(), key.Address(), true
}

func (w *workload) next() *txDesc {
	r := w.r
	key := w.senders[r.IntN(len(w.senders))]
	a := w.s.acct(key.Address())
	d := &txDesc{chain: testChain, nonce: a.Nonce, fee: w.s.params.MinGasPrice + r.Uint64N(500), to: w.recipient(key)}
	spendable := uint64(0)
	if a.Balance > d.fee {
		spendable = a.Balance - d.fee
	}
	d.amount = 1 + r.Uint64N(max(spendable/4, 1))
	memo := strings.Repeat("m", r.IntN(3)*20)

	switch n := r.IntN(100); {
	case n < 40:
		d.kind = "valid"
	case n < 50:
		d.kind = "overdraft"
		d.amount = spendable + 1 + r.Uint64N(5000)
		if r.IntN(4) == 0 {
			d.amount = ^uint64(0)
		}
	case n < 58:
		d.kind = "bad nonce"
		d.nonce += 1 + r.Uint64N(3)
		if a.Nonce > 0 && r.IntN(2) == 0 {
			d.nonce = r.Uint64N(a.Nonce)
		}
	case n < 66:
		if len(w.pool) > 0 {
			d := *w.pool[r.IntN(len(w.pool))]
			d.kind = "replay"
			return &d
		}
		d.kind = "valid"
	case n < 72:
		d.kind = "bad signature"
		w.sign(d, key, memo)
		d.raw, d.sigOK = flipSig(d.raw), false
		return d
	case n < 75:
		d.kind = "wrong signer"
		other := w.senders[r.IntN(len(w.senders))]
		if other == key {
			d.kind = "valid"
			break
		}
		w.sign(d, key, memo)
		tx, err := ledger.DecodeTx(d.raw, w.h.M.Registry())
		if err != nil {
			w.t.Fatal(err)
		}
		d.raw, d.signer, d.sigOK = resign(w.t, tx, other.Address(), key), other.Address(), false
		return d
	case n < 80:
		d.kind = "wrong chain"
		d.chain = "test-2"
	case n < 85:
		d.kind = "garbage"
		raw := make([]byte, r.IntN(120))
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		return &txDesc{kind: d.kind, raw: raw, garbage: true}
	case n < 90:
		d.kind = "mutated"
		w.sign(d, key, memo)
		d.raw[r.IntN(len(d.raw))] ^= byte(1 + r.IntN(255))
		d.anyOf = []uint32{ledger.CodeInvalid, ledger.CodeUnauthorized}
		return d
	case n < 94:
		d.kind = "low fee"
		d.fee = r.Uint64N(w.s.params.MinGasPrice)
	case n < 97:
		d.kind = "zero amount"
		d.amount = 0
	default:
		d.kind = "oversize"
		memo = strings.Repeat("x", 200)
	}
	w.sign(d, key, memo)
	return d
}

// TestRandomWorkload runs 200 blocks of random good and bad transactions
// and, after every block, checks conservation and every account, the fees
// and the treasury against the shadow model.
func TestRandomWorkload(t *testing.T) {
	blocks := 200
	if testing.Short() {
		blocks = 50
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runWorkload(t, seed, blocks) })
	}
}

func runWorkload(t *testing.T, seed uint64, blocks int) {
	p := smallParams()
	p.FeeEpochBlocks = 10
	h := newHarness(t, harnessOpts{accounts: 27, balance: 200_000, powers: []int64{1, 2, 3}, params: p})
	s := &shadow{params: *p, vals: h.Vals, accts: map[identity.Address]*ledger.Account{}}
	for _, k := range h.keys {
		s.acct(k.Address()).Balance = 200_000
	}
	// The operators start with nothing and send too, so "cannot pay the
	// fee" comes up until their first payout.
	senders := append(slices.Clone(h.keys), h.Ops...)
	w := &workload{t: t, r: rand.New(rand.NewPCG(seed, 20250101)), h: h, s: s, senders: senders}

	kinds := map[string]map[uint32]int{}
	for range blocks {
		n := w.r.IntN(41)
		descs := make([]*txDesc, n)
		codes := make([]uint32, n)
		raws := make([][]byte, n)
		for i := range descs {
			d := w.next()
			code, ante := s.apply(d)
			if ante {
				w.pool = append(w.pool, d)
				if len(w.pool) > 64 {
					w.pool = w.pool[1:]
				}
			}
			descs[i], codes[i], raws[i] = d, code, d.raw
		}
		res := h.Block(raws...)
		s.endBlock(h.Height)

		for i, r := range res {
			d := descs[i]
			if kinds[d.kind] == nil {
				kinds[d.kind] = map[uint32]int{}
			}
			kinds[d.kind][r.Code]++
			if d.anyOf != nil {
				if !slices.Contains(d.anyOf, r.Code) {
					t.Fatalf("height %d tx %d (%s): code %d (%s), want one of %v", h.Height, i, d.kind, r.Code, r.Log, d.anyOf)
				}
				continue
			}
			if r.Code != codes[i] {
				t.Fatalf("height %d tx %d (%s): code %d (%s), want %d", h.Height, i, d.kind, r.Code, r.Log, codes[i])
			}
		}
		for a, want := range s.accts {
			if got := h.Account(a); got != *want {
				t.Fatalf("height %d: account %s = %+v, shadow says %+v", h.Height, a, got, *want)
			}
		}
		for k := range h.St {
			if a, ok := strings.CutPrefix(k, ledger.AccountPrefix); ok && s.accts[identity.Address([]byte(a))] == nil {
				t.Fatalf("height %d: account %x exists but was never touched", h.Height, a)
			}
		}
		if got := h.Bucket(ledger.BucketFees); got != s.fees {
			t.Fatalf("height %d: fees bucket %d, shadow says %d", h.Height, got, s.fees)
		}
		if got := h.Bucket(ledger.BucketTreasury); got != s.treasury {
			t.Fatalf("height %d: treasury %d, shadow says %d", h.Height, got, s.treasury)
		}
	}
	// The workload must have exercised what it claims to.
	for _, want := range []struct {
		kind string
		code uint32
	}{
		{"valid", ledger.CodeOK}, {"overdraft", ledger.CodeInsufficient}, {"bad nonce", ledger.CodeBadNonce},
		{"replay", ledger.CodeBadNonce}, {"bad signature", ledger.CodeUnauthorized}, {"wrong signer", ledger.CodeUnauthorized},
		{"wrong chain", ledger.CodeWrongChain}, {"garbage", ledger.CodeInvalid}, {"low fee", ledger.CodeFee},
		{"zero amount", ledger.CodeInvalid}, {"oversize", ledger.CodeTooLarge},
	} {
		if kinds[want.kind][want.code] == 0 {
			t.Errorf("no %q transaction ended with code %d: %v", want.kind, want.code, kinds[want.kind])
		}
	}
	if s.treasury == 0 {
		t.Error("fees were never paid out")
	}
	t.Logf("%d blocks, audit log %d leaves; outcomes by kind: %v", h.Height, h.AuditSize, kinds)
}
