package ledger_test

import (
	"testing"

	"github.com/stratus-cloud/stratus/ledger"
)

func (h *harness) checker() *ledger.Checker {
	h.T.Helper()
	c, err := h.M.NewChecker(h.St, h.NextHeader())
	if err != nil {
		h.T.Fatalf("NewChecker: %v", err)
	}
	return c
}

// TestChecker runs a sequence of transactions through one mempool view. A
// refused transaction must leave the view as it was, so the sender's next
// good transaction is still accepted.
func TestChecker(t *testing.T) {
	const b = 10_000 // balance of each account
	h := newHarness(t, harnessOpts{balance: b})
	k, to := h.keys[0], h.keys[1].Address()
	c := h.checker()
	steps := []struct {
		name      string
		raw       []byte
		verify    bool
		wantCode  uint32
		wantBal   uint64 // sender, as the checker sees it, after the step
		wantNonce uint64
	}{
		{"first", h.transfer(k, to, 1000, 0), true, ledger.CodeOK, b - 2000, 1},
		{"second", h.transfer(k, to, 1000, 1), true, ledger.CodeOK, b - 4000, 2},
		{"replay of the second", h.transfer(k, to, 1000, 1), true, ledger.CodeBadNonce, b - 4000, 2},
		{"gap nonce", h.transfer(k, to, 1000, 3), true, ledger.CodeBadNonce, b - 4000, 2},
		{"old nonce", h.transfer(k, to, 1, 0), true, ledger.CodeBadNonce, b - 4000, 2},
		// 6000 left: 5000 + fee fits the committed balance but not what the
		// pending transactions leave.
		{"overdraft across pending", h.transfer(k, to, 5001, 2), true, ledger.CodeInsufficient, b - 4000, 2},
		{"bad signature", flipSig(h.transfer(k, to, 1, 2)), true, ledger.CodeUnauthorized, b - 4000, 2},
		{"wrong chain", signTx(t, k, "elsewhere", 2, minFee, "", &ledger.Transfer{To: to, Amount: 1}).Bytes(), true, ledger.CodeWrongChain, b - 4000, 2},
		{"fee too low", signTx(t, k, testChain, 2, minFee-1, "", &ledger.Transfer{To: to, Amount: 1}).Bytes(), true, ledger.CodeFee, b - 4000, 2},
		{"zero amount", h.transfer(k, to, 0, 2), true, ledger.CodeInvalid, b - 4000, 2},
		{"garbage", []byte{1, 2, 3}, true, ledger.CodeInvalid, b - 4000, 2},
		{"exactly what is left", h.transfer(k, to, 5000, 2), true, ledger.CodeOK, 0, 3},
		{"cannot pay the fee", h.transfer(k, to, 1, 3), true, ledger.CodeInsufficient, 0, 3},
	}
	for _, s := range steps {
		toBefore := c.Account(to)
		tx, err := c.Check(s.raw, s.verify)
		if got := ledger.CodeOf(err); got != s.wantCode {
			t.Errorf("%s: code %d (%v), want %d", s.name, got, err, s.wantCode)
		}
		if err == nil && tx == nil {
			t.Errorf("%s: accepted without a decoded tx", s.name)
		}
		if got := c.Account(k.Address()); got.Balance != s.wantBal || got.Nonce != s.wantNonce {
			t.Errorf("%s: sender in checker = %+v, want balance %d nonce %d", s.name, got, s.wantBal, s.wantNonce)
		}
		if err != nil && c.Account(to) != toBefore {
			t.Errorf("%s: refused tx changed the recipient to %+v", s.name, c.Account(to))
		}
	}
	// The checker's view is its own: committed state is untouched.
	if got := h.Account(k.Address()); got.Balance != b || got.Nonce != 0 {
		t.Errorf("committed sender = %+v after checks", got)
	}
}

// TestCheckerMatchesBlock: what the checker accepts in order, a block
// executes with the same outcome.
func TestCheckerMatchesBlock(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.checker()
	var accepted [][]byte
	for i := range 6 {
		raw := h.transfer(h.keys[i%2], h.keys[2].Address(), uint64(100+i), uint64(i/2))
		if _, err := c.Check(raw, true); err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		accepted = append(accepted, raw)
	}
	want := map[int]uint64{0: c.Account(h.keys[0].Address()).Balance, 1: c.Account(h.keys[1].Address()).Balance, 2: c.Account(h.keys[2].Address()).Balance}
	for i, r := range h.Block(accepted...) {
		if r.Code != ledger.CodeOK {
			t.Errorf("tx %d: code %d (%s)", i, r.Code, r.Log)
		}
	}
	for i, w := range want {
		if got := h.Account(h.keys[i].Address()).Balance; got != w {
			t.Errorf("account %d: block gave %d, checker predicted %d", i, got, w)
		}
	}
}

// TestCheckerWithoutVerify: with verify false the caller vouches for the
// signature (it was verified before), so a bad one is not noticed.
func TestCheckerWithoutVerify(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c := h.checker()
	bad := flipSig(h.transfer(h.keys[0], h.keys[1].Address(), 1, 0))
	if _, err := c.Check(bad, true); ledger.CodeOf(err) != ledger.CodeUnauthorized {
		t.Errorf("verify=true: %v, want unauthorized", err)
	}
	if _, err := c.Check(bad, false); err != nil {
		t.Errorf("verify=false: %v", err)
	}
}
