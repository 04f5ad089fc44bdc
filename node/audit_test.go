package node_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/bundle"
	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// TestAuditProofsOverHTTP sends a transfer, finds its entry in the audit log
// by transaction hash, and checks what the node serves with
// transparency-dev/merkle alone, as an outside verifier would.
func TestAuditProofsOverHTTP(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	to, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: to.Address(), Amount: 1234}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := d.c.AuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.c.AuditTxInclusion(ctx, res.Hash)
	for (errs.Is(err, errs.NotFound) || errs.Is(err, errs.Conflict)) && ctx.Err() == nil {
		// The query snapshot can trail the commit the send waited for,
		// and the transaction's block is in no checkpoint until the next.
		if errs.Is(err, errs.Conflict) && !strings.Contains(err.Error(), "not in a checkpoint yet; try again after the next block") {
			t.Fatalf("?tx= before the next block: %v, want it to say to try again", err)
		}
		time.Sleep(50 * time.Millisecond)
		p, err = d.c.AuditTxInclusion(ctx, res.Hash)
	}
	if err != nil {
		t.Fatalf("inclusion proof by tx hash: %v", err)
	}
	// ?tx= proves to the latest checkpoint's size, a root the validators
	// signed, not to the log's current size, which is a block ahead.
	after, err := d.c.AuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size < before.Size || p.Size > after.Size {
		t.Errorf("?tx= proof to size %d; the checkpoints around it were at %d and %d", p.Size, before.Size, after.Size)
	}
	if after.Size == p.Size && !bytes.Equal(after.Root, p.Root) {
		t.Errorf("?tx= proof root %X, the checkpoint at the same size has %X", p.Root, after.Root)
	}
	head, err := d.c.AuditRoot(ctx, p.Size)
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.c.AuditEntry(ctx, p.Index)
	if err != nil {
		t.Fatal(err)
	}
	got, err := leaf.Decode(e.Leaf)
	if err != nil {
		t.Fatalf("entry %d: %v", p.Index, err)
	}
	if got.Kind != leaf.KindTx || hex.EncodeToString(got.Tx.Hash[:]) != res.Hash || got.Tx.Height != res.Height || got.Tx.Code != 0 || got.Tx.Signer != d.demo.Address() {
		t.Fatalf("entry %d = %+v, want the transfer %s at height %d", p.Index, got.Tx, res.Hash, res.Height)
	}
	h := rfc6962.DefaultHasher
	if err := proof.VerifyInclusion(h, p.Index, p.Size, h.HashLeaf(e.Leaf), p.Hashes, head.Root); err != nil {
		t.Fatalf("inclusion proof of entry %d in size %d: %v", p.Index, p.Size, err)
	}
	// The transfer's event follows its transaction.
	ev, err := d.c.AuditEntry(ctx, p.Index+1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := leaf.Decode(ev.Leaf); err != nil || got.Kind != leaf.KindEvent || got.Event.Get("to") != to.Address().String() {
		t.Errorf("entry %d = %+v, %v; want the transfer's event", p.Index+1, got.Event, err)
	}

	// The same entry, proved by index in every smaller tree that holds it,
	// and each of those trees consistent with the later one.
	for size := p.Index + 1; size <= p.Size; size++ {
		ip, err := d.c.AuditInclusion(ctx, p.Index, size)
		if err != nil {
			t.Fatal(err)
		}
		r, err := d.c.AuditRoot(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(h, p.Index, size, h.HashLeaf(e.Leaf), ip.Hashes, r.Root); err != nil {
			t.Errorf("inclusion of %d in size %d: %v", p.Index, size, err)
		}
		cp, err := d.c.AuditConsistency(ctx, size, p.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(h, size, p.Size, cp.Hashes, r.Root, head.Root); err != nil {
			t.Errorf("consistency %d -> %d: %v", size, p.Size, err)
		}
	}

	// The JSON shapes are the documented ones.
	for path, keys := range map[string][]string{
		"/v1/audit/proof/inclusion?tx=" + res.Hash: {"index", "size", "hashes", "root"},
		"/v1/audit/proof/consistency?from=1":       {"from", "to", "hashes", "from_root", "to_root"},
		"/v1/audit/entries/0":                      {"index", "leaf"},
		"/v1/audit/root":                           {"size", "root"},
	} {
		var m map[string]json.RawMessage
		if code, p := getJSON(t, d.n.APIURL()+path, &m); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, p.Detail)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("GET %s: no %q in %v", path, k, m)
			}
		}
	}

	// What a stranger can ask for and not get.
	for path, status := range map[string]int{
		"/v1/audit/entries/1000000000":                                         http.StatusNotFound,
		"/v1/audit/entries/x":                                                  http.StatusBadRequest,
		"/v1/audit/proof/inclusion?index=5&size=5":                             http.StatusBadRequest,
		"/v1/audit/proof/inclusion?index=0&size=1000000000":                    http.StatusBadRequest,
		"/v1/audit/proof/inclusion":                                            http.StatusBadRequest,
		"/v1/audit/proof/inclusion?tx=" + res.Hash + "&index=0":                http.StatusBadRequest,
		"/v1/audit/proof/inclusion?tx=" + res.Hash[:10]:                        http.StatusBadRequest,
		"/v1/audit/proof/inclusion?tx=" + hex.EncodeToString(make([]byte, 32)): http.StatusNotFound,
		"/v1/audit/proof/consistency?from=3&to=2":                              http.StatusBadRequest,
		"/v1/audit/proof/consistency?to=2":                                     http.StatusBadRequest,
		"/v1/audit/root?size=1000000000":                                       http.StatusBadRequest,
	} {
		if code, p := getJSON(t, d.n.APIURL()+path, nil); code != status {
			t.Errorf("GET %s: %d %s, want %d", path, code, p.Detail, status)
		}
	}
}

