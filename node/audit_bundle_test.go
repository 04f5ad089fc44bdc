package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/bundle"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// TestAuditBundleFromDevnet builds bundles from a running devnet's answers
// and verifies them offline against the validator set exported from it, as
// `stratus audit proof` and `audit verify` do; then follows the log from
// checkpoint to checkpoint, as `audit watch` does.
func TestAuditBundleFromDevnet(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	first, err := d.c.AuditAdvance(ctx, nil, nil)
	var ce *bundle.CheckError
	for err != nil && !errors.As(err, &ce) && ctx.Err() == nil {
		// No checkpoint before the second block.
		time.Sleep(50 * time.Millisecond)
		first, err = d.c.AuditAdvance(ctx, nil, nil)
	}
	if !errors.As(err, &ce) || ce.Name != bundle.CheckValidators {
		t.Fatalf("advance with no trusted set: %v, want check %q to fail", err, bundle.CheckValidators)
	}
	cp, err := d.c.AuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vf, err := bundle.ExportValidators(cp)
	if err != nil {
		t.Fatal(err)
	}
	if vf.ChainID != "stratus-devnet" {
		t.Errorf("validators of chain %q, want stratus-devnet", vf.ChainID)
	}
	trusted := parseValidators(t, vf)
	if first, err = d.c.AuditAdvance(ctx, trusted, nil); err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}

	to, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: to.Address(), Amount: 777}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("tx", func(t *testing.T) {
		// Right after the send: the transaction's block is the newest,
		// in no checkpoint yet, and AuditTxBundle waits for the next.
		b := txBundle(ctx, t, d.c, res.Hash)
		rep, err := bundle.Verify(b, trusted)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		tx := rep.Entry.Tx
		if tx == nil || tx.Hash != res.Hash || tx.Height != res.Height || tx.Code != 0 || tx.Signer != d.demo.Address().String() || tx.MsgType != (&ledger.Transfer{}).Type() {
			t.Fatalf("entry = %+v, want the transfer %s by %s", rep.Entry, res.Hash, d.demo.Address())
		}
		if b.Checkpoint.Height < res.Height {
			t.Errorf("checkpoint of block %d proves a transaction of block %d", b.Checkpoint.Height, res.Height)
		}

		// Its event, the next entry, by index.
		ev, err := d.c.AuditBundle(ctx, b.Entry.Index+1)
		if err != nil {
			t.Fatal(err)
		}
		rep, err = bundle.Verify(ev, trusted)
		if err != nil {
			t.Fatalf("Verify the event: %v", err)
		}
		if e := rep.Entry.Event; e == nil || e.Type != ledger.CoreEvents.Transfer.Type || e.Tx != int(res.Index) {
			t.Errorf("entry %d = %+v, want the transfer's event", b.Entry.Index+1, rep.Entry)
		}

		// The transaction's entry swapped for its event's, under the
		// transaction's proof: refused.
		swapped := b
		swapped.Entry.Leaf, swapped.Entry.Decoded = ev.Entry.Leaf, ev.Entry.Decoded
		if _, err := bundle.Verify(swapped, trusted); !errors.As(err, &ce) || ce.Name != bundle.CheckInclusion {
			t.Errorf("another entry's leaf under the proof: %v, want check %q to fail", err, bundle.CheckInclusion)
		}
		// One node's checkpoint with another's proof: a proof to an
		// older size does not check against a newer root.
		if ev.Checkpoint.Size != b.Checkpoint.Size {
			mixed := b
			mixed.Checkpoint = ev.Checkpoint
			if _, err := bundle.Verify(mixed, trusted); !errors.As(err, &ce) || ce.Name != bundle.CheckInclusion {
				t.Errorf("a proof to size %d with the checkpoint at %d: %v", b.Inclusion.Size, ev.Checkpoint.Size, err)
			}
		}
	})

	t.Run("unknown tx", func(t *testing.T) {
		_, err := d.c.AuditTxBundle(ctx, "00"+res.Hash[2:])
		if !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "not in the audit log") {
			t.Errorf("a transaction no block executed: %v, want not found", err)
		}
	})

	t.Run("watch", func(t *testing.T) {
		// The log after the transfer extends the first checkpoint's.
		next, err := d.c.AuditAdvance(ctx, trusted, &first)
		if err != nil {
			t.Fatalf("advance from block %d: %v", first.Height, err)
		}
		if next.Height < first.Height || next.Size < first.Size {
			t.Errorf("advanced from %d/%d to %d/%d", first.Height, first.Size, next.Height, next.Size)
		}
		// A trusted checkpoint of another history: same height, other
		// root. What the node serves does not extend it.
		forged := next
		forged.Root = bytes.Clone(next.Root)
		forged.Root[0] ^= 1
		if _, err := d.c.AuditAdvance(ctx, trusted, &forged); !errors.Is(err, bundle.ErrInconsistent) {
			t.Errorf("from a checkpoint of another history: %v, want ErrInconsistent", err)
		}
		forged.Height--
		if _, err := d.c.AuditAdvance(ctx, trusted, &forged); !errors.Is(err, bundle.ErrInconsistent) {
			t.Errorf("from an older checkpoint of another history: %v, want ErrInconsistent", err)
		}
		// A trusted state that claims more entries than the node has.
		ahead := next
		ahead.Height += 1000
		if _, err := d.c.AuditAdvance(ctx, trusted, &ahead); !errors.Is(err, bundle.ErrBehind) {
			t.Errorf("a node behind the trusted checkpoint: %v, want ErrBehind", err)
		}
	})

	t.Run("json", func(t *testing.T) {
		b := txBundle(ctx, t, d.c, res.Hash)
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"format", "entry", "inclusion", "checkpoint"} {
			if _, ok := m[k]; !ok {
				t.Errorf("no %q in the bundle", k)
			}
		}
		if string(m["format"]) != `"`+bundle.Format+`"` {
			t.Errorf("format %s", m["format"])
		}
		var cp audit.Checkpoint
		if err := json.Unmarshal(m["checkpoint"], &cp); err != nil || len(cp.Header) == 0 || len(cp.Commit) == 0 || len(cp.Validators) == 0 {
			t.Errorf("the bundle's checkpoint lacks the signed header, commit or validators: %v", err)
		}
	})
}

func txBundle(ctx context.Context, t *testing.T, c *client.Client, hash string) bundle.Bundle {
	t.Helper()
	b, err := c.AuditTxBundle(ctx, hash)
	if err != nil {
		t.Fatalf("bundle of %s: %v", hash, err)
	}
	return b
}
