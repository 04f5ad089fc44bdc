package objects_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

var wrapped = []byte("age-encryption.org/v1\n-> ssh-ed25519 (a wrapped data key)")

// canRead asks the ledger about shard h on provider p for reader.
func (c *chain) canRead(p *identity.Key, h storage.Hash, reader identity.Address) (private, allowed bool) {
	c.T.Helper()
	private, allowed, err := objects.CanRead(c.Query(), p.Address(), h, reader, c.Now.UnixMilli())
	if err != nil {
		c.T.Fatal(err)
	}
	return private, allowed
}

func TestPrivateObjectGrants(t *testing.T) {
	c := newChain(t)
	owner, bob := c.users[0], c.users[1]
	mallory := testKey("mallory")
	c.OK(c.users[1], &ledger.Transfer{To: mallory.Address(), Amount: 1_000_000_000})
	m, b := manifest(t, data(3000, 9), c.providers...)
	id := m.ID().String()
	r := c.OK(owner, c.rc(owner, &objects.Commit{Manifest: b, Leases: c.leases(0), WrappedKey: wrapped}))
	if ledgertest.Find(r.Events, objects.EventCommitted) == nil {
		t.Fatal("no object.committed event")
	}
	v, err := objects.GetObject(c.Query(), id)
	if err != nil || v.Public || !bytes.Equal(v.WrappedKey, wrapped) {
		t.Fatalf("the private object: %+v, %v", v, err)
	}
	p0, h := c.providers[0], m.Segments[0].Shards[0].Hash

	// Only the owner reads; nobody else, signed or not.
	for _, tc := range []struct {
		who     string
		reader  identity.Address
		allowed bool
	}{{"owner", owner.Address(), true}, {"bob", bob.Address(), false}, {"anonymous", identity.Address{}, false}} {
		if priv, ok := c.canRead(p0, h, tc.reader); !priv || ok != tc.allowed {
			t.Fatalf("%s: private %v allowed %v", tc.who, priv, ok)
		}
	}
	// A shard that no object places is public.
	if priv, ok := c.canRead(p0, storage.Hash{1, 2, 3}, bob.Address()); priv || !ok {
		t.Fatalf("a shard the provider does not hold: private %v allowed %v", priv, ok)
	}

	// Refused grants change nothing: by a stranger, to a bad DID, with an
	// end in the past, with no key or an oversize one, to the owner.
	g := &objects.Grant{ID: id, Grantee: bob.Address().String(), WrappedKey: wrapped}
	c.fails(mallory, g, ledger.CodeUnauthorized)
	c.fails(bob, g, ledger.CodeUnauthorized)
	c.fails(mallory, &objects.Grant{ID: id, Grantee: mallory.Address().String(), WrappedKey: wrapped}, ledger.CodeUnauthorized)
	c.fails(owner, &objects.Grant{ID: id, Grantee: "did:key:nope", WrappedKey: wrapped}, ledger.CodeInvalid)
	c.fails(owner, &objects.Grant{ID: id, Grantee: bob.Address().String(), WrappedKey: wrapped, UntilMs: c.Now.UnixMilli()}, ledger.CodeInvalid)
	c.fails(owner, &objects.Grant{ID: id, Grantee: bob.Address().String()}, ledger.CodeInvalid)
	c.fails(owner, &objects.Grant{ID: id, Grantee: bob.Address().String(), WrappedKey: make([]byte, objects.MaxWrappedKey+1)}, ledger.CodeTooLarge)
	c.fails(owner, &objects.Grant{ID: id, Grantee: owner.Address().String(), WrappedKey: wrapped}, ledger.CodeInvalid)
	if _, ok := c.canRead(p0, h, bob.Address()); ok {
		t.Fatal("a refused grant let bob read")
	}

	// The owner grants bob for a minute: he reads until it ends.
	until := c.Now.Add(time.Minute).UnixMilli()
	g.UntilMs = until
	r = c.OK(owner, g)
	ev := ledgertest.Find(r.Events, objects.EventGranted)
	if ev == nil || ev.Get(objects.AttrGrantee) != bob.Address().String() || ev.Get(objects.AttrUntil) != fmt.Sprint(until) {
		t.Fatalf("object.granted event %+v", ev)
	}
	if _, ok := c.canRead(p0, h, bob.Address()); !ok {
		t.Fatal("bob, granted, may not read")
	}
	if _, ok := c.canRead(p0, h, mallory.Address()); ok {
		t.Fatal("a grant to bob let mallory read")
	}
	gs, err := objects.Grants(c.Query(), id)
	if err != nil || len(gs) != 1 || gs[0].Grantee != bob.Address() || gs[0].UntilMs != until || !bytes.Equal(gs[0].WrappedKey, wrapped) {
		t.Fatalf("Grants = %+v, %v", gs, err)
	}
	c.BlockAfter(2 * time.Minute)
	if priv, ok := c.canRead(p0, h, bob.Address()); !priv || ok {
		t.Fatalf("an expired grant: private %v allowed %v", priv, ok)
	}

	// Granted again without an end, then revoked: refused again. Only the
	// owner revokes, and only a grant that exists.
	g.UntilMs = 0
	c.OK(owner, g)
	if _, ok := c.canRead(p0, h, bob.Address()); !ok {
		t.Fatal("bob, granted again, may not read")
	}
	rv := &objects.Revoke{ID: id, Grantee: bob.Address().String()}
	c.fails(bob, rv, ledger.CodeUnauthorized)
	c.fails(mallory, rv, ledger.CodeUnauthorized)
	r = c.OK(owner, rv)
	if ev := ledgertest.Find(r.Events, objects.EventRevoked); ev == nil || ev.Get(objects.AttrGrantee) != bob.Address().String() {
		t.Fatalf("object.revoked event %+v", ev)
	}
	if priv, ok := c.canRead(p0, h, bob.Address()); !priv || ok {
		t.Fatalf("after the revocation: private %v allowed %v", priv, ok)
	}
	c.fails(owner, rv, ledger.CodeNotFound)
	if _, err := objects.GrantOf(c.Query(), id, bob.Address()); !errs.Is(err, errs.NotFound) {
		t.Fatalf("GrantOf after the revocation: %v", err)
	}

	// Removing the object takes its grants with it.
	c.OK(owner, g)
	c.OK(owner, &objects.Remove{ID: id})
	if s := c.moduleStateOf("objects/grant/"); s != "" {
		t.Fatalf("grants left behind:\n%s", s)
	}
	if priv, ok := c.canRead(p0, h, identity.Address{}); priv || !ok {
		t.Fatalf("a removed object's shard: private %v allowed %v", priv, ok)
	}
}

