package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// chainLedger is a fakeLedger that also answers the access log's
// questions, and takes anchors as the ledger does: once per epoch, only
// for finished epochs.
type chainLedger struct {
	*fakeLedger
	mu      sync.Mutex
	current uint64 // the ledger's epoch
	anchors map[uint64]objects.AnchorRecord
	objects map[string]objects.ObjectView
	sent    int // anchors submitted
	asked   int // Object calls
}

func newChainLedger() *chainLedger {
	return &chainLedger{fakeLedger: newFakeLedger(), anchors: map[uint64]objects.AnchorRecord{}, objects: map[string]objects.ObjectView{}}
}

func (c *chainLedger) AnchorWindow(context.Context) (objects.AnchorWindow, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return objects.AnchorWindow{EpochSeconds: 60, Current: c.current, Oldest: max(c.current, 100) - 100}, nil
}

func (c *chainLedger) Anchor(_ context.Context, _ identity.Address, epoch uint64) (objects.AnchorRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.anchors[epoch]
	if !ok {
		return a, errs.E(errs.NotFound, "no anchor of epoch %d", epoch)
	}
	return a, nil
}

func (c *chainLedger) Object(_ context.Context, id string) (objects.ObjectView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	o, ok := c.objects[id]
	if !ok {
		return o, errs.E(errs.NotFound, "no object %s", id)
	}
	return o, nil
}

// submit is the ledger's objects/anchor.
func (c *chainLedger) submit(_ context.Context, m *objects.Anchor) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent++
	if m.Epoch >= c.current {
		return errs.E(errs.Invalid, "epoch %d is not over", m.Epoch)
	}
	if _, ok := c.anchors[m.Epoch]; ok {
		return errs.E(errs.Conflict, "epoch %d is anchored", m.Epoch)
	}
	c.anchors[m.Epoch] = objects.AnchorRecord{Epoch: m.Epoch, Root: m.Root, Count: m.Count, Height: 7}
	return nil
}

func (c *chainLedger) setEpoch(e uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.current = e
}

// accessFixture is a provider with an access log, a private object of
// owner's with one shard on it, and a clock the test moves.
type accessFixture struct {
	*fixture
	chain   *chainLedger
	owner   *identity.Key
	id      string
	h       shardstore.Hash
	data    []byte
	clockMu sync.Mutex
	clock   time.Time
}

// epoch0 is the first epoch of the tests' clock (60 s epochs).
const epoch0 = 29_000_000

func newAccessFixture(t *testing.T, dir string, chain *chainLedger) *accessFixture {
	t.Helper()
	f := &accessFixture{chain: chain, owner: key("owner"), clock: time.UnixMilli(epoch0*60_000 + 1000)}
	f.fixture = startWith(t, dir, chain.fakeLedger, chain, 1<<30)
	if f.svc.AccessLog() == nil {
		t.Fatal("a provider whose ledger is an AccessLedger has no access log")
	}
	f.svc.AccessLog().now = f.now
	f.h, f.data = shard("private ciphertext ", 3000)
	chain.setQuota(f.owner.Address(), 1<<20)
	if err := f.c.PutShard(context.Background(), f.svc.URL(), f.owner, f.h, f.data); err != nil {
		t.Fatal(err)
	}
	man := &storage.Manifest{Size: 3000, Segments: []storage.Segment{{Length: 3000, Shards: []storage.ShardRef{{Hash: storage.Hash(f.h), Size: 3000, Provider: f.svc.Addr().String()}}}}}
	f.id = "bobject"
	chain.mu.Lock()
	chain.objects[f.id] = objects.ObjectView{Object: objects.Object{ID: f.id, Owner: f.owner.Address()}, Decoded: man}
	chain.mu.Unlock()
	chain.setEpoch(epoch0)
	return f
}

func (f *accessFixture) now() time.Time {
	f.clockMu.Lock()
	defer f.clockMu.Unlock()
	return f.clock
}

func (f *accessFixture) advance(d time.Duration) {
	f.clockMu.Lock()
	defer f.clockMu.Unlock()
	f.clock = f.clock.Add(d)
}

