package pebbleindex

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// Page is one page of a query.
type Page struct {
	Items []auditindex.Item
	// More is set when the query did not reach the end of its range:
	// After is then the cursor to continue from.
	More  bool
	After uint64
}

// Query returns up to limit leaves that f chooses after leaf after (all
// from f.From when hasAfter is false), in log order. It reads at most
// maxScan index entries: a page that reaches the bound ends early with
// More set, so a filter that matches little costs a bounded amount.
func (x *Index) Query(f auditindex.Filter, after uint64, hasAfter bool, limit, maxScan int) (Page, error) {
	snap := x.db.NewSnapshot()
	defer snap.Close()
	cur, err := readCursor(snap)
	if err != nil {
		return Page{}, err
	}
	lo, hi := f.From, cur.Size
	if f.To != 0 && f.To < hi {
		hi = f.To
	}
	if hasAfter {
		if after == noBound {
			return Page{Items: []auditindex.Item{}}, nil
		}
		lo = max(lo, after+1)
	}
	page := Page{Items: []auditindex.Item{}}
	if lo >= hi {
		return page, nil
	}
	// Scan the most selective posting list; check the other filters on
	// each leaf it gives.
	type posting struct{ prefix, count []byte }
	var lists []posting
	if f.Account != nil {
		lists = append(lists, posting{cat(prefAcct, f.Account[:]), cat(prefCount, prefAcct, f.Account[:])})
	}
	if f.Resource != "" {
		lists = append(lists, posting{cat(prefRes, []byte(f.Resource), []byte{0}), cat(prefCount, prefRes, []byte(f.Resource))})
	}
	if f.Kind != "" {
		lists = append(lists, posting{cat(prefKind, []byte(f.Kind), []byte{0}), cat(prefCount, prefKind, []byte(f.Kind))})
	}
	scan := posting{prefix: prefItem}
	best := uint64(noBound)
	for _, l := range lists {
		v, err := pebblestore.ReadCopy(snap, l.count)
		if err != nil {
			return Page{}, err
		}
		var n uint64
		if len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		if n < best {
			best, scan = n, l
		}
	}
	if len(lists) > 0 && best == 0 {
		return page, nil
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: cat(scan.prefix, be(lo)), UpperBound: cat(scan.prefix, be(hi))})
	if err != nil {
		return Page{}, err
	}
	defer it.Close()
	scanned := 0
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		idx := binary.BigEndian.Uint64(k[len(k)-8:])
		if len(page.Items) == limit {
			page.More, page.After = true, page.Items[len(page.Items)-1].Index
			break
		}
		if scanned == maxScan {
			page.More, page.After = true, idx-1
			break
		}
		scanned++
		ok, err := x.check(snap, f, idx)
		if err != nil {
			return Page{}, err
		}
		if !ok {
			continue
		}
		item, err := readItem(snap, idx)
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, item)
	}
	return page, it.Error()
}

// check reports whether leaf idx is in every posting list f names.
func (x *Index) check(r pebble.Reader, f auditindex.Filter, idx uint64) (bool, error) {
	var keys [][]byte
	if f.Account != nil {
		keys = append(keys, acctKey(*f.Account, idx))
	}
	if f.Resource != "" {
		keys = append(keys, termKey(prefRes, f.Resource, idx))
	}
	if f.Kind != "" {
		keys = append(keys, termKey(prefKind, f.Kind, idx))
	}
	for _, k := range keys {
		_, closer, err := r.Get(k)
		if err == pebble.ErrNotFound {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		closer.Close()
	}
	return true, nil
}

func readItem(r pebble.Reader, idx uint64) (auditindex.Item, error) {
	v, err := pebblestore.ReadCopy(r, cat(prefItem, be(idx)))
	if err != nil {
		return auditindex.Item{}, err
	}
	var it auditindex.Item
	if v == nil {
		return it, fmt.Errorf("audit index: leaf %d is posted but not stored; delete the index directory to rebuild it", idx)
	}
	if err := json.Unmarshal(v, &it); err != nil {
		return it, fmt.Errorf("audit index: leaf %d: %w", idx, err)
	}
	return it, nil
}

// Item returns indexed leaf idx, and false if it is not indexed yet.
func (x *Index) Item(idx uint64) (auditindex.Item, bool, error) {
	v, err := pebblestore.ReadCopy(x.db, cat(prefItem, be(idx)))
	if err != nil || v == nil {
		return auditindex.Item{}, false, err
	}
	it, err := readItem(x.db, idx)
	return it, err == nil, err
}

// LeafAtHeight returns the first leaf of the first indexed block at or
// after height h, or the cursor's size if there is none yet.
func (x *Index) LeafAtHeight(h int64) (uint64, error) {
	if h < 0 {
		h = 0
	}
	return firstLeafFrom(x.db, uint64(h))
}

func firstLeafFrom(r pebble.Reader, h uint64) (uint64, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: cat(prefBlock, be(h)), UpperBound: pebblestore.UpperBound(prefBlock)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if it.First() && len(it.Value()) >= 8 {
		return binary.BigEndian.Uint64(it.Value()), it.Error()
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	c, err := readCursor(r)
	return c.Size, err
}

// LeafAtTime returns the first leaf of the first indexed block whose time
// is at or after t, or the cursor's size if there is none yet. Blocks whose
// time the index does not know (pruned from the block store and without
// transactions) are not found by time.
func (x *Index) LeafAtTime(t time.Time) (uint64, error) {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: cat(prefTime, be(uint64(ns))), UpperBound: pebblestore.UpperBound(prefTime)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if it.First() {
		k := it.Key()
		return firstLeafFrom(x.db, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	if err := it.Error(); err != nil {
		return 0, err
	}
	c, err := x.Cursor()
	return c.Size, err
}

// HistoryEntry is a transaction an account signed or an event of which
// named it.
type HistoryEntry struct {
	Tx    auditindex.Item // the transaction's leaf
	Roles []string        // RoleSigner and/or the attribute keys that named it
}

// HistoryPage is one page of an account's history, newest first.
type HistoryPage struct {
	Entries []HistoryEntry
	// More is set when there are older entries: Before is then the
	// cursor (a transaction leaf index) to continue below.
	More   bool
	Before uint64
}

// History returns up to limit of the transactions of addr, newest first,
// below leaf before (from the newest when hasBefore is false).
func (x *Index) History(addr identity.Address, before uint64, hasBefore bool, limit int) (HistoryPage, error) {
	snap := x.db.NewSnapshot()
	defer snap.Close()
	prefix := cat(prefHist, addr[:])
	upper := pebblestore.UpperBound(prefix)
	if hasBefore {
		upper = cat(prefix, be(before))
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return HistoryPage{}, err
	}
	defer it.Close()
	page := HistoryPage{Entries: []HistoryEntry{}}
	for it.Last(); it.Valid(); it.Prev() {
		k := it.Key()
		idx := binary.BigEndian.Uint64(k[len(k)-8:])
		if len(page.Entries) == limit {
			page.More, page.Before = true, page.Entries[len(page.Entries)-1].Tx.Index
			break
		}
		var roles []string
		if err := json.Unmarshal(it.Value(), &roles); err != nil {
			return HistoryPage{}, fmt.Errorf("audit index: history of leaf %d: %w", idx, err)
		}
		item, err := readItem(snap, idx)
		if err != nil {
			return HistoryPage{}, err
		}
		page.Entries = append(page.Entries, HistoryEntry{Tx: item, Roles: roles})
	}
	return page, it.Error()
}
