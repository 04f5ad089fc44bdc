package ledger_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// gasHarness is a chain with the default (real) gas table and the test
// module.
func gasHarness(t *testing.T, tweak func(*ledger.Params)) *harness {
	p := ledger.DefaultParams()
	if tweak != nil {
		tweak(&p)
	}
	return newHarness(t, harnessOpts{params: &p, reg: ledger.DefaultRegistry(testModule{})})
}

func gasTx(t *testing.T, k *identity.Key, nonce, limit, price uint64, msg ledger.Msg) []byte {
	t.Helper()
	tx := &ledger.Tx{ChainID: testChain, Nonce: nonce, GasLimit: limit, GasPrice: price, Msg: msg}
	if err := tx.Sign(k); err != nil {
		t.Fatal(err)
	}
	return tx.Bytes()
}

// TestGasFollowsTheWork: a transaction pays GasUsed x price, and the gas of
// more work grows by exactly what the table says that work costs.
func TestGasFollowsTheWork(t *testing.T) {
	h := gasHarness(t, nil)
	g := h.Params.Gas
	k := h.keys[0]
	run := func(nonce, writes uint64, price uint64) ledger.TxResult {
		t.Helper()
		before, fees := h.Account(k.Address()).Balance, h.Bucket(ledger.BucketFees)
		res := h.Block(gasTx(t, k, nonce, 10_000_000, price, &gasMsg{Writes: writes}))[0]
		if res.Code != ledger.CodeOK {
			t.Fatalf("code %d: %s", res.Code, res.Log)
		}
		if res.Fee != res.GasUsed*price {
			t.Errorf("fee %d, want gas used %d x price %d", res.Fee, res.GasUsed, price)
		}
		if got := before - h.Account(k.Address()).Balance; got != res.Fee {
			t.Errorf("balance fell by %d, want the fee %d (the rest of the gas limit refunded)", got, res.Fee)
		}
		if got := h.Bucket(ledger.BucketFees) - fees; got != res.Fee {
			t.Errorf("fees bucket grew by %d, want %d", got, res.Fee)
		}
		return res
	}
	// The same transaction at twice the price uses the same gas and
	// pays twice as much.
	a := run(0, 10, 1)
	b := run(1, 10, 2)
	if a.GasUsed != b.GasUsed || b.Fee != 2*a.Fee {
		t.Errorf("price 1: gas %d fee %d; price 2: gas %d fee %d", a.GasUsed, a.Fee, b.GasUsed, b.Fee)
	}
	// Ten more keys: ten more writes, and ten more keys walked (the first
	// ten are now in state, so their writes and steps cost the same).
	c := run(2, 20, 1)
	keyLen := uint64(len(testStore.Prefix()) + len(gasKey(0))) // gas counts the whole state key
	per := g.WriteFlat + g.WriteByte*(keyLen+gasValueBytes) + g.IterStep + g.ReadByte*(keyLen+gasValueBytes)
	if got, want := c.GasUsed-a.GasUsed, 10*per; got != want {
		t.Errorf("10 more writes cost %d gas, want %d (10 x %d)", got, want, per)
	}
	// Burning gas is charged as it says.
	d := h.Block(gasTx(t, k, 3, 10_000_000, 1, &gasMsg{Writes: 20, Burn: 12345}))[0]
	// (The larger varint makes the transaction a byte longer.)
	if got := d.GasUsed - c.GasUsed - g.TxByte; got != 12345 {
		t.Errorf("burning 12345 gas cost %d", got)
	}
	if a.GasUsed <= g.Intrinsic(len(gasTx(t, k, 0, 10_000_000, 1, &gasMsg{Writes: 10}))+2*binary.MaxVarintLen64) {
		t.Errorf("gas used %d is no more than the intrinsic gas", a.GasUsed)
	}
}