// TestPublicCopyDoesNotOpenAPrivateShard: a grantee who downloaded a
// private object's sealed shards commits them in a public object of his
// own; the providers still serve them only to the private object's readers.
func TestPublicCopyDoesNotOpenAPrivateShard(t *testing.T) {
	c := newChain(t)
	owner, bob := c.users[0], c.users[1]
	seg := data(1024, 3)
	mA, bA := manifest(t, append(append([]byte{}, seg...), data(1000, 4)...), c.providers...)
	mB, bB := manifest(t, append(append([]byte{}, seg...), data(1000, 5)...), c.providers...)
	if mA.Segments[0].Shards[0].Hash != mB.Segments[0].Shards[0].Hash {
		t.Fatal("the two objects do not share their first segment")
	}
	c.OK(owner, c.rc(owner, &objects.Commit{Manifest: bA, Leases: c.leases(0), WrappedKey: wrapped}))
	c.OK(bob, c.rc(bob, &objects.Commit{Manifest: bB, Leases: c.leases(1), Public: true}))
	h := mA.Segments[0].Shards[0].Hash
	stranger := testKey("stranger").Address()
	if priv, ok := c.canRead(c.providers[0], h, stranger); !priv || ok {
		t.Fatalf("the shared shard: private %v allowed %v", priv, ok)
	}
	if priv, ok := c.canRead(c.providers[0], h, owner.Address()); !priv || !ok {
		t.Fatalf("the shared shard, for its owner: private %v allowed %v", priv, ok)
	}
	// Bob's own segment is public.
	if priv, ok := c.canRead(c.providers[0], mB.Segments[1].Shards[0].Hash, stranger); priv || !ok {
		t.Fatalf("bob's own shard: private %v allowed %v", priv, ok)
	}
}