// TestAuditRefusesTamperedEntry changes one byte of a stored event in a
// node's database, as someone with the disk could: the node must refuse to
// serve it as valid, and keep serving the entries it can still vouch for.
func TestAuditRefusesTamperedEntry(t *testing.T) {
	home := filepath.Join(t.TempDir(), "devnet")
	if _, err := node.InitDevnetWith(home, devnetConfig(), "", market.DefaultGenesis()); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	n, stop := startNode(t, home, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := client.New(n.APIURL())
	before, err := c.AuditEntry(ctx, 0) // the genesis event
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuditEntry(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// What an auditor took from the node while it was intact: the
	// validators to trust, and entry 0's bundle, which verifies.
	good := waitBundle(ctx, t, c, 0)
	vf, err := bundle.ExportValidators(good.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	trusted := parseValidators(t, vf)
	if _, err := bundle.Verify(good, trusted); err != nil {
		t.Fatalf("entry 0's bundle before the change: %v", err)
	}
	stop()

	st, err := pebblestore.Open(node.StateDir(home))
	if err != nil {
		t.Fatal(err)
	}
	height, app, err := st.Last()
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte("audit/"), audit.LeafKey(0)...)
	changed := bytes.Clone(before.Leaf)
	changed[len(changed)-1] ^= 1 // the last digit of the genesis supply
	if err := st.Commit(height, app, []ledger.Change{{Key: key, Value: changed}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	n, _ = startNode(t, home, cfg)
	c = client.New(n.APIURL())
	code, p := getJSON(t, n.APIURL()+"/v1/audit/entries/0", nil)
	if code != http.StatusInternalServerError || !strings.Contains(p.Detail, "audit log is corrupt") {
		t.Errorf("changed entry 0: %d %q, want 500 saying the log is corrupt", code, p.Detail)
	}
	if _, err := c.AuditEntry(ctx, 1); err != nil {
		t.Errorf("entry 1, unchanged: %v", err)
	}
	if _, err := c.AuditBundle(ctx, 0); !errs.Is(err, errs.Internal) {
		t.Errorf("a bundle of the changed entry from the node: %v, want the node to refuse", err)
	}

	// A bundle made from the changed copy anyway, with the node's proof
	// and a checkpoint signed after the change: it fails verification,
	// at the inclusion check.
	cp, err := c.AuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := c.AuditInclusion(ctx, 0, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := bundle.New(audit.Record{Index: 0, Leaf: changed}, ip, cp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bundle.Verify(tampered, trusted)
	var ce *bundle.CheckError
	if !errors.As(err, &ce) || ce.Name != bundle.CheckInclusion {
		t.Errorf("a bundle of the changed entry: %v, want check %q to fail", err, bundle.CheckInclusion)
	}
	// The same bundle with the intact leaf passes: what failed is the byte.
	intact, err := bundle.New(before, ip, cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Verify(intact, trusted); err != nil {
		t.Errorf("the intact entry against the same checkpoint: %v", err)
	}
}

// waitBundle fetches entry index's bundle, waiting for the chain's first
// checkpoint (404 before the second block).
func waitBundle(ctx context.Context, t *testing.T, c *client.Client, index uint64) bundle.Bundle {
	t.Helper()
	for {
		b, err := c.AuditBundle(ctx, index)
		if err == nil {
			return b
		}
		if !errs.Is(err, errs.Conflict) && !errs.Is(err, errs.NotFound) || ctx.Err() != nil {
			t.Fatalf("bundle of entry %d: %v", index, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parseValidators passes a validator set file through its JSON, as the CLI
// does.
func parseValidators(t *testing.T, f bundle.ValidatorsFile) *bundle.Trusted {
	t.Helper()
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bundle.ParseValidators(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