// TestOutOfGasKeepsOnlyTheFee: running out of gas fails the transaction
// with nothing changed but the fee for its whole gas limit, and the nonce.
func TestOutOfGasKeepsOnlyTheFee(t *testing.T) {
	h := gasHarness(t, nil)
	k := h.keys[0]
	// Find what the message needs by simulating it: the gas limit's and
	// price's encodings are charged at their longest, so the simulation's
	// large limit does not change the gas.
	sim, err := h.M.Simulate(h.St, h.NextHeader(), gasTx(t, k, 0, h.Params.MaxBlockGas, 1, &gasMsg{Writes: 50}))
	if err != nil || sim.Code != ledger.CodeOK {
		t.Fatalf("simulate: %v %+v", err, sim)
	}
	limit := sim.GasUsed - 1
	before, fees := h.Account(k.Address()), h.Bucket(ledger.BucketFees)
	res := h.Block(gasTx(t, k, 0, limit, 3, &gasMsg{Writes: 50}))[0]
	if res.Code != ledger.CodeOutOfGas || !strings.Contains(res.Log, "out of gas: the gas limit of") {
		t.Fatalf("code %d log %q, want out of gas", res.Code, res.Log)
	}
	if res.GasUsed != limit || res.Fee != 3*limit {
		t.Errorf("gas used %d fee %d, want %d and %d", res.GasUsed, res.Fee, limit, 3*limit)
	}
	after := h.Account(k.Address())
	if after.Balance != before.Balance-3*limit || after.Nonce != before.Nonce+1 {
		t.Errorf("account %+v -> %+v, want the fee %d taken and the nonce moved", before, after, 3*limit)
	}
	if got := h.Bucket(ledger.BucketFees) - fees; got != 3*limit {
		t.Errorf("fees bucket grew by %d, want %d", got, 3*limit)
	}
	for _, c := range h.Changes.Writes {
		if strings.HasPrefix(string(c.Key), "test/k/") {
			t.Errorf("a write of the failed message persisted: %q", c.Key)
		}
	}
	// With the simulated gas it passes.
	if res := h.Block(gasTx(t, k, 1, sim.GasUsed, 3, &gasMsg{Writes: 50}))[0]; res.Code != ledger.CodeOK || res.GasUsed != sim.GasUsed {
		t.Errorf("with the simulated limit: code %d (%s), gas %d, want %d", res.Code, res.Log, res.GasUsed, sim.GasUsed)
	}
}

// TestGasRefusedBeforeItRuns: a gas limit or price the chain does not take
// is refused before anything is charged.
func TestGasRefusedBeforeItRuns(t *testing.T) {
	h := gasHarness(t, nil)
	k := h.keys[0]
	msg := &gasMsg{Writes: 1}
	probe, _ := ledger.DecodeTx(gasTx(t, k, 0, 1000, 1, msg), h.M.Registry())
	intrinsic := h.Params.Gas.Intrinsic(probe.ChargedSize())
	tests := []struct {
		name string
		tx   []byte
		code uint32
		log  string
	}{
		{"below intrinsic", gasTx(t, k, 0, intrinsic-1, 1, msg), ledger.CodeOutOfGas, "uses before it runs"},
		{"price zero", gasTx(t, k, 0, 1_000_000, 0, msg), ledger.CodeFee, "below the chain's minimum"},
		{"over the block", gasTx(t, k, 0, h.Params.MaxBlockGas+1, 1, msg), ledger.CodeInvalid, "over the block gas limit"},
		{"overflowing fee", gasTx(t, k, 0, 1_000_000, 1<<60, msg), ledger.CodeInvalid, "more than any fee can be"},
		{"cannot pay", gasTx(t, k, 0, h.Params.MaxBlockGas, 1_000_000, msg), ledger.CodeInsufficient, "cannot pay the fee of up to"},
	}
	for _, tt := range tests {
		before, fees := h.Account(k.Address()), h.Bucket(ledger.BucketFees)
		res := h.Block(tt.tx)[0]
		if res.Code != tt.code || !strings.Contains(res.Log, tt.log) {
			t.Errorf("%s: code %d log %q, want %d and %q", tt.name, res.Code, res.Log, tt.code, tt.log)
		}
		if after := h.Account(k.Address()); after != before || h.Bucket(ledger.BucketFees) != fees || res.Fee != 0 {
			t.Errorf("%s: account %+v -> %+v, fee %d: want nothing charged", tt.name, before, after, res.Fee)
		}
	}
}

// TestBlockGasLimit: a block never takes more than its gas limit in
// transactions' gas limits; what a proposer adds past it fails without a
// fee.
func TestBlockGasLimit(t *testing.T) {
	h := gasHarness(t, func(p *ledger.Params) { p.MaxBlockGas, p.MaxTxBytes = 1_000_000, 16384 })
	txs := [][]byte{
		gasTx(t, h.keys[0], 0, 400_000, 1, &gasMsg{Writes: 1}),
		gasTx(t, h.keys[1], 0, 400_000, 1, &gasMsg{Writes: 1}),
		gasTx(t, h.keys[2], 0, 400_000, 1, &gasMsg{Writes: 1}),
		gasTx(t, h.keys[3], 0, 200_000, 1, &gasMsg{Writes: 1}),
	}
	before := h.Account(h.keys[2].Address())
	res := h.Block(txs...)
	want := []uint32{ledger.CodeOK, ledger.CodeOK, ledger.CodeBlockFull, ledger.CodeOK}
	for i, r := range res {
		if r.Code != want[i] {
			t.Errorf("tx %d: code %d (%s), want %d", i, r.Code, r.Log, want[i])
		}
	}
	if after := h.Account(h.keys[2].Address()); after != before {
		t.Errorf("the transaction past the limit changed its sender: %+v -> %+v", before, after)
	}
	for _, raw := range txs {
		if g, err := ledger.TxGasLimit(raw); err != nil || g == 0 {
			t.Errorf("TxGasLimit: %d, %v", g, err)
		}
	}
}

