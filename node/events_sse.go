package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/auditindex/pebbleindex"
	"github.com/stratus-cloud/stratus/errs"
)

// Bounds of GET /v1/events. A stranger can open streams and not read them;
// these keep what the node holds for them bounded: so many streams, so
// many messages queued for each, and a stream that falls further behind is
// closed (its client reconnects with Last-Event-ID and resumes from the
// index).
const (
	maxEventSubscribers = 64
	subscriberQueue     = 256
	maxBackfill         = api.MaxPageLimit // audit events replayed on a reconnect
	sseWriteTimeout     = 10 * time.Second
)

// sseHeartbeat is how often an idle stream gets a comment, so proxies and
// clients see it is alive. Tests shorten it.
var sseHeartbeat = sseHeartbeatD

// sseMessage is one server-sent event. item is set for "audit" events, for
// the subscribers' filters.
type sseMessage struct {
	id    string
	event string
	data  []byte
	item  *auditindex.Item
}

func itemMessage(it auditindex.Item) sseMessage {
	return sseMessage{id: strconv.FormatUint(it.Index, 10), event: "audit", data: mustJSON(it), item: &it}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the package's own types are encoded
	}
	return b
}

func (m sseMessage) writeTo(w io.Writer) error {
	var b strings.Builder
	if m.id != "" {
		b.WriteString("id: " + m.id + "\n")
	}
	b.WriteString("event: " + m.event + "\n")
	b.WriteString("data: ")
	b.Write(m.data)
	b.WriteString("\n\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// eventHub hands what the indexer publishes to the streams' subscribers.
// Publishing never blocks: a subscriber whose queue is full is dropped.
type eventHub struct {
	idx *pebbleindex.Index
	max int

	mu        sync.Mutex
	subs      map[*subscriber]struct{}
	published uint64 // leaves published so far: new subscribers get the later ones live
	closed    bool
}

type subscriber struct {
	f        auditindex.Filter
	after    uint64 // with hasAfter, leaves up to after are not sent
	hasAfter bool
	ch       chan sseMessage // closed when the subscriber is dropped
}

func newEventHub(idx *pebbleindex.Index, published uint64, max int) *eventHub {
	return &eventHub{idx: idx, max: max, subs: map[*subscriber]struct{}{}, published: published}
}

// subscribe adds a subscriber and returns the number of leaves published
// before it: the backfill's end. It fails with Unavailable when the hub is
// full or closed.
func (h *eventHub) subscribe(f auditindex.Filter, after uint64, hasAfter bool) (*subscriber, uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, errs.E(errs.Unavailable, "the node is shutting down: reconnect to another node or later")
	}
	if len(h.subs) >= h.max {
		return nil, 0, errs.E(errs.Unavailable, "this node already streams events to %d clients, its limit: retry later, or poll GET /v1/audit/events", h.max)
	}
	s := &subscriber{f: f, after: after, hasAfter: hasAfter, ch: make(chan sseMessage, subscriberQueue)}
	h.subs[s] = struct{}{}
	return s, h.published, nil
}

func (h *eventHub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *eventHub) publish(msgs []sseMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range msgs {
		if m.item != nil {
			h.published = m.item.Index + 1
		}
		for s := range h.subs {
			if m.item != nil && (!s.f.Matches(*m.item) || s.hasAfter && m.item.Index <= s.after) {
				continue
			}
			select {
			case s.ch <- m:
			default:
				delete(h.subs, s) // too slow: it resumes from the index
				close(s.ch)
			}
		}
	}
}

// reset is called when the index is rebuilt from leaf 0.
func (h *eventHub) reset() {
	h.mu.Lock()
	h.published = 0
	h.mu.Unlock()
}

func (h *eventHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *eventHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// serveEvents answers GET /v1/events?account=&resource=&kind= with a
// text/event-stream: "block" for every committed block, "audit" for every
// matching leaf indexed (id: its index). Last-Event-ID (or ?after=) replays
// the matching leaves after it from the index, up to maxBackfill, then a
// "gap" event if more were left out.
func (h *eventHub) serveEvents(a *api.Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f, err := parseAuditFilter(q)
		if err != nil {
			a.Fail(w, r, err)
			return
		}
		last := r.Header.Get("Last-Event-ID")
		if last == "" {
			last = q.Get("after")
		}
		var after uint64
		if last != "" {
			if after, err = strconv.ParseUint(strings.TrimSpace(last), 10, 64); err != nil {
				a.Fail(w, r, errs.E(errs.Invalid, "Last-Event-ID %q is not an audit leaf index: pass the id of the last event you received, or none", last))
				return
			}
		}
		sub, upTo, err := h.subscribe(f, after, last != "")
		if err != nil {
			a.Fail(w, r, err)
			return
		}
		defer h.unsubscribe(sub)
		rc := http.NewResponseController(w)
		send := func(write func() error) bool {
			_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if write() != nil {
				return false
			}
			return rc.Flush() == nil
		}
		hd := w.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		if !send(func() error { _, err := io.WriteString(w, ": stratus events\n\n"); return err }) {
			return
		}
		if last != "" && !h.backfill(w, send, f, after, upTo) {
			return
		}
		beat := time.NewTicker(sseHeartbeat)
		defer beat.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case m, ok := <-sub.ch:
				if !ok {
					send(func() error {
						_, err := io.WriteString(w, ": closed: this client fell behind or the node is stopping; reconnect with Last-Event-ID to resume\n\n")
						return err
					})
					return
				}
				if !send(func() error { return m.writeTo(w) }) {
					return
				}
			case <-beat.C:
				if !send(func() error { _, err := io.WriteString(w, ": ping\n\n"); return err }) {
					return
				}
			}
		}
	}
}

// backfill sends the matching leaves in (after, upTo) from the index, at
// most maxBackfill of them; if it stops short it sends a "gap" event whose
// id moves the client's Last-Event-ID past what it left out.
func (h *eventHub) backfill(w io.Writer, send func(func() error) bool, f auditindex.Filter, after, upTo uint64) bool {
	if after >= upTo || after+1 == upTo {
		return true
	}
	f.To = upTo
	sent := 0
	for {
		p, err := h.idx.Query(f, after, true, api.MaxPageLimit, maxAuditScan)
		if err != nil {
			return false
		}
		for _, it := range p.Items {
			if !send(func() error { return itemMessage(it).writeTo(w) }) {
				return false
			}
			sent++
		}
		if !p.More {
			return true
		}
		after = p.After
		if sent >= maxBackfill {
			gap := sseMessage{id: strconv.FormatUint(upTo-1, 10), event: "gap",
				data: []byte(fmt.Sprintf(`{"after":%d,"to":%d}`, after, upTo))}
			return send(func() error { return gap.writeTo(w) })
		}
	}
}
