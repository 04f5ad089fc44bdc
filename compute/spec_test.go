package compute

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/functions"
)

// logOf returns what deployment id's log holds.
func logOf(s *Service, id uint64) string {
	s.mu.Lock()
	d := s.deps[id]
	s.mu.Unlock()
	if d == nil {
		return ""
	}
	b, _, _ := d.log.since(0)
	return string(b)
}

// The spec's env reaches the function, and its request and response
// limits are the ones enforced.
func TestSpecEnvAndBodyLimits(t *testing.T) {
	l := newFakeLedger()
	owner := newKey(t)
	sp := testSpec("/")
	sp.Env = map[string]string{"GREETING": "hello world", "LOG_LEVEL": "debug"}
	sp.MaxRequestBytes = 1 << 10
	l.deploy(1, owner.Address(), sp)
	small := testSpec("/")
	small.MaxResponseBytes = 1 << 10
	l.deploy(2, owner.Address(), small)
	s := startService(t, l, newKey(t), t.TempDir())

	got := call(t, "GET", s.URL()+"/fn/1/", nil)
	if got.status != 200 || !strings.Contains(got.body, "env.GREETING=hello world") || !strings.Contains(got.body, "env.LOG_LEVEL=debug") {
		t.Fatalf("status %d, body lacks the spec's env:\n%s", got.status, got.body)
	}
	if got := call(t, "POST", s.URL()+"/fn/1/", strings.NewReader(strings.Repeat("x", 1<<10))); got.status != 200 {
		t.Fatalf("a body at max_request: status %d: %s", got.status, got.body)
	}
	if got := call(t, "POST", s.URL()+"/fn/1/", strings.NewReader(strings.Repeat("x", 1<<10+1))); got.status != 413 {
		t.Fatalf("a body over max_request: status %d, want 413: %s", got.status, got.body)
	}
	if got := call(t, "GET", s.URL()+"/fn/2/", nil); got.status != 200 {
		t.Fatalf("a response under max_response: status %d: %s", got.status, got.body)
	}
	// echo prints the query three times: the output is over 1KiB.
	if got := call(t, "GET", s.URL()+"/fn/2/?q="+strings.Repeat("x", 400), nil); got.status != 502 || !strings.Contains(got.body, "response") {
		t.Fatalf("output over max_response: status %d, want 502: %s", got.status, got.body)
	}
	// Without a limit in the spec, the spec file's default (1MiB) holds.
	if got := call(t, "POST", s.URL()+"/fn/2/", strings.NewReader(strings.Repeat("x", 1<<20+1))); got.status != 413 {
		t.Fatalf("a body over the default max_request: status %d, want 413", got.status)
	}
}

