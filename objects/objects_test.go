package objects_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
)

// Each provider holds 1500 bytes of a 3000-byte object (3 segments of 2+1
// shards of 512, 512 and 476 bytes) and 300 of a 600-byte one.
const leaseBytes = 2000

func (c *chain) leases(k int) []uint64 {
	var ids []uint64
	for _, p := range c.providers {
		ids = append(ids, c.openLease(c.users[k], p, leaseBytes, true))
	}
	return ids
}

func TestCommitGetRemoveAndQuota(t *testing.T) {
	c := newChain(t)
	u, other := c.users[0], c.users[1]
	ls := c.leases(0)

	mA, bA := manifest(t, data(3000, 1), c.providers...)
	r := c.OK(u, c.rc(u, &objects.Commit{Manifest: bA, Leases: ls, Public: true}))
	ev := ledgertest.Find(r.Events, "object.committed")
	if ev == nil || ev.Get("id") != mA.ID().String() || ev.Get("owner") != u.Address().String() || ev.Get("size") != "3000" {
		t.Fatalf("object.committed event %+v", ev)
	}

	v, err := objects.GetObject(c.Query(), mA.ID().String())
	if err != nil {
		t.Fatal(err)
	}
	if v.Owner != u.Address() || v.Size != 3000 || v.K != 2 || v.M != 1 || !v.Public || !bytes.Equal(v.Manifest, bA) ||
		v.Decoded.ID() != mA.ID() || v.CreatedMs != c.Now.UnixMilli() || len(v.Leases) != 3 {
		t.Fatalf("GetObject = %+v", v)
	}
	for i, sh := range v.Leases {
		if sh.Lease != ls[i] || sh.Bytes != 1500 || sh.Provider != c.providers[i].Address() {
			t.Fatalf("lease share %d = %+v", i, sh)
		}
	}
	if _, err := objects.GetObject(c.Query(), "bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("unknown object: %v", err)
	}
	if os, more, err := objects.ObjectsAfter(c.Query(), u.Address(), nil, 10); err != nil || more || len(os) != 1 || os[0].ID != mA.ID().String() || os[0].PaidUntilMs == 0 {
		t.Fatalf("ObjectsAfter = %v, %v, %v", os, more, err)
	}
	if os, _, _ := objects.ObjectsAfter(c.Query(), other.Address(), nil, 10); len(os) != 0 {
		t.Fatalf("ObjectsAfter(other) = %v", os)
	}

	// The same object again.
	c.fails(u, c.rc(u, &objects.Commit{Manifest: bA, Leases: ls, Public: true}), ledger.CodeConflict)
	// A second 3000-byte object does not fit in what is left (500 each).
	mC, bC := manifest(t, data(3000, 3), c.providers...)
	c.fails(u, c.rc(u, &objects.Commit{Manifest: bC, Leases: ls, Public: true}), ledger.CodeInsufficient)
	// A 600-byte one does.
	mB, bB := manifest(t, data(600, 2), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: bB, Leases: ls, Public: true}))

	// Only the owner removes.
	c.fails(other, &objects.Remove{ID: mA.ID().String()}, ledger.CodeUnauthorized)
	r = c.OK(u, &objects.Remove{ID: mA.ID().String()})
	if ev := ledgertest.Find(r.Events, "object.removed"); ev == nil || ev.Get("id") != mA.ID().String() || ev.Get("closed") != "" {
		t.Fatalf("object.removed event %+v (no lease should close: B uses them)", ev)
	}
	if _, err := objects.GetObject(c.Query(), mA.ID().String()); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("removed object: %v", err)
	}
	c.fails(u, &objects.Remove{ID: mA.ID().String()}, ledger.CodeNotFound)
	for _, id := range ls {
		if l := c.lease(id); l.State != market.LeaseActive {
			t.Fatalf("lease %d is %s after removing one of two objects", id, l.State)
		}
	}
	// The freed room takes C.
	c.OK(u, c.rc(u, &objects.Commit{Manifest: bC, Leases: ls, Public: true}))
	c.OK(u, &objects.Remove{ID: mB.ID().String()})
	// Removing the last object closes its leases and refunds the escrow.
	r = c.OK(u, &objects.Remove{ID: mC.ID().String()})
	if ev := ledgertest.Find(r.Events, "object.removed"); ev == nil || ev.Get("closed") != ev.Get("leases") {
		t.Fatalf("object.removed event %+v: every lease should close", ev)
	}
	for _, id := range ls {
		if l := c.lease(id); l.State != market.LeaseClosed || l.Escrow != 0 || l.Refunded == 0 {
			t.Fatalf("lease %d after the last object went: %+v", id, l)
		}
	}
	if s := c.moduleStateOf("objects/"); s != "" {
		t.Fatalf("objects state left behind:\n%s", s)
	}
}

