package ledgertest_test

import (
	"encoding/binary"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/money"
)

// recorder is a testing.TB that records failures instead of failing, so
// the tests can check that a check fires. Fatal stops the check by
// panicking; check recovers.
type recorder struct {
	testing.TB
	failures []string
}

type stop struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any) { r.failures = append(r.failures, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(stop{})
}
func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	panic(stop{})
}

// conservation runs CheckConservation on st and returns what it reported.
func conservation(t *testing.T, c *ledgertest.Chain, st ledger.MemReader) (failures []string) {
	r := &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != (stop{}) {
			panic(p)
		}
		failures = r.failures
	}()
	ledgertest.CheckConservation(r, c.M, st, c.Height, c.Supply)
	return nil
}

// TestConservationCatchesLeaks breaks committed state the ways a faulty
// module could, and wants each caught.
func TestConservationCatchesLeaks(t *testing.T) {
	c := ledgertest.New(t, ledgertest.Options{Funded: []string{"a", "b"}})
	if f := conservation(t, c, c.St); len(f) != 0 {
		t.Fatalf("genesis state reported: %v", f)
	}
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	a := c.Key("a").Address()
	tests := []struct {
		name   string
		break_ func(st ledger.MemReader)
		want   string
	}{
		{"an account credited from nowhere", func(st ledger.MemReader) {
			k := ledger.AccountPrefix + string(a[:])
			acct := ledger.DecodeAccountValue(st[k])
			st[k] = append(u64(acct.Balance+1), u64(acct.Nonce)...) // balance, then nonce
			if got := ledger.DecodeAccountValue(st[k]); got.Balance != acct.Balance+1 {
				t.Fatalf("account layout changed: wrote balance %d, read %+v", acct.Balance+1, got)
			}
		}, "balances bucket"},
		{"value in an unlisted bucket", func(st ledger.MemReader) {
			st[ledgertest.BucketPrefix+"nobody_lists_me"] = u64(1)
		}, "not in Machine.Buckets()"},
		{"a token balance beyond its supply", func(st ledger.MemReader) {
			st["denom/b/gold/"+string(a[:])] = u64(5)
			st["denom/s/gold"] = u64(4)
			if d, _, ok := ledger.DenomKey([]byte("denom/b/gold/" + string(a[:]))); !ok || d != "gold" {
				t.Fatal("denomination key layout changed")
			}
		}, "gold balances add up to 5, supply 4"},
		{"a token without a supply", func(st ledger.MemReader) {
			st["denom/b/gold/"+string(a[:])] = u64(5)
		}, "gold has balances but no supply"},
		{"the supply changed", func(st ledger.MemReader) {
			s, _ := ledger.ReadSupply(st)
			st["supply"] = u64(s + 1)
			if got, _ := ledger.ReadSupply(st); got != s+1 {
				t.Fatalf("supply key changed: wrote %d, read %d", s+1, got)
			}
		}, "supply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := maps.Clone(c.St)
			tt.break_(st)
			f := conservation(t, c, st)
			if !strings.Contains(strings.Join(f, "\n"), tt.want) {
				t.Errorf("reported %q, want a failure about %q", f, tt.want)
			}
		})
	}
}

// funded is the default genesis balance.
const funded = 1_000_000 * money.UstrPerSTR

// TestTxNonces: a message that fails its own Validate uses no nonce, any
// other does, and after a block the nonce is what state says.
func TestTxNonces(t *testing.T) {
	c := ledgertest.New(t, ledgertest.Options{Funded: []string{"a", "b"}})
	a, b := c.Key("a"), c.Key("b").Address()
	bad := c.Tx(a, &ledger.Transfer{To: b}) // amount 0: invalid
	if n := c.Nonce[a.Address()]; n != 0 {
		t.Fatalf("nonce after an invalid message = %d, want 0", n)
	}
	good := c.Tx(a, &ledger.Transfer{To: b, Amount: 5})
	c.Tx(a, &ledger.Transfer{To: b, Amount: 6}) // signed, never sent
	if n := c.Nonce[a.Address()]; n != 2 {
		t.Fatalf("nonce after two valid messages = %d, want 2", n)
	}
	res := c.Block(bad, good)
	if res[0].Code == ledger.CodeOK || res[1].Code != ledger.CodeOK {
		t.Fatalf("results %+v: want the invalid transfer refused and the good one through", res)
	}
	if n := c.Nonce[a.Address()]; n != 1 {
		t.Fatalf("nonce after the block = %d, want 1 as state says", n)
	}
	if c.Balance(b) != funded+5 {
		t.Fatalf("b holds %d", c.Balance(b))
	}
}

// TestForkAndReplay: a fork continues on its own, and both histories
// replay to the same app hashes.
func TestForkAndReplay(t *testing.T) {
	c := ledgertest.New(t, ledgertest.Options{Funded: []string{"a", "b"}})
	a, b := c.Key("a"), c.Key("b").Address()
	c.OK(a, &ledger.Transfer{To: b, Amount: 1})
	checked := 0
	c.AddCheck(func(testing.TB, *ledgertest.Chain) { checked++ })
	d := c.Fork()
	d.OKAfter(time.Minute, d.Tx(a, &ledger.Transfer{To: b, Amount: 2}))
	if got := c.Balance(b); got != funded+1 {
		t.Errorf("the original's b holds %d after the fork's transfer", got)
	}
	if got := d.Balance(b); got != funded+3 {
		t.Errorf("the fork's b holds %d", got)
	}
	if c.Height != 1 || d.Height != 2 || c.Nonce[a.Address()] != 1 || d.Nonce[a.Address()] != 2 {
		t.Errorf("heights %d, %d and nonces %d, %d after the fork", c.Height, d.Height, c.Nonce[a.Address()], d.Nonce[a.Address()])
	}
	if checked != 2 { // once when added, once after the fork's block
		t.Errorf("the added check ran %d times, want 2", checked)
	}
	c.Advance(time.Hour)
	if c.Height != 2 || !c.Now.Equal(ledgertest.T0.Add(time.Hour+time.Second)) || c.SupplyNow() != c.Supply {
		t.Errorf("after Advance: height %d at %v, supply %d of %d", c.Height, c.Now, c.SupplyNow(), c.Supply)
	}
	c.Replay()
	d.Replay()
}
