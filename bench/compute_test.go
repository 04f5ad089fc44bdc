package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDriveNative drives the native handler briefly: every call succeeds,
// and the latencies are those of the counted calls.
func TestDriveNative(t *testing.T) {
	ctx := context.Background()
	s, err := startNative(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	hc := newBenchClient(2)
	t.Cleanup(hc.CloseIdleConnections)
	var l load
	l.add(drive(ctx, hc, s.url, 2, 100*time.Millisecond))
	l.add(drive(ctx, hc, s.url, 2, 100*time.Millisecond))
	if l.calls == 0 || l.errors != 0 {
		t.Fatalf("calls = %d, errors = %d (last %v), want some calls and no errors", l.calls, l.errors, l.lastErr)
	}
	if got := int64(len(l.latencies)); got != l.calls {
		t.Errorf("%d latencies for %d calls", got, l.calls)
	}
	if l.elapsed != 200*time.Millisecond {
		t.Errorf("elapsed = %s, want 200ms", l.elapsed)
	}
	if p50, p99 := l.percentile(0.5), l.percentile(0.99); p50 <= 0 || p99 < p50 {
		t.Errorf("p50 = %v, p99 = %v", p50, p99)
	}
}

// TestCallChecksTheAnswer: a call that does not get the hello body with a
// 200 is an error, so that the benchmark never counts failures as calls.
func TestCallChecksTheAnswer(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"hello", 200, "hello from wat\n", true},
		{"other body", 200, "hello\n", false},
		{"503", 503, "hello from wat\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			err := call(context.Background(), srv.Client(), srv.URL)
			if got := err == nil; got != tt.ok {
				t.Errorf("call = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
