package node

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/mem"
	"github.com/stratus-cloud/stratus/storage"
)

// TestProveFrom: the prover answers from the shard on disk with a proof
// the ledger's check accepts, and answers nothing for a shard that is gone
// or whose bytes rotted: a provider does not argue for data it lost.
func TestProveFrom(t *testing.T) {
	ctx := context.Background()
	const leafSize = storage.DefaultLeafSize
	shard := bytes.Repeat([]byte("stratus proof "), 3*leafSize/7)
	h := storage.ShardHash(shard, leafSize)
	ch := objects.Challenge{ID: 7, Hash: h.String(), Size: int64(len(shard)), LeafSize: leafSize, Leaf: 4}

	// An honest store, and one without the verifier whose bytes can rot.
	st, err := mem.New(shardstore.Options{Verify: storage.ShardVerifier(leafSize)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, shardstore.Hash(h), bytes.NewReader(shard), int64(len(shard))); err != nil {
		t.Fatal(err)
	}
	msg, err := proveFrom(ctx, st, ch)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Challenge != ch.ID {
		t.Fatalf("answer names challenge %d, want %d", msg.Challenge, ch.ID)
	}
	if err := msg.Validate(); err != nil {
		t.Fatalf("the answer does not validate: %v", err)
	}
	if err := storage.VerifyLeaf(h, ch.Size, leafSize, ch.Leaf, msg.Leaf, msg.Path); err != nil {
		t.Fatalf("the answer does not verify as the ledger checks it: %v", err)
	}

	other := ch
	other.Hash = storage.ShardHash([]byte("another shard"), leafSize).String()
	if _, err := proveFrom(ctx, st, other); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a shard not on disk: %v, want NotFound", err)
	}

	rotten := append([]byte(nil), shard...)
	rotten[4*leafSize+1] ^= 0xff
	rs, err := mem.New(shardstore.Options{Verify: func([32]byte, []byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Put(ctx, shardstore.Hash(h), bytes.NewReader(rotten), int64(len(rotten))); err != nil {
		t.Fatal(err)
	}
	if _, err := proveFrom(ctx, rs, ch); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("a rotten leaf: %v, want ErrCorrupt", err)
	}
	// Nor any other leaf of it: the path is built from the whole shard,
	// so it no longer leads to the manifest's hash.
	other = ch
	other.Leaf = 0
	if _, err := proveFrom(ctx, rs, other); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("an intact leaf of a rotten shard: %v, want ErrCorrupt", err)
	}
}