// read records a signed read of n bytes at off of the fixture's shard by
// reader, as the shard API does once it has verified the request.
func (f *accessFixture) read(t *testing.T, reader *identity.Key, off, n int64) httpsig.Recorded {
	t.Helper()
	q := f.signedRead(t, reader, off, n)
	srv := httptest.NewRequest(q.Method, q.URL.RequestURI(), nil)
	srv.Host = q.URL.Host
	srv.Header = q.Header.Clone()
	authority := strings.TrimPrefix(f.svc.URL(), "http://")
	if _, err := httpsig.NewVerifier(httpsig.VerifierOptions{Authority: authority}).Verify(srv, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AccessLog().Record(context.Background(), srv, reader.Address(), f.h, off, n); err != nil {
		t.Fatalf("Record: %v", err)
	}
	rec, err := httpsig.Record(q, "")
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// signedRead is reader's signed request for n bytes at off of the
// fixture's shard, as the reader sends it.
func (f *accessFixture) signedRead(t *testing.T, reader *identity.Key, off, n int64) *http.Request {
	t.Helper()
	u := fmt.Sprintf("%s/shards/%s?range=%s", f.svc.URL(), f.h, url.QueryEscape(fmt.Sprintf("bytes=%d-%d", off, off+n-1)))
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := httpsig.NewNonce()
	if err := httpsig.Sign(req, reader, time.Now(), nonce); err != nil {
		t.Fatal(err)
	}
	return req
}

// check fetches the owner's records and checks each against the ledger's
// anchors.
func (f *accessFixture) check(t *testing.T) []Checked {
	t.Helper()
	es, err := FetchAccess(context.Background(), nil, f.svc.URL(), f.owner, f.id, 0)
	if err != nil {
		t.Fatalf("FetchAccess: %v", err)
	}
	var out []Checked
	for _, e := range es {
		var a *objects.AnchorRecord
		if got, err := f.chain.Anchor(context.Background(), f.svc.Addr(), e.Epoch); err == nil {
			a = &got
		}
		out = append(out, CheckEntry(e, f.svc.Addr(), a))
	}
	return out
}

func (f *accessFixture) anchorDue(t *testing.T) int {
	t.Helper()
	n, err := f.svc.AccessLog().AnchorDue(context.Background(), f.chain.submit)
	if err != nil {
		t.Fatalf("AnchorDue: %v", err)
	}
	return n
}

// A grantee's read is recorded, anchored once its epoch is over, and shown
// to the owner with a proof against the anchored root.
func TestAccessReadAnchoredAndProved(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	grantee := key("grantee")
	f.read(t, grantee, 0, 3000)
	f.read(t, f.owner, 100, 200)
	f.advance(time.Second)
	f.read(t, grantee, 1000, 10)

	if n := f.anchorDue(t); n != 0 {
		t.Fatalf("anchored %d epochs while the epoch is not over", n)
	}
	cs := f.check(t)
	if len(cs) != 3 {
		t.Fatalf("%d records, want 3", len(cs))
	}
	for _, c := range cs {
		if c.Anchored || c.AnchorOK || !c.SignatureOK || c.Failed() {
			t.Fatalf("before the anchor: %+v", c)
		}
	}

	f.chain.setEpoch(epoch0 + 1)
	if n := f.anchorDue(t); n != 1 {
		t.Fatalf("anchored %d epochs, want 1", n)
	}
	a := f.chain.anchors[epoch0]
	if a.Count != 3 {
		t.Fatalf("anchor %+v, want 3 records", a)
	}
	cs = f.check(t)
	want := []struct {
		reader    string
		off, n    int64
		index     uint64
		shardHash storage.Hash
	}{
		{grantee.Address().String(), 0, 3000, 0, storage.Hash(f.h)},
		{f.owner.Address().String(), 100, 200, 1, storage.Hash(f.h)},
		{grantee.Address().String(), 1000, 10, 2, storage.Hash(f.h)},
	}
	for i, c := range cs {
		w := want[i]
		if c.Reader != w.reader || c.Offset != w.off || c.Bytes != w.n || c.Index != w.index || c.Shard != w.shardHash || c.Epoch != epoch0 {
			t.Errorf("record %d: %+v, want %+v", i, c.AccessRecord, w)
		}
		if !c.SignatureOK || !c.AnchorOK || c.Failed() || c.AnchorHeight != 7 {
			t.Errorf("record %d: signature %v, anchor %v, problem %q", i, c.SignatureOK, c.AnchorOK, c.Problem)
		}
		if len(c.Objects) != 1 || c.Objects[0] != f.id {
			t.Errorf("record %d: objects %v", i, c.Objects)
		}
	}
	// Nothing more to anchor, and nothing sent again.
	if n := f.anchorDue(t); n != 0 || f.chain.sent != 1 {
		t.Fatalf("second pass anchored %d, %d anchors sent in all", n, f.chain.sent)
	}
}

// A read served while the agent anchors its epoch goes into the next
// epoch's batch, never into an anchored one.
func TestAccessSealedEpochTakesNoRecords(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	f.read(t, f.owner, 0, 1)
	f.chain.setEpoch(epoch0 + 1)
	f.anchorDue(t)
	// The provider's clock is still in epoch0.
	f.read(t, f.owner, 0, 2)
	cs := f.check(t)
	if len(cs) != 2 || cs[0].Epoch != epoch0 || cs[1].Epoch != epoch0+1 || cs[1].Index != 0 {
		t.Fatalf("records %+v", cs)
	}
	if cs[1].Anchored || !cs[0].AnchorOK {
		t.Fatalf("the late read: %+v", cs[1])
	}
}

// A record the provider changes on its disk after anchoring no longer
// verifies: against the root if it changes what was read, against the
// signature if it changes who read it.
func TestAccessAlteredRecordFails(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	f.read(t, key("grantee"), 0, 3000)
	f.read(t, key("grantee"), 0, 10)
	f.chain.setEpoch(epoch0 + 1)
	f.anchorDue(t)

	rewrite := func(index uint64, change func(*AccessRecord)) {
		t.Helper()
		rec, err := f.svc.AccessLog().record(epoch0, index)
		if err != nil {
			t.Fatal(err)
		}
		change(rec)
		b, _ := json.Marshal(rec)
		if err := f.svc.idx.db.Set(epochKey(prefRecord, epoch0, index), b, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	// Fewer bytes than were served, and another reader than asked.
	rewrite(0, func(r *AccessRecord) { r.Bytes = 1 })
	rewrite(1, func(r *AccessRecord) { r.Reader = key("someone else").Address().String() })
	cs := f.check(t)
	if len(cs) != 2 {
		t.Fatalf("%d records", len(cs))
	}
	// The altered record's leaf is not the one anchored, whatever proof
	// the provider sends with it.
	if cs[0].AnchorOK || !cs[0].AnchorFailed || !cs[0].Failed() || !strings.Contains(cs[0].Problem, "anchor") {
		t.Errorf("altered bytes: %+v", cs[0])
	}
	if cs[1].SignatureOK || cs[1].AnchorOK || !strings.Contains(cs[1].Problem, "signature") {
		t.Errorf("altered reader: %+v", cs[1])
	}

	// Hiding a read by calling its epoch unanchored fails too: the ledger
	// has the anchor.
	es, err := FetchAccess(context.Background(), nil, f.svc.URL(), f.owner, f.id, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := es[0]
	e.Anchored, e.Proof, e.Root, e.Count = false, nil, nil, 0
	a := f.chain.anchors[epoch0]
	if c := CheckEntry(e, f.svc.Addr(), &a); c.AnchorOK || !c.Failed() {
		t.Errorf("a record passed off as unanchored: %+v", c)
	}
}

// Only the owner sees who read its object.
func TestAccessOnlyOwner(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	f.read(t, key("grantee"), 0, 3000)
	ctx := context.Background()
	for name, k := range map[string]*identity.Key{"grantee": key("grantee"), "stranger": key("stranger")} {
		_, err := FetchAccess(ctx, nil, f.svc.URL(), k, f.id, 0)
		if !errs.Is(err, errs.Forbidden) {
			t.Errorf("%s: %v, want Forbidden", name, err)
		}
	}
	resp, err := http.Get(f.svc.URL() + "/access?object=" + f.id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %d, want 401", resp.StatusCode)
	}
	// 403, over the wire.
	req, _ := http.NewRequest(http.MethodGet, f.svc.URL()+"/access?object="+f.id, nil)
	nonce, _ := httpsig.NewNonce()
	httpsig.Sign(req, key("stranger"), time.Now(), nonce)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("stranger: %d, want 403", resp.StatusCode)
	}
	if _, err := FetchAccess(ctx, nil, f.svc.URL(), f.owner, "nosuchobject", 0); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown object: %v", err)
	}
}

// After a restart the agent finds on the ledger what it anchored before,
// and sends nothing again; records survive the restart.
func TestAccessAnchorIdempotentAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	chain := newChainLedger()
	f := newAccessFixture(t, dir, chain)
	f.read(t, f.owner, 0, 5)
	chain.setEpoch(epoch0 + 1)
	// The anchor lands on the ledger, but the provider never hears back.
	leaves, err := f.svc.AccessLog().leaves(epoch0, 1)
	if err != nil {
		t.Fatal(err)
	}
	chain.submit(context.Background(), &objects.Anchor{Epoch: epoch0, Root: AccessRoot(leaves), Count: 1})
	f.svc.Close()

	g := &accessFixture{chain: chain, owner: f.owner, id: f.id, h: f.h, clock: f.clock}
	g.fixture = startWith(t, dir, chain.fakeLedger, chain, 1<<30)
	g.svc.AccessLog().now = g.now
	if n := g.anchorDue(t); n != 0 || chain.sent != 1 {
		t.Fatalf("after a restart: anchored %d, %d sent in all", n, chain.sent)
	}
	cs := g.check(t)
	if len(cs) != 1 || !cs[0].AnchorOK || cs[0].Failed() {
		t.Fatalf("records after the restart: %+v", cs)
	}
}

// The leaf encoding separates its fields: moving bytes from one field to
// the next changes the leaf.
func TestAccessLeafIsUnambiguous(t *testing.T) {
	a := AccessRecord{Provider: "ab", Reader: "c", Request: httpsig.Recorded{Method: "GET"}}
	b := AccessRecord{Provider: "a", Reader: "bc", Request: httpsig.Recorded{Method: "GET"}}
	if string(a.LeafHash()) == string(b.LeafHash()) {
		t.Fatal("two records share a leaf")
	}
}

// Through the shard API: a grantee's signed read is recorded before it is
// served and shows with its proof; a stranger's refused read and an
// unsigned one leave no record; a record claiming other bytes than the
// reader signed for fails.
func TestAccessSignedReadsThroughShardAPI(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	grantee, stranger := key("grantee"), key("stranger")
	f.chain.setPrivate(f.h, f.owner.Address(), grantee.Address())
	ctx := context.Background()

	got, err := f.c.GetShardSigned(ctx, f.svc.URL(), grantee, f.h, 100, 50)
	if err != nil {
		t.Fatalf("grantee's read: %v", err)
	}
	if string(got) != string(f.data[100:150]) {
		t.Fatal("the grantee got other bytes")
	}
	if _, err := f.c.GetShardSigned(ctx, f.svc.URL(), stranger, f.h, 0, 10); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("stranger's read: %v, want Forbidden", err)
	}
	if _, err := f.c.GetShard(ctx, f.svc.URL(), f.h, 0, 10); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("unsigned read: %v, want Unauthorized", err)
	}
	f.chain.setEpoch(epoch0 + 1)
	if n := f.anchorDue(t); n != 1 || f.chain.anchors[epoch0].Count != 1 {
		t.Fatalf("anchored %d epochs, %+v: want one epoch of one record (the stranger's read is not recorded)", n, f.chain.anchors[epoch0])
	}
	cs := f.check(t)
	if len(cs) != 1 {
		t.Fatalf("%d records, want the grantee's only", len(cs))
	}
	c := cs[0]
	if c.Reader != grantee.Address().String() || c.Offset != 100 || c.Bytes != 50 || !c.SignatureOK || !c.AnchorOK || c.Failed() {
		t.Fatalf("the grantee's read: %+v", c)
	}
	// The provider cannot claim it served fewer bytes from elsewhere, or
	// more than the reader asked for: the signed range says otherwise.
	for _, change := range []func(*AccessRecord){
		func(r *AccessRecord) { r.Offset = 0 },
		func(r *AccessRecord) { r.Bytes = 51 },
	} {
		e := c.AccessEntry
		change(&e.AccessRecord)
		if err := VerifyAccessSignature(&e.AccessRecord); !errs.Is(err, errs.Unauthorized) {
			t.Errorf("a record of other bytes than signed for: %v", err)
		}
	}
}

