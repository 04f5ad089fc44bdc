package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/internal/testnet"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/storeclient"
	"github.com/stratus-cloud/stratus/wagi"
)

// ComputeOptions configure the compute benchmark.
type ComputeOptions struct {
	// Duration is how long each side (the function, the native handler)
	// is driven, in alternating slices.
	Duration time.Duration
	// Concurrency is the number of keep-alive clients, each with one call
	// in flight; zero means DefaultComputeConcurrency.
	Concurrency int
	// Dir holds the devnet; empty means a new temporary folder, removed
	// afterwards.
	Dir string
	// CPUProfile, if set, receives a CPU profile of the measured calls.
	// The load generator's goroutines are labelled side=fn and
	// side=native, and so are the native server's; the node's are not.
	CPUProfile string
	Logger     *slog.Logger
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
}

// DefaultComputeConcurrency saturates a 2-core machine: the calls are
// short, and 16 in flight keep every core busy between the client, the
// gateway, the provider and the function.
const DefaultComputeConcurrency = 16

// coldStartRuns is how many fresh instances the cold start is the median of.
const coldStartRuns = 51

// computeSlice bounds one slice of the alternation between the function
// and the native handler, so that a noisy machine slows both alike.
const computeSlice = 2500 * time.Millisecond

// ComputeResult is what `stratus bench compute` prints.
type ComputeResult struct {
	FnCallsPerS     float64 `json:"fn_calls_per_s"`
	NativeCallsPerS float64 `json:"native_calls_per_s"`
	Ratio           float64 `json:"ratio"`
	P50Ms           float64 `json:"p50_ms"`
	P99Ms           float64 `json:"p99_ms"`
	NativeP50Ms     float64 `json:"native_p50_ms"`
	NativeP99Ms     float64 `json:"native_p99_ms"`
	// ColdStartMs is the median of coldStartRuns calls of GET / on a fresh
	// instance of the already compiled module (wagi's Module.ColdStart),
	// on a runtime that shares compute0's compilation cache on disk.
	ColdStartMs    float64 `json:"cold_start_ms"`
	ColdStartMaxMs float64 `json:"cold_start_max_ms"`
	// CacheCompileMs is the Compile that loaded the module's machine code
	// from compute0's cache, before the cold starts.
	CacheCompileMs float64 `json:"cache_compile_ms"`
	// FirstCallMs is the first successful call through the gateway once
	// the lease is active. The provider starts fetching and compiling the
	// module when it sees the lease, so the call waits for what is left
	// of that, if anything.
	FirstCallMs float64 `json:"first_call_ms"`
	FnCalls     int64   `json:"fn_calls"`
	NativeCalls int64   `json:"native_calls"`
	FnErrors    int64   `json:"fn_errors"`
	NativeErrs  int64   `json:"native_errors"`
	// FnS and NativeS are the measured seconds of each side, summed over
	// the slices.
	FnS         float64 `json:"fn_s"`
	NativeS     float64 `json:"native_s"`
	Slices      int     `json:"slices"`
	Concurrency int     `json:"concurrency"`
	Deployment  uint64  `json:"deployment"`
	Module      string  `json:"module"`
	ModuleBytes int     `json:"module_bytes"`
	URL         string  `json:"url"`
	Cores       int     `json:"cores"`
}