// TestSimulateMatchesDelivery: a simulation uses the gas the delivery
// does, changes nothing, and ignores the nonce.
func TestSimulateMatchesDelivery(t *testing.T) {
	h := gasHarness(t, nil)
	k := h.keys[0]
	tx := gasTx(t, k, 0, 5_000_000, 1, &gasMsg{Writes: 7, Burn: 99})
	sim, err := h.M.Simulate(h.St, h.NextHeader(), tx)
	if err != nil || sim.Code != ledger.CodeOK {
		t.Fatalf("simulate: %v %+v", err, sim)
	}
	if h.Account(k.Address()).Nonce != 0 {
		t.Fatal("simulation changed state")
	}
	// A later nonce simulates the same.
	late, err := h.M.Simulate(h.St, h.NextHeader(), gasTx(t, k, 9, 5_000_000, 1, &gasMsg{Writes: 7, Burn: 99}))
	if err != nil || late.Code != ledger.CodeOK || late.GasUsed != sim.GasUsed {
		t.Errorf("simulation with nonce 9: %v %+v, want gas %d", err, late, sim.GasUsed)
	}
	res := h.Block(tx)[0]
	if res.Code != ledger.CodeOK || res.GasUsed != sim.GasUsed || res.Fee != sim.Fee {
		t.Errorf("delivered: code %d gas %d fee %d; simulated gas %d fee %d", res.Code, res.GasUsed, res.Fee, sim.GasUsed, sim.Fee)
	}
	bad := []byte(string(tx))
	bad[len(bad)-1] ^= 1
	if _, err := h.M.Simulate(h.St, h.NextHeader(), bad); err == nil {
		t.Error("a simulation of a badly signed transaction succeeded")
	}
}

// TestSimulationWorkIsBoundedByBalance: a simulation is not paid for, so
// it runs only as far as its signer's balance would pay. A stranger's key
// with nothing gets no work done at all, and a key with a little gets no
// more than that buys, whatever gas limit it signs.
func TestSimulationWorkIsBoundedByBalance(t *testing.T) {
	h := gasHarness(t, nil)
	heavy := &gasMsg{Writes: 10, Burn: 40_000_000}

	stranger := testKey("stranger with a throwaway key")
	sim, err := h.M.Simulate(h.St, h.NextHeader(), gasTx(t, stranger, 0, h.Params.MaxBlockGas, 1, heavy))
	if err != nil || sim.Code != ledger.CodeInsufficient || sim.GasUsed != 0 || !strings.Contains(sim.Log, "cannot pay the fee") {
		t.Errorf("a stranger's simulation: %v %+v; want refused before it runs, no gas used", err, sim)
	}

	// 50,000 ustr buys 50,000 gas at 1 ustr: the simulation stops there.
	poor := testKey("a key with a little")
	h.Block(gasTx(t, h.keys[0], 0, 1_000_000, 1, &ledger.Transfer{To: poor.Address(), Amount: 50_000}))
	sim, err = h.M.Simulate(h.St, h.NextHeader(), gasTx(t, poor, 0, h.Params.MaxBlockGas, 1, heavy))
	if err != nil || sim.Code != ledger.CodeOutOfGas || sim.GasUsed != 50_000 {
		t.Errorf("a simulation by a key with 50,000 ustr: %v %+v; want out of gas at 50000", err, sim)
	}
	// At 2 ustr a gas, the same balance buys half as much.
	sim, _ = h.M.Simulate(h.St, h.NextHeader(), gasTx(t, poor, 0, h.Params.MaxBlockGas, 2, heavy))
	if sim.Code != ledger.CodeOutOfGas || sim.GasUsed != 25_000 {
		t.Errorf("at 2 ustr a gas: %+v; want out of gas at 25000", sim)
	}
	if a := h.Account(poor.Address()); a.Balance != 50_000 || a.Nonce != 0 {
		t.Errorf("simulations changed the account: %+v", a)
	}
}
