package provider

import (
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// TestAcceptRepair: a rebuilt shard is held for the object's owner, who
// signed nothing; it survives the collector while young or referenced, goes
// like any other once neither, and wrong bytes are refused and store
// nothing.
func TestAcceptRepair(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	owner := key("owner")
	h, data := shard("rebuilt ", 9_000)

	if err := f.svc.AcceptRepair(ctx, owner.Address(), h, data[:len(data)-1]); !errs.Is(err, errs.Invalid) {
		t.Fatalf("short bytes: %v, want Invalid", err)
	}
	wrong := append([]byte(nil), data...)
	wrong[10] ^= 1
	if err := f.svc.AcceptRepair(ctx, owner.Address(), h, wrong); !errs.Is(err, errs.Invalid) {
		t.Fatalf("wrong bytes: %v, want Invalid", err)
	}
	if err := f.svc.AcceptRepair(ctx, identity.Address{}, h, data); !errs.Is(err, errs.Invalid) {
		t.Fatalf("no owner: %v, want Invalid", err)
	}
	if f.stored(t, h) {
		t.Fatal("a refused repair stored the shard")
	}

	if err := f.svc.AcceptRepair(ctx, owner.Address(), h, data); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.svc.HasShard(ctx, h); !ok || err != nil {
		t.Fatalf("HasShard after the repair = %v, %v", ok, err)
	}
	if held := f.svc.keep.holding(owner.Address()); held != int64(len(data)) {
		t.Fatalf("owner holds %d bytes, want %d", held, len(data))
	}
	// The owner may delete it like a shard it put itself, once unused.
	c, ok, err := f.svc.idx.get(h, owner.Address())
	if err != nil || !ok || c.Size != int64(len(data)) {
		t.Fatalf("claim = %+v, %v, %v", c, ok, err)
	}

	// Young: kept before the commit references it. Referenced: kept.
	if n, err := f.svc.gc(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("gc of a fresh repair = %d, %v", n, err)
	}
	f.ledger.setRefs(h, owner, 1)
	if n, err := f.svc.gc(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 || !f.stored(t, h) {
		t.Fatalf("gc of a committed repair = %d, %v", n, err)
	}
	// A repair never committed (or its object gone) is collected.
	f.ledger.setRefs(h, owner, 0)
	if n, err := f.svc.gc(ctx, time.Now().Add(3*time.Hour)); err != nil || n != 1 || f.stored(t, h) {
		t.Fatalf("gc of an unreferenced repair = %d, %v (stored %v), want it collected", n, err, f.stored(t, h))
	}
}
