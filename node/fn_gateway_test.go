package node

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stratus-cloud/stratus/api"
)

// testGateway is a gateway of a node with an API and no ledger, serving
// forward to targets on /fn/{id}/{path...}.
func testGateway(t *testing.T, targets func() []fnTarget) *httptest.Server {
	t.Helper()
	n := &Node{log: slog.New(slog.DiscardHandler)}
	n.api = api.NewServer(nil, api.Options{})
	g := newFnGateway(n)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.forward(w, r, 7, r.PathValue("id"), fnRoute{targets: targets(), spec: "cafe"})
	})
	n.api.Mount("/fn/{id}/{path...}", h)
	s := httptest.NewServer(n.api.Handler())
	t.Cleanup(s.Close)
	return s
}

// fakeProvider is a stand-in compute provider answering with status, counting
// its calls.
func fakeProvider(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(status)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	}))
	t.Cleanup(s.Close)
	return s, &calls
}

func TestGatewayRetries(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // refuses connections
	busy, busyCalls := fakeProvider(t, http.StatusServiceUnavailable)
	good, goodCalls := fakeProvider(t, http.StatusOK)
	big := strings.Repeat("x", fnReplayBytes+1)

	tests := []struct {
		name      string
		method    string
		body      string
		targets   []string
		want      int
		wantBusy  int32
		wantGood  int32
		wantReply string
	}{
		{"GET skips a 503", "GET", "", []string{busy.URL, good.URL}, 200, 1, 1, "GET /fn/7/p "},
		{"PUT skips a refused connection", "PUT", "b", []string{downURL, good.URL}, 200, 0, 1, "PUT /fn/7/p b"},
		{"POST is not sent twice", "POST", "b", []string{busy.URL, good.URL}, 503, 1, 0, ""},
		{"POST skips a refused connection", "POST", "b", []string{downURL, good.URL}, 200, 0, 1, "POST /fn/7/p b"},
		{"a large body is not kept", "PUT", big, []string{busy.URL, good.URL}, 503, 1, 0, ""},
		{"the last 503 is the answer", "GET", "", []string{busy.URL}, 503, 1, 0, "GET /fn/7/p "},
		{"none answers", "GET", "", []string{downURL}, 503, 0, 0, ""},
		{"no replica", "GET", "", nil, 503, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			busyCalls.Store(0)
			goodCalls.Store(0)
			var ts []fnTarget
			for _, u := range tc.targets {
				ts = append(ts, fnTarget{endpoint: u})
			}
			// A fresh gateway each time: no memory of failures.
			s := testGateway(t, func() []fnTarget { return ts })
			req, _ := http.NewRequest(tc.method, s.URL+"/fn/7/p", strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || busyCalls.Load() != tc.wantBusy || goodCalls.Load() != tc.wantGood {
				t.Errorf("status %d, busy called %d, good %d; want %d, %d, %d (body %.200q)", resp.StatusCode, busyCalls.Load(), goodCalls.Load(), tc.want, tc.wantBusy, tc.wantGood, b)
			}
			if tc.wantReply != "" && !strings.HasPrefix(string(b), tc.wantReply) {
				t.Errorf("body %.200q, want %q", b, tc.wantReply)
			}
			if tc.wantReply == "" && resp.Header.Get("Content-Type") != api.ProblemContentType && resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("Content-Type %q, want a problem", resp.Header.Get("Content-Type"))
			}
		})
	}
}

// TestGatewaySpreads checks that calls go round robin and that a provider
// that failed is skipped while another is left.
func TestGatewaySpreads(t *testing.T) {
	a, aCalls := fakeProvider(t, http.StatusOK)
	b, bCalls := fakeProvider(t, http.StatusOK)
	ts := []fnTarget{{endpoint: a.URL}, {endpoint: b.URL}}
	s := testGateway(t, func() []fnTarget { return ts })
	for range 10 {
		resp, err := http.Get(s.URL + "/fn/7/p")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if aCalls.Load() != 5 || bCalls.Load() != 5 {
		t.Errorf("calls a %d, b %d, want 5 each", aCalls.Load(), bCalls.Load())
	}
	a.Close()
	aCalls.Store(0)
	bCalls.Store(0)
	for range 10 {
		resp, err := http.Get(s.URL + "/fn/7/p")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d with b up", resp.StatusCode)
		}
	}
	if bCalls.Load() != 10 {
		t.Errorf("b answered %d of 10 calls", bCalls.Load())
	}
}

// The gateway tells the provider which spec the call is for, and a
// caller cannot say otherwise.
func TestGatewayNamesTheSpec(t *testing.T) {
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(r.Header.Values("X-Stratus-Spec"), ","))
	}))
	t.Cleanup(prov.Close)
	gw := testGateway(t, func() []fnTarget { return []fnTarget{{endpoint: prov.URL}} })
	req, _ := http.NewRequest("GET", gw.URL+"/fn/7/p", nil)
	req.Header.Set("X-Stratus-Spec", "forged")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "cafe" {
		t.Errorf("the provider was told spec %q, want the gateway's %q", b, "cafe")
	}
}
