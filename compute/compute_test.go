package compute

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
)

// echoWasm is examples/echo-go built as a reusable WAGI reactor, once in
// TestMain.
var echoWasm []byte

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "compute-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echoWasm, err = buildEcho(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build examples/echo-go:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildEcho(dir string) ([]byte, error) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "echo.wasm")
	cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-o", out, "../examples/echo-go")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, b)
	}
	return os.ReadFile(out)
}

// fakeLedger is an in-memory chain for one provider: deployments, the
// provider's assignments, and usage reports checked like the ledger does.
type fakeLedger struct {
	mu        sync.Mutex
	deps      map[uint64]*functions.DeploymentView
	assigned  map[uint64]bool
	exhausted map[uint64]bool
	modules   map[string][]byte
	reports   []functions.UsageReport // committed
	// failNext makes the next n reports fail: before the commit, or after
	// it (the answer lost) when afterCommit.
	failNext    int
	afterCommit bool
	fetches     map[string]int
	cron        map[uint64][]functions.CronAssigned // runs given to this provider
	reads       int                                 // Assignments calls
	readDelay   time.Duration                       // how long each takes
	gate        chan struct{}                       // when set, fetches wait for it to close
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{
		deps: map[uint64]*functions.DeploymentView{}, assigned: map[uint64]bool{},
		exhausted: map[uint64]bool{}, modules: map[string][]byte{"echo": echoWasm}, cron: map[uint64][]functions.CronAssigned{},
	}
}

func testSpec(routes ...string) functions.Spec {
	return functions.Spec{
		Module: "echo", MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: routes,
		Scaling:    functions.Scaling{Min: 1, Max: 3, TargetConcurrency: 4, CooldownSeconds: 60},
		SpendLimit: 100_000_000,
	}
}

// deploy adds deployment id, owned by owner and assigned to the provider.
func (l *fakeLedger) deploy(id uint64, owner identity.Address, spec functions.Spec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deps[id] = &functions.DeploymentView{Deployment: functions.Deployment{
		ID: id, Owner: owner, Name: fmt.Sprintf("fn%d", id), Spec: spec, State: functions.StateActive,
	}}
	l.assigned[id] = true
}

func (l *fakeLedger) Assignments(ctx context.Context, provider identity.Address) ([]functions.Assignment, error) {
	l.mu.Lock()
	delay := l.readDelay
	l.mu.Unlock()
	time.Sleep(delay)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	var out []functions.Assignment
	for id, d := range l.deps {
		if l.assigned[id] {
			out = append(out, functions.Assignment{Deployment: id, Lease: id * 10, Owner: d.Owner, Name: d.Name, State: d.State, Spec: d.Spec,
				Cron: append([]functions.CronAssigned(nil), l.cron[id]...)})
		}
	}
	return out, nil
}

func (l *fakeLedger) Deployment(ctx context.Context, id uint64) (*functions.DeploymentView, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.deps[id]
	if d == nil {
		return nil, errs.E(errs.NotFound, "no deployment %d", id)
	}
	v := *d
	v.Usage = append([]functions.ProviderUsageView(nil), d.Usage...)
	return &v, nil
}

func (l *fakeLedger) Payable(ctx context.Context, id uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exhausted[id] {
		return errs.E(errs.Insufficient, "deployment %d has no escrow left: its owner must top it up", id)
	}
	return nil
}

func (l *fakeLedger) Report(ctx context.Context, key *identity.Key, r *functions.UsageReport) error {
	if err := r.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext > 0 && !l.afterCommit {
		l.failNext--
		return errs.E(errs.Unavailable, "the node is down")
	}
	d := l.deps[r.Deployment]
	if d == nil {
		return errs.E(errs.NotFound, "no deployment %d", r.Deployment)
	}
	addr := key.Address()
	idx := -1
	for i, u := range d.Usage {
		if u.Provider == addr {
			idx = i
		}
	}
	if idx < 0 {
		d.Usage = append(d.Usage, functions.ProviderUsageView{Provider: addr})
		idx = len(d.Usage) - 1
	}
	u := &d.Usage[idx]
	if r.Sequence <= u.Sequence {
		return errs.E(errs.Conflict, "usage report %d is not after %d", r.Sequence, u.Sequence)
	}
	if r.Epoch < u.Epoch {
		return errs.E(errs.Invalid, "epoch %d before %d", r.Epoch, u.Epoch)
	}
	u.Sequence, u.Epoch = r.Sequence, r.Epoch
	u.Calls += r.Calls
	u.MiBMs += r.MiBMs
	l.reports = append(l.reports, *r)
	if l.failNext > 0 {
		l.failNext--
		return errs.E(errs.Timeout, "the node did not answer in time")
	}
	return nil
}

