package node

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// maxAuditScan bounds the index entries one page of GET /v1/audit/events
// reads while its other filters skip them; the page then ends early with a
// next cursor (see maxLeaseScan).
const maxAuditScan = 10 * api.MaxPageLimit

// maxKind bounds ?kind=.
const maxKind = 128

// mountQuery adds the audit log's query routes, served from the node's
// audit index (auditindex/pebbleindex), and the live event stream.
func (n *Node) mountQuery() {
	a := n.api
	a.HandleJSON("GET /v1/audit/events", n.listAuditEvents)
	a.HandleJSON("GET /v1/accounts/{did}/txs", n.accountTxs)
	a.Mount("GET /v1/events", n.audit.hub.serveEvents(a))
}

// parseAuditFilter reads ?account=, ?resource= and ?kind=.
func parseAuditFilter(q url.Values) (auditindex.Filter, error) {
	var f auditindex.Filter
	if v := q.Get("account"); v != "" {
		addr, err := identity.ParseDID(v)
		if err != nil {
			return f, err
		}
		f.Account = &addr
	}
	if v := q.Get("resource"); v != "" {
		kind, id, ok := strings.Cut(v, ":")
		if !ok || id == "" || !slices.Contains(auditindex.ResourceKinds, kind) || len(v) > 256 {
			return f, errs.E(errs.Invalid, "resource %.64q is not KIND:ID with KIND one of %s (e.g. lease:7)", v, strings.Join(auditindex.ResourceKinds, ", "))
		}
		f.Resource = v
	}
	if v := q.Get("kind"); v != "" {
		if len(v) > maxKind || strings.ContainsFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_')
		}) {
			return f, errs.E(errs.Invalid, "kind %.64q is not an event type (like bank.transfer) or tx", v)
		}
		f.Kind = v
	}
	return f, nil
}

// bound is a parsed ?from= or ?to=: a height or a time.
type bound struct {
	set    bool
	height int64
	time   time.Time
	isTime bool
}

func parseBound(name, s string) (bound, error) {
	if s == "" {
		return bound{}, nil
	}
	if strings.Trim(s, "0123456789") == "" {
		h, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return bound{}, errs.E(errs.Invalid, "%s %.32q is too large for a block height", name, s)
		}
		return bound{set: true, height: h}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return bound{}, errs.E(errs.Invalid, "%s %.64q is neither a block height nor an RFC 3339 time (like 2026-12-07T22:00:00Z)", name, s)
	}
	return bound{set: true, time: t, isTime: true}, nil
}

// leaf turns a bound into the first leaf of the first block at or after it.
func (x *auditIndexer) leaf(b bound) (uint64, error) {
	if b.isTime {
		return x.idx.LeafAtTime(b.time)
	}
	return x.idx.LeafAtHeight(b.height)
}

// listAuditEvents answers GET /v1/audit/events: the indexed leaves that the
// filters choose, in log order, from ?from= (inclusive) to ?to=
// (exclusive), each a height or an RFC 3339 time.
func (n *Node) listAuditEvents(r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	f, err := parseAuditFilter(q)
	if err != nil {
		return nil, err
	}
	from, err := parseBound("from", q.Get("from"))
	if err != nil {
		return nil, err
	}
	to, err := parseBound("to", q.Get("to"))
	if err != nil {
		return nil, err
	}
	if from.set && to.set && from.isTime == to.isTime &&
		(from.isTime && to.time.Before(from.time) || !from.isTime && to.height < from.height) {
		return nil, errs.E(errs.Invalid, "to %s is before from %s: the range is [from, to)", q.Get("to"), q.Get("from"))
	}
	x := n.audit
	if from.set {
		if f.From, err = x.leaf(from); err != nil {
			return nil, err
		}
	}
	if to.set {
		if f.To, err = x.leaf(to); err != nil {
			return nil, err
		}
		if f.To == 0 {
			return api.Page[auditindex.Item]{Items: []auditindex.Item{}}, nil
		}
	}
	cur, hasAfter, err := x.cursor(after)
	if err != nil {
		return nil, err
	}
	p, err := x.idx.Query(f, cur, hasAfter, limit, maxAuditScan)
	if err != nil {
		return nil, err
	}
	page := api.Page[auditindex.Item]{Items: p.Items}
	if p.More {
		page.Next = strconv.FormatUint(p.After, 10)
	}
	return page, nil
}

// cursor parses ?after=, a leaf index the index has reached.
func (x *auditIndexer) cursor(after string) (uint64, bool, error) {
	if after == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(after, 10, 64)
	if err != nil {
		return 0, false, badCursor(after, "an audit leaf index")
	}
	c, err := x.idx.Cursor()
	if err != nil {
		return 0, false, err
	}
	if v >= c.Size {
		return 0, false, errs.E(errs.Invalid, "after %d is past the %d leaves this node has indexed: pass the next cursor of the previous page", v, c.Size)
	}
	return v, true, nil
}

// accountTxs answers GET /v1/accounts/{did}/txs: the transactions the
// account signed or whose events name it, newest first, with their memos.
func (n *Node) accountTxs(r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	addr, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return nil, err
	}
	before, hasBefore, err := n.audit.cursor(after)
	if err != nil {
		return nil, err
	}
	h, err := n.audit.idx.History(addr, before, hasBefore, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[auditindex.AccountTx]{Items: make([]auditindex.AccountTx, 0, len(h.Entries))}
	for _, e := range h.Entries {
		page.Items = append(page.Items, n.accountTx(e.Tx, e.Roles))
	}
	if h.More {
		page.Next = strconv.FormatUint(h.Before, 10)
	}
	return page, nil
}

// accountTx completes a transaction leaf with what the node's transaction
// index keeps: the memo, fee, gas and events.
func (n *Node) accountTx(it auditindex.Item, roles []string) auditindex.AccountTx {
	t := auditindex.AccountTx{Hash: it.Tx, Index: it.Index, Height: it.Height, Time: it.Time, MsgType: it.MsgType, Signer: it.Signer, Roles: roles}
	if it.Code != nil {
		t.Code = *it.Code
	}
	var hash ledger.Hash
	if b, err := hexDecode32(it.Tx); err == nil {
		hash = b
	}
	rec, err := n.app.LookupTx(hash)
	if err != nil {
		return t
	}
	if tx, err := ledger.DecodeTx(rec.Tx, n.app.Machine().Registry()); err == nil {
		t.Memo = tx.Memo
	}
	// The index keeps one record per hash: a replay of the same bytes
	// that failed shares the memo, not the fee, gas or events.
	if rec.Height == it.Height && rec.Code == t.Code {
		t.Fee, t.GasUsed = rec.Fee, rec.GasUsed
		for _, e := range rec.Events {
			ev := auditindex.Event{Type: e.Type}
			for _, a := range e.Attrs {
				ev.Attrs = append(ev.Attrs, auditindex.Attr{Key: a.Key, Value: a.Value})
			}
			t.Events = append(t.Events, ev)
		}
	}
	return t
}

func hexDecode32(s string) (ledger.Hash, error) {
	var h ledger.Hash
	if len(s) != 64 {
		return h, errs.E(errs.Invalid, "not a hash")
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}
