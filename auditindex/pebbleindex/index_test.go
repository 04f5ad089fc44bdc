package pebbleindex

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/identity"
	_ "github.com/stratus-cloud/stratus/market" // its event declarations
)

// fakeLog is an in-memory log: leaves encoded as the ledger encodes them.
type fakeLog struct{ leaves [][]byte }

func (l *fakeLog) Size() uint64                  { return uint64(len(l.leaves)) }
func (l *fakeLog) Leaf(i uint64) ([]byte, error) { return l.leaves[i], nil }
func (l *fakeLog) Time(h int64, _ []byte) time.Time {
	return time.Unix(1_700_000_000+h, 0).UTC()
}

func (l *fakeLog) tx(h int64, pos uint32, signer identity.Address) {
	w := codec.NewWriter(128)
	w.String("tx")
	w.Uvarint(uint64(h))
	w.Uvarint(uint64(pos))
	var hash [32]byte
	copy(hash[:], strconv.FormatInt(h*100+int64(pos), 10))
	w.Fixed(hash[:])
	w.Uvarint(0)
	w.Fixed(signer[:])
	w.String("bank/transfer")
	l.leaves = append(l.leaves, w.Bytes())
}

func (l *fakeLog) event(h int64, pos int, typ string, attrs ...string) {
	w := codec.NewWriter(128)
	w.String("event")
	w.Uvarint(uint64(h))
	w.Uvarint(uint64(pos + 1))
	w.String(typ)
	w.Uvarint(uint64(len(attrs) / 2))
	for _, a := range attrs {
		w.String(a)
	}
	l.leaves = append(l.leaves, w.Bytes())
}

func addr(b byte) identity.Address { var a identity.Address; a[0] = b; return a }

// TestNextIndexesWholeBlocks: a batch never ends inside a block, event
// leaves get the hash of their transaction, and an index ahead of the log
// says so.
func TestNextIndexesWholeBlocks(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "idx"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	alice, bob := addr(1), addr(2)
	l := &fakeLog{}
	l.event(0, -1, "chain.genesis")
	for h := int64(1); h <= 3; h++ {
		l.tx(h, 0, alice)
		l.event(h, 0, "bank.transfer", "from", alice.String(), "to", bob.String())
		l.tx(h, 1, bob)
		l.event(h, 1, "lease.opened", "lease", strconv.FormatInt(h, 10), "consumer", bob.String())
	}
	var heights []int64
	for {
		blocks, err := x.Next(l, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) == 0 {
			break
		}
		if len(blocks) != 1 {
			t.Fatalf("a batch of at most 1 leaf gave %d blocks, want 1 whole block", len(blocks))
		}
		heights = append(heights, blocks[0].Height)
		c, _ := x.Cursor()
		if want := blocks[0].Items[len(blocks[0].Items)-1].Index + 1; c.Size != want {
			t.Fatalf("cursor %d after block %d, want %d", c.Size, blocks[0].Height, want)
		}
	}
	if len(heights) != 4 {
		t.Fatalf("batches of heights %v, want 0, 1, 2, 3", heights)
	}
	it, ok, err := x.Item(2)
	if err != nil || !ok || it.Type != "bank.transfer" || it.Tx == "" {
		t.Fatalf("leaf 2 = %+v %v %v, want the transfer with its tx hash", it, ok, err)
	}
	tx, _, _ := x.Item(1)
	if it.Tx != tx.Tx {
		t.Errorf("event's tx %s, its transaction's leaf %s", it.Tx, tx.Tx)
	}
	// Bob: signer of three, consumer of three leases, named in three
	// transfers.
	h, err := x.History(bob, 0, false, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != 6 {
		t.Fatalf("bob's history has %d entries, want 6", len(h.Entries))
	}
	if e := h.Entries[0]; e.Tx.Index != 11 || len(e.Roles) != 2 || e.Roles[0] != auditindex.RoleSigner || e.Roles[1] != "consumer" {
		t.Errorf("bob's newest = %+v, want leaf 11, roles signer and consumer", e)
	}
	// A smaller log: the index is ahead of it.
	short := &fakeLog{leaves: l.leaves[:3]}
	if _, err := x.Next(short, 10); !errors.Is(err, ErrAhead) {
		t.Errorf("Next on a shorter log: %v, want ErrAhead", err)
	}
	// A log as long but with another leaf where the index stopped: the
	// index was built from another chain.
	other := &fakeLog{leaves: append([][]byte(nil), l.leaves...)}
	other.leaves[len(other.leaves)-1] = other.leaves[len(other.leaves)-3]
	other.event(4, -1, "chain.genesis")
	if _, err := x.Next(other, 10); !errors.Is(err, ErrAhead) {
		t.Errorf("Next on another log: %v, want ErrAhead", err)
	}
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	if c, _ := x.Cursor(); c.Size != 0 {
		t.Errorf("cursor after Reset = %+v", c)
	}
}

// TestQueryScanBound: a filter that matches little ends its page at the
// scan bound with a cursor, and following the cursors finds every match
// once.
func TestQueryScanBound(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "idx"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	l := &fakeLog{}
	for h := int64(1); h <= 50; h++ {
		l.event(h, -1, "bank.fees_distributed", "pool", "1")
		if h%10 == 0 {
			l.event(h, -1, "lease.closed", "lease", "9")
		}
	}
	for {
		b, err := x.Next(l, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
	}
	// Kind and resource together: both lists have 5 entries for
	// lease.closed; scan every leaf with a bound of 4.
	f := auditindex.Filter{Resource: "lease:9", Kind: "lease.closed"}
	var got []uint64
	var after uint64
	has := false
	pages := 0
	for {
		p, err := x.Query(f, after, has, 100, 4)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range p.Items {
			got = append(got, it.Index)
		}
		if !p.More {
			break
		}
		after, has = p.After, true
	}
	if len(got) != 5 || pages < 2 {
		t.Errorf("found %v in %d pages, want 5 leaves over more than one page", got, pages)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("out of order: %v", got)
		}
	}
	// With no filter and a scan bound of 3, the page stops at 3.
	p, err := x.Query(auditindex.Filter{}, 0, false, 100, 3)
	if err != nil || len(p.Items) != 3 || !p.More || p.After != 2 {
		t.Errorf("unfiltered page with bound 3 = %d items, more %v after %d, %v", len(p.Items), p.More, p.After, err)
	}
	// A filter no leaf matches costs nothing and has no next page.
	p, err = x.Query(auditindex.Filter{Kind: "nothing.here"}, 0, false, 100, 3)
	if err != nil || len(p.Items) != 0 || p.More {
		t.Errorf("unmatched kind = %+v, %v", p, err)
	}
	// Heights and times map to the first leaf of their block.
	if lf, err := x.LeafAtHeight(10); err != nil || lf != 9 {
		t.Errorf("LeafAtHeight(10) = %d, %v; want 9", lf, err)
	}
	if lf, err := x.LeafAtTime(time.Unix(1_700_000_000+11, 0)); err != nil || lf != 11 {
		t.Errorf("LeafAtTime(block 11) = %d, %v; want 11", lf, err)
	}
	if lf, err := x.LeafAtHeight(1000); err != nil || lf != l.Size() {
		t.Errorf("LeafAtHeight past the end = %d, %v; want the size %d", lf, err, l.Size())
	}
}
