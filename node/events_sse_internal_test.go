package node

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/auditindex/pebbleindex"
)

func testHub(t *testing.T, max int) (*eventHub, *httptest.Server) {
	t.Helper()
	idx, err := pebbleindex.Open(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	h := newEventHub(idx, 0, max)
	a := api.NewServer(nil, api.Options{})
	a.Mount("GET /v1/events", h.serveEvents(a))
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		h.closeAll()
		srv.Close()
		idx.Close()
	})
	return h, srv
}

// TestSlowSubscriberIsDropped: a subscriber that does not take its
// messages is dropped when its queue is full, so publishing never blocks
// and the node never holds more than subscriberQueue messages for it.
func TestSlowSubscriberIsDropped(t *testing.T) {
	h, _ := testHub(t, 4)
	slow, _, err := h.subscribe(auditindex.Filter{}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	fast, _, err := h.subscribe(auditindex.Filter{}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	msg := sseMessage{event: "block", data: []byte(`{}`)}
	for i := 0; i < subscriberQueue+10; i++ {
		h.publish([]sseMessage{msg})
		// The fast one keeps up.
		<-fast.ch
	}
	n := 0
	for range slow.ch { // closed once dropped
		n++
	}
	if n != subscriberQueue {
		t.Errorf("the slow subscriber got %d messages queued, want its queue of %d", n, subscriberQueue)
	}
	if got := h.count(); got != 1 {
		t.Errorf("%d subscribers left, want the fast one", got)
	}
	h.unsubscribe(slow) // what its handler does on return: harmless
}

// TestSlowStreamIsClosed: over HTTP, a client that opens the stream and
// never reads is cut off once the node's queue for it is full.
func TestSlowStreamIsClosed(t *testing.T) {
	h, srv := testHub(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // never read
	big := sseMessage{event: "block", data: []byte(`"` + strings.Repeat("x", 64<<10) + `"`)}
	for i := 0; h.count() > 0; i++ {
		if i > 100_000 {
			t.Fatal("a client that never reads was never dropped")
		}
		h.publish([]sseMessage{big})
	}
}

// TestStreamSubscriberLimit: a stranger cannot open streams without bound;
// past the limit the node answers 503, and a closed stream frees its slot.
func TestStreamSubscriberLimit(t *testing.T) {
	h, srv := testHub(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first, second := open(), open()
	defer second.Body.Close()
	for _, r := range []*http.Response{first, second} {
		if r.StatusCode != http.StatusOK {
			t.Fatalf("stream: %s", r.Status)
		}
		// The stream starts with a comment.
		if line, err := bufio.NewReader(r.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, ":") {
			t.Fatalf("first line %q, %v", line, err)
		}
	}
	third := open()
	body := new(strings.Builder)
	bufio.NewReader(third.Body).WriteTo(body)
	third.Body.Close()
	if third.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.String(), "retry later") {
		t.Fatalf("third stream: %s %s; want 503 saying to retry", third.Status, body)
	}
	first.Body.Close()
	for h.count() > 1 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	again := open()
	defer again.Body.Close()
	if again.StatusCode != http.StatusOK {
		t.Fatalf("after one closed: %s, want a free slot", again.Status)
	}
}

// TestStreamFilterAndResume: the hub sends a subscriber only the items its
// filter matches and none at or below its Last-Event-ID.
func TestStreamFilterAndResume(t *testing.T) {
	h, _ := testHub(t, 4)
	s, _, err := h.subscribe(auditindex.Filter{Kind: "bank.transfer"}, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []sseMessage
	for i, typ := range []string{"bank.transfer", "bank.transfer", "lease.opened", "bank.transfer"} {
		msgs = append(msgs, itemMessage(auditindex.Item{Index: uint64(4 + i), Kind: auditindex.KindEvent, Type: typ}))
	}
	h.publish(msgs)
	h.unsubscribe(s)
	var ids []string
	for m := range s.ch {
		ids = append(ids, m.id)
	}
	if strings.Join(ids, ",") != "7" {
		t.Errorf("sent %v, want only leaf 7 (4 and 5 are at or below Last-Event-ID 5, 6 is another kind)", ids)
	}
}