// TestGrantsAreBounded: an object has at most MaxGrants grants; expired
// ones make room for new ones.
func TestGrantsAreBounded(t *testing.T) {
	c := newChain(t)
	owner := c.users[0]
	m, b := manifest(t, data(600, 7), c.providers...)
	id := m.ID().String()
	c.OK(owner, c.rc(owner, &objects.Commit{Manifest: b, Leases: c.leases(0), WrappedKey: wrapped}))
	until := c.Now.Add(time.Hour).UnixMilli()
	for i := range objects.MaxGrants {
		g := &objects.Grant{ID: id, Grantee: testKey(fmt.Sprint("grantee", i)).Address().String(), WrappedKey: wrapped}
		if i == 0 {
			g.UntilMs = until
		}
		c.OK(owner, g)
	}
	one := &objects.Grant{ID: id, Grantee: testKey("one too many").Address().String(), WrappedKey: wrapped}
	c.fails(owner, one, ledger.CodeConflict)
	c.BlockAfter(2 * time.Hour)
	c.OK(owner, one) // grant 0 expired and made room
	gs, err := objects.Grants(c.Query(), id)
	if err != nil || len(gs) != objects.MaxGrants {
		t.Fatalf("%d grants, %v", len(gs), err)
	}
	c.OK(owner, &objects.Remove{ID: id})
	if s := c.moduleStateOf("objects/grant/"); s != "" {
		t.Fatal("grants left behind")
	}
}

// FuzzDecodeGrant: the grant and revoke decoders never panic, and what
// they accept and validate re-encodes to bytes that decode the same.
func FuzzDecodeGrant(f *testing.F) {
	f.Add([]byte(`{"id":"bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi","grantee":"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK","wrapped_key":"YWdl","until_ms":5}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, m := range []ledger.Msg{&objects.Grant{}, &objects.Revoke{}} {
			if err := m.Decode(codec.NewReader(in)); err != nil || m.Validate() != nil {
				continue
			}
			w := codec.NewWriter(len(in))
			m.Encode(w)
			again := m
			if err := again.Decode(codec.NewReader(w.Bytes())); err != nil {
				t.Fatalf("%T %x re-encodes to %x, which does not decode: %v", m, in, w.Bytes(), err)
			}
		}
	})
}

// TestRepairerReadsAPrivateObject: the provider assigned a repair of a
// private object may fetch the other shards of it (sealed bytes) to rebuild
// the lost one; once the repair is committed, it may not.
func TestRepairerReadsAPrivateObject(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	p0, p1, p2 := c.providers[0], c.providers[1], c.providers[2]
	p3 := c.registerProvider("provider3")
	d := data(2048, 2)
	held := shardBytes(t, d)
	m, raw := manifest(t, d, p0, p1, p2)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: raw, Leases: c.leases(0), WrappedKey: wrapped}))
	h0 := m.Segments[0].Shards[0].Hash
	if _, ok := c.canRead(p0, h0, p3.Address()); ok {
		t.Fatal("a provider with no repair may read")
	}
	var jobs []objects.RepairJob
	for range 10 {
		c.epoch()
		for _, p := range []*identity.Key{p0, p1} {
			for _, ch := range c.challenges(p) {
				c.OK(p, answer(t, held, ch))
			}
		}
		if jobs = c.repairsHeld(); len(jobs) == 2 && jobs[0].Assignee != "" && jobs[1].Assignee != "" {
			break
		}
	}
	if len(jobs) != 2 || jobs[0].Assignee != p3.Address().String() {
		t.Fatalf("repairs %+v", jobs)
	}
	if priv, ok := c.canRead(p0, h0, p3.Address()); !priv || !ok {
		t.Fatalf("the assigned repairer: private %v allowed %v", priv, ok)
	}
	if _, ok := c.canRead(p0, h0, testKey("stranger").Address()); ok {
		t.Fatal("a stranger may read during a repair")
	}
	for _, j := range jobs {
		var h storage.Hash
		h.UnmarshalText([]byte(j.Hash))
		leaf, path, err := storage.ShardLeafProof(held[h], j.Leaf, j.LeafSize)
		if err != nil {
			t.Fatal(err)
		}
		c.OK(p3, &objects.Repair{ID: m.ID().String(), Segment: j.Segment, Shard: j.Shard, Leaf: leaf, Path: path})
	}
	if _, ok := c.canRead(p0, h0, p3.Address()); ok {
		t.Fatal("the repairer may still read after its repairs are done")
	}
}