func (l *fakeLedger) fetch(ctx context.Context, id string) ([]byte, error) {
	l.mu.Lock()
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fetches == nil {
		l.fetches = map[string]int{}
	}
	l.fetches[id]++
	b, ok := l.modules[id]
	if !ok {
		return nil, errs.E(errs.NotFound, "no object %s", id)
	}
	return b, nil
}

func (l *fakeLedger) committed() []functions.UsageReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]functions.UsageReport(nil), l.reports...)
}

func newKey(t *testing.T) *identity.Key {
	t.Helper()
	k, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func startService(t *testing.T, l *fakeLedger, key *identity.Key, dir string) *Service {
	t.Helper()
	s, err := Start(context.Background(), Config{
		Name: "compute0", Key: key, Dir: dir, Listen: "127.0.0.1:0",
		Ledger: l, Fetch: l.fetch, ReportEvery: 100 * time.Millisecond, SyncEvery: 50 * time.Millisecond,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type result struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, method, url string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

func TestCalls(t *testing.T) {
	l := newFakeLedger()
	owner := newKey(t)
	l.deploy(1, owner.Address(), testSpec("/"))
	l.deploy(2, owner.Address(), testSpec("/api/...", "/exact"))
	l.deploy(3, owner.Address(), testSpec("/"))
	l.exhausted[3] = true
	l.modules["junk"] = []byte("not wasm at all")
	bad, missing := testSpec("/"), testSpec("/")
	bad.Module, missing.Module = "junk", "missing"
	l.deploy(4, owner.Address(), bad)
	l.deploy(6, owner.Address(), missing)
	s := startService(t, l, newKey(t), t.TempDir())

	tests := []struct {
		name, method, path, body string
		status                   int
		want                     []string
	}{
		{"echo", "GET", "/fn/1/hello?x=1", "", 200, []string{"method=GET", "path=/hello", "query=x=1", "env.SCRIPT_NAME=/fn/1", "env.X_MATCHED_ROUTE=/"}},
		{"post body", "POST", "/fn/1/", "hi there", 200, []string{"method=POST", "path=/", "body=hi there"}},
		{"no path", "GET", "/fn/1", "", 200, []string{"path=/"}},
		{"prefix route", "GET", "/fn/2/api/v1/x", "", 200, []string{"path=/api/v1/x", "env.X_MATCHED_ROUTE=/api/..."}},
		{"prefix route root", "GET", "/fn/2/api", "", 200, []string{"path=/api", "env.X_MATCHED_ROUTE=/api/..."}},
		{"exact route", "GET", "/fn/2/exact", "", 200, []string{"env.X_MATCHED_ROUTE=/exact"}},
		{"route mismatch", "GET", "/fn/2/other", "", 404, []string{"has no route for /other", "/api/..., /exact"}},
		{"exact route is not a prefix", "GET", "/fn/2/exact/more", "", 404, []string{"has no route"}},
		{"unknown deployment", "GET", "/fn/99/", "", 404, []string{"holds no replica of deployment 99"}},
		{"bad id", "GET", "/fn/abc/", "", 404, []string{"not a deployment id"}},
		{"module not wasm", "GET", "/fn/4/", "", 502, []string{"deployment 4: its module junk cannot run"}},
		{"module not in storage", "GET", "/fn/6/", "", 503, []string{"cannot fetch its module missing"}},
		{"exhausted", "GET", "/fn/3/", "", 402, []string{"the deployment's escrow or spend limit is used up: top it up with `stratus fn", "no escrow left"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			got := call(t, tt.method, s.URL()+tt.path, body)
			if got.status != tt.status {
				t.Fatalf("status = %d, want %d; body:\n%s", got.status, tt.status, got.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.body, w) {
					t.Errorf("body lacks %q:\n%s", w, got.body)
				}
			}
			if tt.status >= 400 && !strings.HasPrefix(got.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("Content-Type = %q, want a problem", got.header.Get("Content-Type"))
			}
		})
	}

	if got := call(t, "GET", s.URL()+"/healthz", nil); got.status != 200 || !strings.Contains(got.body, `"status":"ok"`) {
		t.Errorf("healthz = %d %s", got.status, got.body)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Once per (deployment, module); one that does not compile is not
	// fetched again; a missing one is, after a while.
	if l.fetches["echo"] > 3 || l.fetches["junk"] != 1 {
		t.Errorf("fetches = %v, want echo at most 3 times (one per deployment) and junk once", l.fetches)
	}
}

// A deployment assigned after the start is served at once: a miss
// refreshes the assignments.
func TestNewAssignment(t *testing.T) {
	l := newFakeLedger()
	owner := newKey(t)
	s, err := Start(context.Background(), Config{
		Name: "compute0", Key: newKey(t), Dir: t.TempDir(), Listen: "127.0.0.1:0",
		Ledger: l, Fetch: l.fetch, ReportEvery: time.Hour, SyncEvery: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(missSync)
	l.deploy(5, owner.Address(), testSpec("/"))
	if got := call(t, "GET", s.URL()+"/fn/5/x", nil); got.status != 200 {
		t.Fatalf("status = %d: %s", got.status, got.body)
	}
	// A spec update with a new module recompiles.
	l.mu.Lock()
	l.modules["echo2"] = echoWasm
	spec := testSpec("/")
	spec.Module = "echo2"
	l.deps[5].Spec = spec
	l.mu.Unlock()
	if err := s.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := call(t, "GET", s.URL()+"/fn/5/x", nil); got.status != 200 {
		t.Fatalf("after update: status = %d: %s", got.status, got.body)
	}
	d := s.lookup(context.Background(), 5)
	d.mu.Lock()
	modID := d.modID
	d.mu.Unlock()
	if modID != "echo2" {
		t.Errorf("module = %q after the update, want echo2", modID)
	}
	// Unassigned: 404.
	l.mu.Lock()
	l.assigned[5] = false
	l.mu.Unlock()
	s.sync(context.Background())
	if got := call(t, "GET", s.URL()+"/fn/5/x", nil); got.status != 404 {
		t.Fatalf("unassigned: status = %d: %s", got.status, got.body)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func totals(rs []functions.UsageReport, id uint64) (calls, mibMs, maxSeq uint64) {
	for _, r := range rs {
		if r.Deployment == id {
			calls += r.Calls
			mibMs += r.MiBMs
			maxSeq = max(maxSeq, r.Sequence)
		}
	}
	return
}

func TestReports(t *testing.T) {
	l := newFakeLedger()
	owner, prov := newKey(t), newKey(t)
	l.deploy(1, owner.Address(), testSpec("/"))
	dir := t.TempDir()
	s := startService(t, l, prov, dir)
	for range 3 {
		if got := call(t, "GET", s.URL()+"/fn/1/", nil); got.status != 200 {
			t.Fatalf("status %d: %s", got.status, got.body)
		}
	}
	waitFor(t, "3 calls reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == 3 })
	// Then one idle report, with concurrency 0, for the autoscaler.
	waitFor(t, "an idle report", func() bool {
		rs := l.committed()
		return len(rs) >= 2 && rs[len(rs)-1].Calls == 0 && rs[len(rs)-1].PeakConcurrency == 0
	})
	rs := l.committed()
	for i, r := range rs {
		if r.Sequence != uint64(i+1) {
			t.Errorf("report %d has sequence %d, want %d", i, r.Sequence, i+1)
		}
		if r.AvgConcurrency > r.PeakConcurrency {
			t.Errorf("report %d: avg %d > peak %d", i, r.AvgConcurrency, r.PeakConcurrency)
		}
	}
	if rs[0].PeakConcurrency < 1 {
		t.Errorf("first report's peak concurrency = %d, want at least 1", rs[0].PeakConcurrency)
	}
	calls, mibMs, seq := totals(rs, 1)
	if mibMs < 3*64 {
		t.Errorf("MiB-ms = %d for %d calls of 64 MiB, want at least %d", mibMs, calls, 3*64)
	}
	// No more reports while idle.
	time.Sleep(300 * time.Millisecond)
	if n := len(l.committed()); n != len(rs) {
		t.Errorf("%d reports while idle, want none", n-len(rs))
	}

	// A restart on the same folder goes on from the last sequence.
	s.Close()
	s2 := startService(t, l, prov, dir)
	if got := call(t, "GET", s2.URL()+"/fn/1/", nil); got.status != 200 {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	waitFor(t, "the call after the restart reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == 4 })
	if _, _, seq2 := totals(l.committed(), 1); seq2 <= seq {
		t.Errorf("sequence after restart = %d, want above %d", seq2, seq)
	}
}

// A report whose answer is lost is resent with the same sequence, and
// counted once; one that failed before the commit is counted when resent.
func TestReportRetries(t *testing.T) {
	for _, afterCommit := range []bool{false, true} {
		t.Run(fmt.Sprintf("afterCommit=%v", afterCommit), func(t *testing.T) {
			l := newFakeLedger()
			l.deploy(1, newKey(t).Address(), testSpec("/"))
			l.failNext, l.afterCommit = 2, afterCommit
			s := startService(t, l, newKey(t), t.TempDir())
			for range 2 {
				call(t, "GET", s.URL()+"/fn/1/", nil)
			}
			waitFor(t, "the failures used up", func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.failNext == 0 })
			call(t, "GET", s.URL()+"/fn/1/", nil)
			waitFor(t, "3 calls reported", func() bool { c, _, _ := totals(l.committed(), 1); return c >= 3 })
			time.Sleep(300 * time.Millisecond)
			if c, _, _ := totals(l.committed(), 1); c != 3 {
				t.Errorf("%d calls charged, want 3", c)
			}
		})
	}
}

func TestReportPendingSurvivesRestart(t *testing.T) {
	l := newFakeLedger()
	l.deploy(1, newKey(t).Address(), testSpec("/"))
	prov, dir := newKey(t), t.TempDir()
	s := startService(t, l, prov, dir)
	call(t, "GET", s.URL()+"/fn/1/", nil)
	waitFor(t, "the first call reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == 1 })
	l.mu.Lock()
	l.failNext = 1 << 30 // the node goes down
	l.mu.Unlock()
	call(t, "GET", s.URL()+"/fn/1/", nil)
	waitFor(t, "a report of the second call attempted", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "state.json"))
		return strings.Contains(string(b), `"calls": "1"`)
	})
	call(t, "GET", s.URL()+"/fn/1/", nil) // metered, not numbered yet: carried over
	s.Close()
	l.mu.Lock()
	l.failNext = 0
	l.mu.Unlock()
	startService(t, l, prov, dir)
	waitFor(t, "the pending and carried usage reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == 3 })
	seen := map[uint64]bool{}
	for _, r := range l.committed() {
		if seen[r.Sequence] {
			t.Errorf("sequence %d committed twice", r.Sequence)
		}
		seen[r.Sequence] = true
	}
}

// Calls waiting for an instance count as in flight: the reported peak is
// the demand, not the slots.
func TestReportedConcurrency(t *testing.T) {
	l := newFakeLedger()
	l.deploy(1, newKey(t).Address(), testSpec("/"))
	l.gate = make(chan struct{})
	s := startService(t, l, newKey(t), t.TempDir())
	const n = 4
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			http.Get(s.URL() + "/fn/1/")
		}()
	}
	d := s.lookup(context.Background(), 1)
	waitFor(t, "4 calls in flight", func() bool {
		d.meter.mu.Lock()
		defer d.meter.mu.Unlock()
		return d.meter.inflight == n
	})
	close(l.gate)
	wg.Wait()
	waitFor(t, "4 calls reported", func() bool { c, _, _ := totals(l.committed(), 1); return c == n })
	peak := uint32(0)
	for _, r := range l.committed() {
		peak = max(peak, r.PeakConcurrency)
	}
	if peak != n {
		t.Errorf("peak concurrency reported = %d, want %d", peak, n)
	}
}

func TestMeterConcurrency(t *testing.T) {
	var m meter
	m.take(true) // starts the window
	m.enter()
	m.enter()
	m.enter()
	time.Sleep(20 * time.Millisecond)
	m.leave()
	m.leave()
	w := m.take(true)
	if w.peak != 3 || w.avg < 1 || w.avg > 3 {
		t.Errorf("window = %+v, want peak 3 and avg between 1 and 3", w)
	}
	// One call still in flight: the next window starts with it.
	time.Sleep(10 * time.Millisecond)
	m.leave()
	w = m.take(true)
	if w.peak != 1 || w.avg != 1 {
		t.Errorf("window = %+v, want peak 1 avg 1", w)
	}
	if w = m.take(true); !w.idle() {
		t.Errorf("idle window = %+v", w)
	}
}

func TestMatchRoute(t *testing.T) {
	routes := []string{"/", "/api/...", "/api/v2/...", "/exact"}
	tests := []struct{ path, want string }{
		{"/", "/"},
		{"/x", "/"},
		{"/exact", "/exact"},
		{"/exact/y", "/"},
		{"/api", "/api/..."},
		{"/api/", "/api/..."},
		{"/apix", "/"},
		{"/api/v2/z", "/api/v2/..."},
	}
	for _, tt := range tests {
		if got, _ := matchRoute(routes, tt.path); got != tt.want {
			t.Errorf("matchRoute(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if _, ok := matchRoute([]string{"/a/..."}, "/b"); ok {
		t.Error("/b matched /a/...")
	}
}

func signedGet(t *testing.T, ctx context.Context, url string, key *identity.Key) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		nonce, err := httpsig.NewNonce()
		if err != nil {
			t.Fatal(err)
		}
		if err := httpsig.Sign(req, key, time.Now(), nonce); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestLogs(t *testing.T) {
	l := newFakeLedger()
	owner := newKey(t)
	l.deploy(1, owner.Address(), testSpec("/"))
	s := startService(t, l, newKey(t), t.TempDir())
	call(t, "GET", s.URL()+"/fn/1/first", nil)
	logs := s.URL() + "/fn/1/_logs"

	tests := []struct {
		name   string
		key    *identity.Key
		status int
		want   string
	}{
		{"owner", owner, 200, "echo: GET /first\n"},
		{"other signer", newKey(t), 401, "not the owner"},
		{"unsigned", nil, 401, "sign the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := signedGet(t, context.Background(), logs, tt.key)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp := signedGet(t, ctx, logs+"?follow=1", owner)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		lines := make(chan string, 10)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		next := func() string {
			select {
			case l := <-lines:
				return l
			case <-time.After(10 * time.Second):
				t.Fatal("no log line")
				return ""
			}
		}
		if got := next(); got != "echo: GET /first" {
			t.Fatalf("first line %q", got)
		}
		call(t, "GET", s.URL()+"/fn/1/second", nil)
		if got := next(); got != "echo: GET /second" {
			t.Fatalf("followed line %q", got)
		}
	})
}

func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestUsageSurvivesKill: metered usage is saved every PersistEvery, so a
// provider killed (kill -9: no Close, no final report) loses at most that
// much. The folder is copied as the crash leaves it, while the first
// service still runs with a report interval too long to have reported;
// a service started on the copy reports the calls.
func TestUsageSurvivesKill(t *testing.T) {
	l := newFakeLedger()
	l.deploy(1, newKey(t).Address(), testSpec("/"))
	prov, dir := newKey(t), t.TempDir()
	s, err := Start(context.Background(), Config{
		Name: "compute0", Key: prov, Dir: dir, Listen: "127.0.0.1:0",
		Ledger: l, Fetch: l.fetch, ReportEvery: time.Hour, SyncEvery: 50 * time.Millisecond, PersistEvery: 50 * time.Millisecond,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := call(t, "GET", s.URL()+"/fn/1/", nil); got.status != 200 {
			t.Fatalf("status %d: %s", got.status, got.body)
		}
	}
	var saved []byte
	waitFor(t, "the 2 calls saved", func() bool {
		saved, _ = os.ReadFile(filepath.Join(dir, "state.json"))
		return strings.Contains(string(saved), `"carry_calls": "2"`)
	})
	crashed := t.TempDir()
	if err := os.WriteFile(filepath.Join(crashed, "state.json"), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if n := len(l.committed()); n != 0 {
		t.Fatalf("%d reports before the crash, want none", n)
	}
	s.cancel() // the first one stops reporting; its Close in Cleanup is not part of the test
	t.Cleanup(func() { s.Close() })
	startService(t, l, prov, crashed)
	waitFor(t, "the saved calls reported after the crash", func() bool { c, _, _ := totals(l.committed(), 1); return c == 2 })
}

// TestModuleErrorShown: a module that does not compile is written to the
// deployment's log (`stratus fn logs`) and reported to the ledger with the
// next usage report (`stratus fn info`), without any call.
func TestModuleErrorShown(t *testing.T) {
	l := newFakeLedger()
	owner := newKey(t)
	l.modules["junk"] = []byte("not wasm at all")
	bad := testSpec("/")
	bad.Module = "junk"
	l.deploy(4, owner.Address(), bad)
	s := startService(t, l, newKey(t), t.TempDir())
	waitFor(t, "the module error reported", func() bool {
		for _, r := range l.committed() {
			if r.Deployment == 4 && strings.Contains(r.ModuleError, "deployment 4: its module junk cannot run") {
				return r.Validate() == nil
			}
		}
		return false
	})
	resp := signedGet(t, context.Background(), s.URL()+"/fn/4/_logs", owner)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "stratus: deployment 4: its module junk cannot run") {
		t.Fatalf("log %q", b)
	}
}