// moduleStateOf lists the keys under prefix that belong to objects: not
// the module's parameters, its sequence counters, the challenge pass or
// providers' proof records, which outlive every object.
func (c *chain) moduleStateOf(prefix string) string {
	var out string
	c.St.Iterate([]byte(prefix), func(k, _ []byte) error {
		rest := strings.TrimPrefix(string(k), "objects/")
		for _, keep := range []string{"params", "pass", "chseq", "rseq", "ps/"} {
			if strings.HasPrefix(rest, keep) {
				return nil
			}
		}
		out += string(k) + "\n"
		return nil
	})
	return out
}

func TestCommitLeaseChecks(t *testing.T) {
	c := newChain(t)
	u, other := c.users[0], c.users[1]
	ls := c.leases(0)
	p0 := c.providers[0]
	_, b := manifest(t, data(3000, 1), c.providers...)

	// A lease of another consumer.
	theirs := c.openLease(other, p0, leaseBytes, true)
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b, Leases: []uint64{theirs, ls[1], ls[2]}, Public: true}), ledger.CodeUnauthorized)
	// A pending lease.
	pending := c.openLease(u, p0, leaseBytes, false)
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b, Leases: []uint64{pending, ls[1], ls[2]}, Public: true}), ledger.CodeConflict)
	// A closed lease.
	closed := c.openLease(u, p0, leaseBytes, true)
	c.OK(u, &market.CloseLease{ID: closed})
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b, Leases: []uint64{closed, ls[1], ls[2]}, Public: true}), ledger.CodeConflict)
	// An unknown lease.
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b, Leases: []uint64{999, ls[1], ls[2]}, Public: true}), ledger.CodeNotFound)
	// No lease with one of the providers.
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls[1:], Public: true}), ledger.CodeInvalid)
	// A lease with a provider that holds no shard.
	_, b01 := manifest(t, data(3000, 1), c.providers[0], c.providers[1])
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b01, Leases: ls, Public: true}), ledger.CodeInvalid)
	// Two leases with one provider add up: 2 x 2000 >= 3000 (2+1 over two
	// providers puts two shards of each segment on provider 0).
	extra := c.openLease(u, p0, leaseBytes, true)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b01, Leases: []uint64{ls[0], extra, ls[1]}, Public: true}))
	// Expiry in the past.
	_, b2 := manifest(t, data(10, 9), c.providers...)
	c.fails(u, c.rc(u, &objects.Commit{Manifest: b2, Leases: ls, ExpiresMs: c.Now.UnixMilli(), Public: true}), ledger.CodeInvalid)
}