// A provider cannot pass a record off as anchored when the ledger has no
// anchor of its epoch, nor count one signed read twice.
func TestAccessClaimsCheckedAgainstLedger(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	f.read(t, f.owner, 0, 1)
	es, err := FetchAccess(context.Background(), nil, f.svc.URL(), f.owner, f.id, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := es[0]
	e.Anchored, e.Root, e.Count = true, &storage.Hash{}, 1
	if c := CheckEntry(e, f.svc.Addr(), nil); !c.AnchorFailed || !c.Failed() {
		t.Errorf("an anchor the ledger does not have: %+v", c)
	}
	if c := CheckEntry(es[0], key("another provider").Address(), nil); !c.Failed() {
		t.Errorf("a record from another provider than named: %+v", c)
	}
	rs := []Checked{CheckEntry(es[0], f.svc.Addr(), nil), CheckEntry(es[0], f.svc.Addr(), nil)}
	rs[1].Index = 1
	markReplays(rs)
	if rs[0].Failed() || !rs[1].Failed() || !strings.Contains(rs[1].Problem, "replay") {
		t.Errorf("a signed read recorded twice: %+v", rs)
	}
}

// A stranger's refused request keeps no nonce, so it may be sent again and
// again: the provider asks the ledger about the object once, not each time.
func TestAccessStrangerCostsOneLedgerQuery(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	req, _ := http.NewRequest(http.MethodGet, f.svc.URL()+"/access?object="+f.id, nil)
	nonce, _ := httpsig.NewNonce()
	httpsig.Sign(req, key("stranger"), time.Now(), nonce)
	for range 20 {
		r := req.Clone(context.Background())
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	}
	f.chain.mu.Lock()
	defer f.chain.mu.Unlock()
	if f.chain.asked != 1 {
		t.Fatalf("the ledger was asked %d times", f.chain.asked)
	}
}

// A reader's receipt of a read the provider logged is found; one of a read
// it served without a record is named; a forged receipt proves nothing.
func TestAccessReceipts(t *testing.T) {
	f := newAccessFixture(t, t.TempDir(), newChainLedger())
	grantee := key("grantee")
	logged := f.read(t, grantee, 0, 10)
	f.chain.setEpoch(epoch0 + 1)
	f.anchorDue(t)
	// Served, but never recorded.
	unlogged, err := httpsig.Record(f.signedRead(t, grantee, 10, 10), "")
	if err != nil {
		t.Fatal(err)
	}
	forged := unlogged
	forged.Query = "?range=bytes%3D0-2999"
	other := logged
	other.Path = "/shards/" + strings.Repeat("ab", 32) // another object's shard

	rep := &AccessReport{Object: f.id, Records: f.check(t), shards: map[storage.Hash]bool{storage.Hash(f.h): true}}
	rep.CheckReceipts([]httpsig.Recorded{logged, unlogged, forged, other})
	if len(rep.Receipts) != 3 {
		t.Fatalf("receipts %+v: want three (the other object's skipped)", rep.Receipts)
	}
	if c := rep.Receipts[0]; !c.Logged || !c.Anchored || c.Problem != "" || c.Reader != grantee.Address().String() {
		t.Errorf("the logged read: %+v", c)
	}
	if c := rep.Receipts[1]; c.Logged || !strings.Contains(c.Problem, "not logged") {
		t.Errorf("the unlogged read: %+v", c)
	}
	if c := rep.Receipts[2]; c.Logged || !strings.Contains(c.Problem, "does not verify") {
		t.Errorf("a forged receipt: %+v", c)
	}
	if len(rep.Unlogged()) != 2 {
		t.Errorf("unlogged %+v", rep.Unlogged())
	}
}
