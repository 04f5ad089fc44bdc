package testnet

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/money"
)

// TestClusterToleratesOneDown runs 4 validators in this process: with one
// stopped, the other three (over 2/3 of the power) keep making blocks and
// committing transfers; the stopped one, restarted, catches up to the same
// state.
func TestClusterToleratesOneDown(t *testing.T) {
	t.Parallel()
	const n, down = 4, 3
	c := NewCluster(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	demo := c.DemoKey()
	alice := newAddress(t)

	// A few transfers, each through a different validator.
	var sent uint64
	for i := range 3 {
		amt := uint64(i+1) * money.UstrPerSTR
		res, err := c.Send(ctx, i, demo, alice, amt)
		if err != nil {
			t.Fatalf("transfer %d through validator%d: %v", i, i, err)
		}
		if res.Height <= 0 || res.Code != 0 {
			t.Fatalf("transfer %d through validator%d: got height %d code %d, want committed with code 0", i, i, res.Height, res.Code)
		}
		sent += amt
	}

	c.Stop(down)
	t.Logf("stopped validator%d at height %d", down, c.Height(0))
	if _, err := c.Client(down).Status(ctx); err == nil {
		t.Fatalf("validator%d still answers after Stop", down)
	}
	h := c.Height(0)
	if err := c.WaitHeight(ctx, 0, h+3); err != nil {
		t.Fatalf("with validator%d down: %v", down, err)
	}
	last, err := c.Send(ctx, 0, demo, alice, 5*money.UstrPerSTR)
	if err != nil {
		t.Fatalf("transfer with validator%d down: %v", down, err)
	}
	sent += 5 * money.UstrPerSTR

	c.Restart(down)
	restarted := time.Now()
	target := c.Height(0)
	if err := c.WaitHeight(ctx, down, target); err != nil {
		c.Diagnose()
		t.Fatalf("restarted validator%d did not catch up with validator0 at %d: %v", down, target, err)
	}
	t.Logf("restarted validator%d caught up to height %d in %s", down, target, time.Since(restarted).Round(time.Millisecond))

	// The restarted validator computed, by itself, the app hash the others
	// agreed on: block h+1 carries the app hash after h.
	h3, app3 := c.Node(down).App().Height()
	for i := range n {
		if err := c.WaitHeight(ctx, i, h3+1); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := c.Client(0).Block(ctx, h3+1)
	if err != nil {
		t.Fatalf("block %d from validator0: %v", h3+1, err)
	}
	if got := fmt.Sprintf("%X", app3); !equalHex(got, ref.AppHash) {
		t.Errorf("validator%d's app hash after height %d is %s; block %d carries %s", down, h3, got, h3+1, ref.AppHash)
	}
	for i := 1; i < n; i++ {
		b, err := c.Client(i).Block(ctx, h3+1)
		if err != nil {
			t.Fatalf("block %d from validator%d: %v", h3+1, i, err)
		}
		if !equalHex(b.AppHash, ref.AppHash) || b.Hash != ref.Hash {
			t.Errorf("block %d: validator%d has hash %s app hash %s; validator0 has %s and %s", h3+1, i, b.Hash, b.AppHash, ref.Hash, ref.AppHash)
		}
	}

	// Every validator, the restarted one included, shows the transfers and
	// keeps the supply whole.
	for i := range n {
		cl := c.Client(i)
		if got := balance(ctx, t, cl, alice); got != sent {
			t.Errorf("validator%d: alice has %d ustr, want %d", i, got, sent)
		}
		tx, err := cl.Tx(ctx, last.Hash)
		if err != nil {
			t.Errorf("validator%d: transfer %s sent while it was down: %v", i, last.Hash, err)
		} else if tx.Height != last.Height || tx.Code != 0 {
			t.Errorf("validator%d: transfer %s at height %d code %d; it was committed at %d with code 0", i, last.Hash, tx.Height, tx.Code, last.Height)
		}
		// Each validator metered the transaction itself, the restarted
		// one while catching up: the same gas, the same fee.
		if err == nil && (tx.GasUsed != last.GasUsed || tx.Fee != last.Fee || tx.GasUsed == 0) {
			t.Errorf("validator%d: transfer %s used %d gas and paid %s; validator0 says %d and %s", i, last.Hash, tx.GasUsed, tx.Fee, last.GasUsed, last.Fee)
		}
		checkSupply(ctx, t, cl, GenesisSupply(n))
	}

	// And it takes part again: a transfer through it commits.
	if _, err := c.Send(ctx, down, demo, alice, money.UstrPerSTR); err != nil {
		t.Fatalf("transfer through the restarted validator%d: %v", down, err)
	}
}

func equalHex(a, b string) bool {
	x, err1 := hex.DecodeString(a)
	y, err2 := hex.DecodeString(b)
	return err1 == nil && err2 == nil && len(x) > 0 && bytes.Equal(x, y)
}