func TestValidateAndCanonical(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	ls := c.leases(0)
	m, b := manifest(t, data(100, 1), c.providers...)

	// A shard without a provider.
	m.Segments[0].Shards[1].Provider = ""
	noProv, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bad := []*objects.Commit{
		{Manifest: noProv, Leases: ls},
		{Manifest: b[:len(b)-1], Leases: ls},
		{Manifest: b},
		{Manifest: b, Leases: []uint64{ls[0], ls[0]}},
		{Manifest: b, Leases: make([]uint64, objects.MaxLeases+1)},
		{Manifest: b, Leases: ls, ExpiresMs: -1},
	}
	for i, msg := range bad {
		if err := msg.Validate(); errs.KindOf(err) != errs.Invalid {
			t.Errorf("bad commit %d: Validate = %v", i, err)
		}
		c.fails(u, msg, ledger.CodeInvalid)
	}
	if err := (&objects.Remove{ID: "nope"}).Validate(); errs.KindOf(err) != errs.Invalid {
		t.Errorf("Remove with a bad id: %v", err)
	}

	// Canonical bytes pass; any other spelling is refused.
	good := c.rc(u, &objects.Commit{Manifest: b, Leases: ls, Public: true})
	enc := string(encode(t, good))
	noRc := *good
	noRc.Receipts = nil
	pre := string(encode(t, &noRc))
	pre = pre[:len(pre)-2]            // without uvarint(0) receipts and bytes(wrapped key)
	rcs := enc[len(pre) : len(enc)-1] // uvarint(3) receipt(3)
	const wk = "\x00"                 // bytes(wrapped key): none, as the object is public
	one := rcs[1 : 1+(len(rcs)-1)/3]  // one receipt
	tail := pre[len(pre)-len(ls)-3:]  // uvarint(3) leases(3) uvarint(0) bool
	head := pre[:len(pre)-len(tail)]
	for name, s := range map[string]string{
		"trailing byte":               enc + "\x00",
		"truncated":                   enc[:len(enc)-1],
		"bool 2":                      pre[:len(pre)-1] + "\x02" + rcs + wk,
		"non-minimal count":           head + "\x83\x00" + tail[1:] + rcs + wk,
		"count over MaxLeases":        head + "\x41" + tail[1:] + rcs + wk,
		"expiry over int64":           pre[:len(pre)-2] + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01" + rcs + wk,
		"manifest length lies":        "\xff\xff\x03" + enc[2:],
		"receipts over MaxLeases":     pre + "\x41" + rcs[1:] + wk,
		"a receipt missing":           pre + "\x02" + rcs[1:len(rcs)-len(one)] + wk,
		"no receipts":                 pre + "\x00" + wk,
		"a receipt expiry over int64": pre + "\x01" + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" + one[len(one)-64:] + wk,
		"a receipt repeated":          pre + "\x03" + one + one + one + wk,
		"public with a key":           pre + rcs + "\x01k",
		"private without a key":       pre[:len(pre)-1] + "\x00" + rcs + wk,
		"key over the bound":          pre + rcs + "\x81\x08" + strings.Repeat("k", objects.MaxWrappedKey+1),
		"no key field":                pre + rcs,
		"JSON, as once encoded":       `{"manifest":"","leases":[]}`,
	} {
		before := moduleState(c.Chain)
		r := c.BlockAfter(time.Second, c.Tx(u, &ledgertest.RawMsg{Typ: "objects/commit", B: []byte(s)}))[0]
		if r.Code != ledger.CodeInvalid {
			t.Fatalf("%s: code %d (%s)", name, r.Code, r.Log)
		}
		if moduleState(c.Chain) != before {
			t.Fatal("a refused message changed state")
		}
	}
	c.BlockAfter(time.Second, c.Tx(u, &ledgertest.RawMsg{Typ: "objects/commit", B: []byte(enc)}))
	if r := c.Results[0]; r.Code != ledger.CodeOK {
		t.Fatalf("canonical bytes: code %d (%s)", r.Code, r.Log)
	}
}

// TestExpiriesCarriedOver: one block drops at most the cap of objects at
// their expiry; the rest go in the next blocks, earliest first.
func TestExpiriesCarriedOver(t *testing.T) {
	defer objects.SetMaxExpiriesPerBlock(2)()
	c := newChain(t)
	u := c.users[0]
	ls := c.leases(0)
	exp := c.Now.Add(10 * time.Second)
	for i := range 5 {
		_, b := manifest(t, data(300, byte(40+i)), c.providers...)
		c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, ExpiresMs: exp.UnixMilli(), Public: true}))
	}
	c.BlockAfter(exp.Sub(c.Now))
	for i, want := range []int{2, 2, 1, 0} {
		if i > 0 {
			c.BlockAfter(time.Second)
		}
		n := 0
		for _, e := range c.EndEvents {
			if e.Type == "object.expired" {
				n++
			}
		}
		if n != want {
			t.Fatalf("block %d at or after the expiry dropped %d objects, want %d", i, n, want)
		}
	}
	if os, _, _ := objects.ObjectsAfter(c.Query(), u.Address(), nil, 10); len(os) != 0 {
		t.Fatalf("%d objects left after their expiry", len(os))
	}
}

func TestExpiry(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	ls := c.leases(0)
	m, b := manifest(t, data(3000, 1), c.providers...)
	exp := c.Now.Add(10 * time.Second)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, ExpiresMs: exp.UnixMilli(), Public: true}))
	// A second object without expiry on other leases stays.
	ls2 := c.leases(0)
	m2, b2 := manifest(t, data(600, 2), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b2, Leases: ls2, Public: true}))

	c.BlockAfter(exp.Add(-time.Millisecond).Sub(c.Now))
	if ledgertest.Find(c.EndEvents, "object.expired") != nil {
		t.Fatal("expired before its time")
	}
	if _, err := objects.GetObject(c.Query(), m.ID().String()); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	c.BlockAfter(time.Millisecond)
	ev := ledgertest.Find(c.EndEvents, "object.expired")
	if ev == nil || ev.Get("id") != m.ID().String() || ev.Get("closed") != ev.Get("leases") {
		t.Fatalf("object.expired event %+v in %v", ev, c.EndEvents)
	}
	if _, err := objects.GetObject(c.Query(), m.ID().String()); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("after expiry: %v", err)
	}
	for _, id := range ls {
		if l := c.lease(id); l.State != market.LeaseClosed {
			t.Fatalf("lease %d of the expired object is %s", id, l.State)
		}
	}
	os, _, err := objects.ObjectsAfter(c.Query(), u.Address(), nil, 10)
	if err != nil || len(os) != 1 || os[0].ID != m2.ID().String() {
		t.Fatalf("ObjectsAfter after expiry = %v, %v", os, err)
	}
	// Nothing more happens later.
	c.BlockAfter(time.Hour)
	if ledgertest.Find(c.EndEvents, "object.expired") != nil {
		t.Fatal("expired twice")
	}
}