// Compute runs the compute benchmark: a devnet in a folder, the minimal
// WASI function (testnet.HelloWasm) stored, deployed and called through the
// node's gateway by Concurrency keep-alive clients, and a native Go handler
// answering the same bytes on 127.0.0.1, called the same way, which is the
// limit the function is divided by.
func Compute(ctx context.Context, o ComputeOptions) (ComputeResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultComputeConcurrency
	}
	res := ComputeResult{Cores: runtime.GOMAXPROCS(0), Concurrency: o.Concurrency}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "stratus-bench-compute-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	home := filepath.Join(dir, "devnet")
	cfg := node.DefaultConfig()
	cfg.API.Listen, cfg.Consensus.RPCListen, cfg.Consensus.P2PListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if _, err := node.InitDevnet(home, cfg, ""); err != nil {
		return res, err
	}
	// The home's config has the providers InitDevnet laid out, compute0
	// among them.
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return res, err
	}
	var cacheDir string
	for _, cc := range cfg.Compute {
		if cc.Name == "compute0" {
			cacheDir = cc.Dir
			if !filepath.IsAbs(cacheDir) {
				cacheDir = filepath.Join(home, cacheDir)
			}
			cacheDir = filepath.Join(cacheDir, "cache") // compute.Start's layout
		}
	}
	if cacheDir == "" {
		return res, fmt.Errorf("the devnet has no compute0 provider in %s", node.ConfigFile(home))
	}
	o.Progress("starting a devnet in %s", home)
	n, err := node.Start(ctx, home, cfg, o.Logger)
	if err != nil {
		return res, err
	}
	defer n.Close()
	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		return res, err
	}
	c := client.New(n.APIURL())
	if err := waitProviders(ctx, c); err != nil {
		return res, err
	}
	if err := waitHealthy(ctx, n.ComputeURL("compute0")); err != nil {
		return res, err
	}

	mod := testnet.HelloWasm()
	res.ModuleBytes = len(mod)
	o.Progress("storing and deploying the %d-byte hello module", len(mod))
	id, err := deployHello(ctx, c, demo, mod)
	if err != nil {
		return res, err
	}
	res.Deployment = id
	if err := waitActive(ctx, c, id); err != nil {
		return res, err
	}
	res.URL = strings.TrimRight(n.APIURL(), "/") + "/fn/" + strconv.FormatUint(id, 10) + "/"

	fnClient := newBenchClient(o.Concurrency)
	defer fnClient.CloseIdleConnections()
	// The first call waits for what is left of the provider's fetch and
	// compile. A 503 comes back until its service has seen the lease.
	start := time.Now()
	for {
		err := call(ctx, fnClient, res.URL)
		if err == nil {
			break
		}
		if time.Since(start) > 30*time.Second || ctx.Err() != nil {
			return res, fmt.Errorf("deployment %d does not answer through the gateway after 30s: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
		start = time.Now() // time the call that succeeds, not the waiting
	}
	res.FirstCallMs = ms(time.Since(start))

	o.Progress("measuring the cold start of the compiled module (%d fresh instances)", coldStartRuns)
	if err := coldStart(ctx, cacheDir, mod, &res); err != nil {
		return res, err
	}

	native, err := startNative(ctx)
	if err != nil {
		return res, err
	}
	defer native.Close()
	nativeClient := newBenchClient(o.Concurrency)
	defer nativeClient.CloseIdleConnections()

	// Warm both: connections open, the gateway's route cached, code paged in.
	o.Progress("warming up")
	drive(ctx, fnClient, res.URL, o.Concurrency, time.Second)
	drive(ctx, nativeClient, native.url, o.Concurrency, time.Second)

	stopProfile, err := StartCPUProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	defer stopProfile()

	nslices := max(1, int((o.Duration+computeSlice-1)/computeSlice))
	per := o.Duration / time.Duration(nslices)
	res.Slices = nslices
	o.Progress("driving the function and the native handler with %d clients, %d slices of %s each", o.Concurrency, nslices, per)
	var fn, nat load
	for range nslices {
		pprof.Do(ctx, pprof.Labels("side", "fn"), func(ctx context.Context) {
			fn.add(drive(ctx, fnClient, res.URL, o.Concurrency, per))
		})
		pprof.Do(ctx, pprof.Labels("side", "native"), func(ctx context.Context) {
			nat.add(drive(ctx, nativeClient, native.url, o.Concurrency, per))
		})
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	stopProfile()

	res.FnCalls, res.FnErrors, res.FnS = fn.calls, fn.errors, fn.elapsed.Seconds()
	res.NativeCalls, res.NativeErrs, res.NativeS = nat.calls, nat.errors, nat.elapsed.Seconds()
	res.FnCallsPerS = float64(fn.calls) / res.FnS
	res.NativeCallsPerS = float64(nat.calls) / res.NativeS
	if res.NativeCallsPerS > 0 {
		res.Ratio = res.FnCallsPerS / res.NativeCallsPerS
	}
	res.P50Ms, res.P99Ms = fn.percentile(0.50), fn.percentile(0.99)
	res.NativeP50Ms, res.NativeP99Ms = nat.percentile(0.50), nat.percentile(0.99)
	if fn.calls == 0 {
		return res, fmt.Errorf("no call of deployment %d succeeded (%d errors, the last: %v)", id, fn.errors, fn.lastErr)
	}
	return res, nil
}

// deployHello stores mod as the demo key's object and deploys it as
// `stratus fn deploy` does: one replica, which the ledger leases on
// compute0 (the devnet's only compute provider).
func deployHello(ctx context.Context, c *client.Client, demo *identity.Key, mod []byte) (uint64, error) {
	put, err := storeclient.New(c).Put(ctx, demo, bytes.NewReader(mod), int64(len(mod)), storeclient.PutOptions{})
	if err != nil {
		return 0, fmt.Errorf("storing the module: %w", err)
	}
	spec := functions.Spec{
		Module: put.ID,
		// The chain keeps the hash of the full YAML spec for providers to
		// check one against; there is none here, so any 32 bytes do.
		SpecHash:    strings.Repeat("ab", 32),
		MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
		// One replica: the devnet has one compute provider, and the ratio
		// is of one provider to one native server on the same machine.
		Scaling:    functions.Scaling{Min: 1, Max: 1, TargetConcurrency: 8, CooldownSeconds: 60},
		SpendLimit: 100_000_000,
	}
	res, err := c.Send(ctx, demo, &functions.Deploy{Name: "bench", Spec: spec, Deposit: 10_000_000}, client.SendOptions{})
	if err != nil {
		return 0, fmt.Errorf("deploying the module: %w", err)
	}
	for _, e := range res.Events {
		if e.Type == "function.deployed" {
			return strconv.ParseUint(e.Attrs["deployment"], 10, 64)
		}
	}
	return 0, fmt.Errorf("functions/deploy committed in block %d without a function.deployed event", res.Height)
}

// waitActive waits until deployment id has a replica whose lease is
// active, as `stratus fn deploy` does.
func waitActive(ctx context.Context, c *client.Client, id uint64) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v functions.DeploymentView
		err := c.Get(ctx, "/v1/functions/"+strconv.FormatUint(id, 10), &v)
		for _, r := range v.Replicas {
			if r.LeaseState == market.LeaseActive || r.LeaseState == market.LeaseGrace {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no replica of deployment %d is active after 30s (%d replicas, err %v): compute0 did not acknowledge its lease", id, len(v.Replicas), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitHealthy waits until the compute provider at url answers /healthz.
func waitHealthy(ctx context.Context, url string) error {
	if url == "" {
		return fmt.Errorf("the devnet's node runs no compute0 provider")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(strings.TrimRight(url, "/") + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("compute0 at %s is not healthy after 30s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// coldStart opens a runtime on compute0's compilation cache, loads the
// module from it, and times coldStartRuns calls on fresh instances.
func coldStart(ctx context.Context, cacheDir string, mod []byte, res *ComputeResult) error {
	rt, err := wagi.New(ctx, wagi.Config{CacheDir: cacheDir})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	start := time.Now()
	m, err := rt.Compile(ctx, mod)
	if err != nil {
		return err
	}
	res.CacheCompileMs = ms(time.Since(start))
	res.Module = m.Hash()
	var runs []time.Duration
	for range coldStartRuns {
		d, err := m.ColdStart(ctx, wagi.Limits{MemoryBytes: 64 << 20, Timeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
		runs = append(runs, d)
	}
	slices.Sort(runs)
	res.ColdStartMs, res.ColdStartMaxMs = ms(runs[len(runs)/2]), ms(runs[len(runs)-1])
	return nil
}

// nativeServer is the limit: a net/http server on loopback whose handler
// answers what the hello function does, with the same headers.
type nativeServer struct {
	srv *http.Server
	url string
}

func startNative(ctx context.Context) (*nativeServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	body := []byte(testnet.HelloBody)
	length := strconv.Itoa(len(body))
	s := &nativeServer{url: "http://" + ln.Addr().String() + "/", srv: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", length)
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}}
	// Its connections' goroutines inherit the label, so the profile can
	// tell the native server's work from the node's.
	pprof.Do(ctx, pprof.Labels("side", "native-server"), func(context.Context) {
		go s.srv.Serve(ln)
	})
	return s, nil
}

func (s *nativeServer) Close() error { return s.srv.Close() }

// newBenchClient is the client both sides are driven with: keep-alive,
// one idle connection kept for each of the concurrent callers.
func newBenchClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = concurrency * 2
	t.MaxIdleConnsPerHost = concurrency * 2
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// call makes one GET and checks that it answers 200 with the hello body.
func call(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf [64]byte
	n, err := io.ReadFull(resp.Body, buf[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return err
	}
	// Drain what is left, so the connection is kept.
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, buf[:n])
	}
	if string(buf[:n]) != testnet.HelloBody {
		return fmt.Errorf("%s answered %q, not the hello body", url, buf[:n])
	}
	return nil
}

// load is what the callers of one side did.
type load struct {
	calls, errors int64
	elapsed       time.Duration
	latencies     []time.Duration // of successful calls
	lastErr       error
}

func (l *load) add(o load) {
	l.calls += o.calls
	l.errors += o.errors
	l.elapsed += o.elapsed
	l.latencies = append(l.latencies, o.latencies...)
	if o.lastErr != nil {
		l.lastErr = o.lastErr
	}
}

// percentile returns the p-th latency of the successful calls, in ms.
func (l *load) percentile(p float64) float64 {
	if len(l.latencies) == 0 {
		return 0
	}
	slices.Sort(l.latencies)
	return ms(l.latencies[int(p*float64(len(l.latencies)-1))])
}

// drive has concurrency callers call url in a loop for d, each waiting
// for its answer before the next call. Calls still in flight at the end
// are not counted.
func drive(ctx context.Context, hc *http.Client, url string, concurrency int, d time.Duration) load {
	start := time.Now()
	end := start.Add(d)
	var (
		mu  sync.Mutex
		out load
		wg  sync.WaitGroup
	)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine load
			mine.latencies = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				err := call(ctx, hc, url)
				t1 := time.Now()
				if t1.After(end) {
					break
				}
				if err != nil {
					mine.errors++
					mine.lastErr = err
					continue
				}
				mine.calls++
				mine.latencies = append(mine.latencies, t1.Sub(t0))
			}
			mu.Lock()
			out.add(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.elapsed = d
	return out
}
