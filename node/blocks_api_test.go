package node_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/market"
)

// TestListBlocks pages GET /v1/blocks down to the first block, checks each
// page against GET /v1/blocks/{height}, and refuses what it does not take.
func TestListBlocks(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		st, err := d.c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Height >= 7 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the devnet stayed at height %d", st.Height)
		case <-time.After(100 * time.Millisecond):
		}
	}

	var first api.Page[api.Block]
	if err := d.c.Get(ctx, "/v1/blocks", &first); err != nil {
		t.Fatal(err)
	}
	if n := len(first.Items); n < 7 || n > 20 {
		t.Fatalf("the first page has %d blocks, want the default of up to 20 and at least the 7 there are", n)
	}

	// Page three at a time from the top to block 1: each height once, in
	// order, each as GET /v1/blocks/{height} has it.
	top := first.Items[0].Height
	want := top
	after := strconv.FormatInt(top+1, 10)
	for after != "" {
		var p api.Page[api.Block]
		if err := d.c.Get(ctx, "/v1/blocks?limit=3&after="+after, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Items) == 0 || len(p.Items) > 3 {
			t.Fatalf("after %s: %d blocks", after, len(p.Items))
		}
		for _, b := range p.Items {
			if b.Height != want {
				t.Fatalf("after %s: block %d, want %d", after, b.Height, want)
			}
			var one api.Block
			if err := d.c.Get(ctx, "/v1/blocks/"+strconv.FormatInt(b.Height, 10), &one); err != nil {
				t.Fatal(err)
			}
			if one.Hash != b.Hash || one.NumTxs != b.NumTxs || len(b.TxHashes) != b.NumTxs {
				t.Errorf("block %d listed as %+v, served alone as %+v", b.Height, b, one)
			}
			want--
		}
		last := p.Items[len(p.Items)-1].Height
		switch {
		case last > 1 && p.Next != strconv.FormatInt(last, 10):
			t.Fatalf("after %s: next %q, want %d", after, p.Next, last)
		case last == 1 && p.Next != "":
			t.Fatalf("the page ending at block 1 has next %q", p.Next)
		}
		after = p.Next
	}
	if want != 0 {
		t.Errorf("paging stopped above block %d", want+1)
	}

	for _, q := range []string{"limit=101", "limit=0", "limit=x", "after=0", "after=-3", "after=abc"} {
		var p api.Page[api.Block]
		if err := d.c.Get(ctx, "/v1/blocks?"+q, &p); !errs.Is(err, errs.Invalid) {
			t.Errorf("GET /v1/blocks?%s: %v, want invalid", q, err)
		}
	}
}