func TestShardRefsAndEmptyObject(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	ls := c.leases(0)
	// 3000 bytes of zeros: every segment has the same shards, so each
	// provider holds its one shard hash three times (the last segment is
	// shorter, so its shards differ).
	m, b := manifest(t, make([]byte, 3000), c.providers...)
	refs := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, seg := range m.Segments {
			for j, sh := range seg.Shards {
				p := c.providers[j%len(c.providers)].Address()
				out[p.String()+"/"+sh.Hash.String()] = objects.ShardRefs(c.Query(), p, sh.Hash)
			}
		}
		return out
	}
	for k, n := range refs() {
		if n != 0 {
			t.Fatalf("before commit: %s has %d refs", k, n)
		}
	}
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, Public: true}))
	want := map[string]uint64{}
	for _, seg := range m.Segments {
		for j, sh := range seg.Shards {
			want[c.providers[j%len(c.providers)].Address().String()+"/"+sh.Hash.String()]++
		}
	}
	got := refs()
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("after commit: %s has %d refs, want %d", k, got[k], n)
		}
	}
	// A shard on another provider than the one holding it has none.
	if n := objects.ShardRefs(c.Query(), c.users[1].Address(), m.Segments[0].Shards[0].Hash); n != 0 {
		t.Fatalf("refs on a non-provider: %d", n)
	}
	c.OK(u, &objects.Remove{ID: m.ID().String()})
	for k, n := range refs() {
		if n != 0 {
			t.Fatalf("after remove: %s has %d refs", k, n)
		}
	}

	// The empty object needs no lease, and refuses one.
	e, eb := manifest(t, nil, c.providers...)
	c.fails(u, c.rc(u, &objects.Commit{Manifest: eb, Leases: ls[:1], Public: true}), ledger.CodeInvalid)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: eb, Public: true}))
	if v, err := objects.GetObject(c.Query(), e.ID().String()); err != nil || v.Size != 0 || len(v.Leases) != 0 {
		t.Fatalf("empty object: %+v, %v", v, err)
	}
	c.OK(u, &objects.Remove{ID: e.ID().String()})
}

// FuzzDecodeCommit: any bytes either fail to decode, or decode to a Commit
// that encodes back to exactly those bytes (one encoding per message), and
// validating it never panics.
func FuzzDecodeCommit(f *testing.F) {
	_, b := manifest(&testing.T{}, data(3000, 1), testKey("p0"), testKey("p1"))
	rcs := receipts(&testing.T{}, b, testKey("user0").Address(), t0)
	for _, c := range []*objects.Commit{
		{Manifest: b, Leases: []uint64{1, 2, 3}, ExpiresMs: 1234, Public: true},
		{Manifest: b, Leases: []uint64{1, 2}, Receipts: rcs},
		{Manifest: b, Leases: []uint64{1, 2}, Receipts: rcs, WrappedKey: []byte("age-encryption.org/v1\n-> ssh-ed25519 ...")},
		{Manifest: b, Receipts: rcs[:1]},
		{Manifest: b},
		{},
	} {
		w := codec.NewWriter(0)
		c.Encode(w)
		f.Add(w.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var c objects.Commit
		r := codec.NewReader(in)
		if err := c.Decode(r); err != nil || r.Finish() != nil {
			return
		}
		w := codec.NewWriter(len(in))
		c.Encode(w)
		if !bytes.Equal(w.Bytes(), in) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", in, c, w.Bytes())
		}
		_ = c.Validate()
	})
}

// TestCommitAndRemoveAfterTimeKeepEscrowWhole: commit and remove read the
// leases a month after they opened, when settling them moves whole ustr
// (at these tiny leases' rates, a few); the market's escrow bucket must
// still equal its leases' escrow (checked after every block). Reading a
// lease through market.GetLease, which settles a copy, broke this.
func TestCommitAndRemoveAfterTimeKeepEscrowWhole(t *testing.T) {
	c := newChain(t)
	u := c.users[0]
	ls := c.leases(0)
	month := 30 * 24 * time.Hour
	c.BlockAfter(month)
	m, b := manifest(t, data(3000, 9), c.providers...)
	c.OK(u, c.rc(u, &objects.Commit{Manifest: b, Leases: ls, Public: true}))
	c.BlockAfter(month)
	c.OK(u, &objects.Remove{ID: m.ID().String()})
	c.BlockAfter(month)
}