// The cron runs the ledger gives this provider are served once each, with
// the job's path and body, billed like calls, logged, and never again
// after a restart; a run long overdue is skipped.
func TestCronRuns(t *testing.T) {
	l := newFakeLedger()
	owner, prov := newKey(t), newKey(t)
	sp := testSpec("/")
	sp.Cron = []functions.CronJob{{Schedule: "@hourly", Path: "/tick", Body: "ping"}, {Schedule: "@daily", Path: "/nightly"}}
	l.deploy(1, owner.Address(), sp)
	now := time.Now().UnixMilli()
	l.cron[1] = []functions.CronAssigned{
		{Run: 3, Index: 0, DueMs: now - int64(time.Hour/time.Millisecond), Lease: 10, Provider: prov.Address()}, // long overdue
		{Run: 5, Index: 0, DueMs: now, Lease: 10, Provider: prov.Address()},
		{Run: 6, Index: 1, DueMs: now, Lease: 10, Provider: prov.Address()},
	}
	dir := t.TempDir()
	s := startService(t, l, prov, dir)

	waitFor(t, "2 cron calls reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == 2 })
	waitFor(t, "the runs logged", func() bool { return strings.Count(logOf(s, 1), "stratus: cron run") == 3 })
	log := logOf(s, 1)
	for _, want := range []string{
		"echo: POST /tick\n",
		"echo: GET /nightly\n",
		"stratus: cron run 5 (@hourly POST /tick, due ",
		"stratus: cron run 6 (@daily GET /nightly, due ",
		"200 OK in ",
		"stratus: cron run 3 (@hourly /tick) was due at ",
		"ago; skipped",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "echo: POST /tick\necho: POST /tick") {
		t.Errorf("a run was served twice:\n%s", log)
	}

	// A restart on the same folder serves none of them again.
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil || !strings.Contains(string(b), `"cron_next": "7"`) {
		t.Fatalf("state.json = %s (%v), want cron_next 7", b, err)
	}
	s2 := startService(t, l, prov, dir)
	time.Sleep(300 * time.Millisecond) // several syncs
	if strings.Contains(logOf(s2, 1), "cron run") {
		t.Errorf("runs served again after a restart:\n%s", logOf(s2, 1))
	}
	// A new run is.
	l.mu.Lock()
	l.cron[1] = append(l.cron[1], functions.CronAssigned{Run: 7, Index: 0, DueMs: time.Now().UnixMilli(), Lease: 10, Provider: prov.Address()})
	l.mu.Unlock()
	waitFor(t, "run 7 served", func() bool { return strings.Contains(logOf(s2, 1), "cron run 7 (@hourly POST /tick") })
	waitFor(t, "3 cron calls reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == 3 })
}

// A run of an exhausted deployment is not served: its log says why.
func TestCronRunExhausted(t *testing.T) {
	l := newFakeLedger()
	owner, prov := newKey(t), newKey(t)
	sp := testSpec("/")
	sp.Cron = []functions.CronJob{{Schedule: "@hourly", Path: "/tick"}}
	l.deploy(1, owner.Address(), sp)
	l.exhausted[1] = true
	l.cron[1] = []functions.CronAssigned{{Run: 0, Index: 0, DueMs: time.Now().UnixMilli(), Lease: 10, Provider: prov.Address()}}
	s := startService(t, l, prov, t.TempDir())
	waitFor(t, "the run logged", func() bool { return strings.Contains(logOf(s, 1), "stratus: cron run 0") })
	if log := logOf(s, 1); !strings.Contains(log, "402 Payment Required") || !strings.Contains(log, "top it up") || strings.Contains(log, "echo:") {
		t.Errorf("log:\n%s", log)
	}
}

// A call naming a spec the provider has not seen yet (the gateway read an
// update the provider's periodic refresh has not) refreshes the
// assignments first; the header does not reach the function.
func TestCallForNewerSpec(t *testing.T) {
	l := newFakeLedger()
	owner := newKey(t)
	sp := testSpec("/")
	sp.SpecHash, sp.Env = "aaaa", map[string]string{"VERSION": "1"}
	l.deploy(1, owner.Address(), sp)
	s, err := Start(context.Background(), Config{
		Name: "compute0", Key: newKey(t), Dir: t.TempDir(), Listen: "127.0.0.1:0",
		Ledger: l, Fetch: l.fetch, ReportEvery: time.Hour, SyncEvery: time.Hour, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := call(t, "GET", s.URL()+"/fn/1/", nil); !strings.Contains(got.body, "env.VERSION=1\n") {
		t.Fatalf("first call: %d %s", got.status, got.body)
	}
	sp.SpecHash, sp.Env = "bbbb", map[string]string{"VERSION": "2"}
	l.deploy(1, owner.Address(), sp)
	// Without the header the provider goes on with what it has.
	if got := call(t, "GET", s.URL()+"/fn/1/", nil); !strings.Contains(got.body, "env.VERSION=1\n") {
		t.Fatalf("a call without the header: %d %s", got.status, got.body)
	}
	// Many calls for the new spec at once: each gets it, and together
	// they read the ledger once or twice, not once each.
	l.mu.Lock()
	before := l.reads
	l.readDelay = 100 * time.Millisecond // a node some way off
	l.mu.Unlock()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", s.URL()+"/fn/1/", nil)
			req.Header.Set(SpecHeader, "bbbb")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), "env.VERSION=2\n") || strings.Contains(string(b), "STRATUS_SPEC") {
				t.Errorf("a call for the new spec: %d %s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.reads - before; n < 1 || n > 2 {
		t.Errorf("20 calls for a new spec read the ledger %d times, want 1 or 2", n)
	}
}

// examples/echo-go's ?sleep= holds the call (and its instance) that long,
// which is what a load test of scaling leans on.
func TestEchoSleeps(t *testing.T) {
	l := newFakeLedger()
	l.deploy(1, newKey(t).Address(), testSpec("/"))
	s := startService(t, l, newKey(t), t.TempDir())
	call(t, "GET", s.URL()+"/fn/1/", nil) // the instance's start-up, off the clock
	start := time.Now()
	if got := call(t, "GET", s.URL()+"/fn/1/?sleep=300ms", nil); got.status != 200 || !strings.Contains(got.body, "query=sleep=300ms\n") {
		t.Fatalf("sleep: %d %s", got.status, got.body)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("a call with ?sleep=300ms answered after %s", d)
	}
	if got := call(t, "GET", s.URL()+"/fn/1/?sleep=forever", nil); got.status != 400 || !strings.Contains(got.body, "give a duration") {
		t.Fatalf("a bad sleep: %d %s", got.status, got.body)
	}
}
