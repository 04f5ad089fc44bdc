package node_test

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmtquery "github.com/cometbft/cometbft/libs/pubsub/query"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/storeclient"
)

// busyBody is what busyWasm answers every call with.
const busyBody = "busy\n"

// busyWasm returns a WASI command that counts to n in a loop, a few
// milliseconds of CPU, before it writes a CGI response (text/plain,
// busyBody): calls that take a while, so that concurrent callers pile up
// at the provider as they would on a real function.
func busyWasm(n int32) []byte {
	leb := func(n int) []byte { return bin.AppendUvarint(nil, uint64(n)) }
	sleb := func(v int32) []byte {
		var out []byte
		for {
			b := byte(v & 0x7f)
			v >>= 7
			if v == 0 && b&0x40 == 0 || v == -1 && b&0x40 != 0 {
				return append(out, b)
			}
			out = append(out, b|0x80)
		}
	}
	vec := func(items ...[]byte) []byte {
		out := leb(len(items))
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	name := func(s string) []byte { return append(leb(len(s)), s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	const (
		i32, i32Const, call, drop, end = 0x7f, 0x41, 0x10, 0x1a, 0x0b
		loop, void, localGet, localTee = 0x03, 0x40, 0x20, 0x22
		i32Add, i32LtU, brIf           = 0x6a, 0x49, 0x0d
	)
	output := "Content-Type: text/plain\n\n" + busyBody
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, content []byte) {
		out = append(append(append(out, id), leb(len(content))...), content...)
	}
	// As testnet.HelloWasm: fd_write's type and () -> (), the import,
	// _start and memory exported, one page.
	section(1, vec([]byte{0x60, 4, i32, i32, i32, i32, 1, i32}, []byte{0x60, 0, 0}))
	section(2, vec(cat(name("wasi_snapshot_preview1"), name("fd_write"), []byte{0x00, 0})))
	section(3, vec([]byte{1}))
	section(5, vec([]byte{0x00, 1}))
	section(7, vec(cat(name("_start"), []byte{0x00, 1}), cat(name("memory"), []byte{0x02, 0})))
	// One i32 local, the counter: loop { i++; br_if i < n }, then
	// fd_write(fd 1, iovs at 0, 1 iovec, nwritten at 8), its errno dropped.
	body := cat([]byte{1, 1, i32},
		[]byte{loop, void, localGet, 0, i32Const, 1, i32Add, localTee, 0, i32Const}, sleb(n), []byte{i32LtU, brIf, 0, end},
		[]byte{i32Const, 1, i32Const, 0, i32Const, 1, i32Const, 8, call, 0, drop, end})
	section(10, vec(append(leb(len(body)), body...)))
	iov := bin.LittleEndian.AppendUint32(bin.LittleEndian.AppendUint32(nil, 16), uint32(len(output)))
	seg := func(off byte, b []byte) []byte {
		return cat([]byte{0x00, i32Const, off, end}, leb(len(b)), b)
	}
	section(11, vec(seg(0, iov), seg(16, []byte(output))))
	return out
}

// scaledQuery selects the blocks with function.scaled events, as
// docs/functions.md subscribes to them on CometBFT's websocket.
const scaledQuery = "tm.event = 'NewBlockEvents' AND function.scaled.deployment EXISTS"

// scaleEvent is a function.scaled event of the deployment under test.
type scaleEvent struct {
	height         int64
	from, to       string
	reason, provID string
}

// TestDevnetFunctionScales is the "watch it scale out under load"
// on a devnet: a deployment of min 1, max 3 under 30 concurrent callers
// through the gateway scales out to 3 replicas on the devnet's 3 compute
// providers, each decision a function.scaled event, and back to 1 once the
// load stops and the cooldown passes; what it was charged is exactly what
// its calls and MiB-ms cost, and what its payees were paid adds up to it.
// The functions params are short (evaluations every second, a 5 s window,
// 1 s epochs) and the providers report every 500 ms; the waits poll with
// generous deadlines and assert nothing about timing.
func TestDevnetFunctionScales(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a devnet under load for about 30 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	fg := functions.DefaultGenesis()
	fg.Params.EvalSeconds, fg.Params.WindowSeconds, fg.Params.EpochSeconds = 1, 5, 1
	d := startScaleDevnet(t, fg)
	params := fg.Params

	// The scaling decisions after the deploy are made in EndBlock: they
	// are the block's events, which CometBFT's event bus publishes. The
	// query is the one docs/functions.md gives for its RPC's websocket.
	q, err := cmtquery.New(scaledQuery)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := d.n.Comet().EventBus().Subscribe(ctx, "fn-scale-test", q, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var (
		evMu   sync.Mutex
		events []scaleEvent
		depID  atomic.Value // string
	)
	depID.Store("")
	record := func(height int64, typ string, attrs map[string]string) {
		if typ != "function.scaled" || attrs["deployment"] != depID.Load().(string) {
			return
		}
		evMu.Lock()
		events = append(events, scaleEvent{height, attrs["from"], attrs["to"], attrs["reason"], attrs["provider"]})
		evMu.Unlock()
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Canceled():
				return
			case m := <-sub.Out():
				be, ok := m.Data().(cmttypes.EventDataNewBlockEvents)
				if !ok {
					continue
				}
				for _, e := range be.Events {
					attrs := map[string]string{}
					for _, a := range e.Attributes {
						attrs[a.Key] = a.Value
					}
					record(be.Height, e.Type, attrs)
				}
			}
		}
	}()

	mod := busyWasm(1_000_000)
	put, err := storeclient.New(d.c).Put(ctx, d.demo, bytes.NewReader(mod), int64(len(mod)), storeclient.PutOptions{})
	if err != nil {
		t.Fatalf("store the module: %v", err)
	}
	const target = 4
	spec := functions.Spec{
		Module: put.ID, SpecHash: strings.Repeat("cd", 32), MemoryBytes: 64 << 20, TimeoutMs: 10_000, Routes: []string{"/"},
		Scaling:    functions.Scaling{Min: 1, Max: 3, TargetConcurrency: target, CooldownSeconds: 2},
		SpendLimit: 100_000_000,
		Split:      []market.Payee{{To: "provider", Bps: 9000}, {To: d.demo.Address().String(), Bps: 700}, {To: market.PayeeTreasury, Bps: 300}},
	}
	res, err := d.c.Send(ctx, d.demo, &functions.Deploy{Name: "busy", Spec: spec, Deposit: 20_000_000}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, e := range res.Events {
		if e.Type == "function.deployed" {
			id = e.Attrs["deployment"]
		}
	}
	if id == "" {
		t.Fatalf("deploy: no function.deployed event in %+v", res.Events)
	}
	depID.Store(id)
	for _, e := range res.Events {
		record(res.Height, e.Type, e.Attrs)
	}
	start := time.Now()
	view := func() functions.DeploymentView {
		t.Helper()
		var v functions.DeploymentView
		if err := d.c.Get(ctx, "/v1/functions/"+id, &v); err != nil {
			t.Fatalf("GET /v1/functions/%s: %v", id, err)
		}
		return v
	}
	// timeline logs the replica count each time it changes.
	var timeline []string
	lastN := -1
	observe := func(v functions.DeploymentView) {
		if len(v.Replicas) != lastN {
			lastN = len(v.Replicas)
			var conc []string
			for _, r := range v.Replicas {
				conc = append(conc, fmt.Sprintf("%d/%d", r.AvgConcurrency, r.PeakConcurrency))
			}
			timeline = append(timeline, fmt.Sprintf("%.1fs: %d replicas (avg/peak concurrency %s), %d calls", time.Since(start).Seconds(), lastN, strings.Join(conc, " "), v.Calls))
		}
	}
	waitFor := func(what string, limit time.Duration, ok func(functions.DeploymentView) bool) functions.DeploymentView {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			v := view()
			observe(v)
			if ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v, still not %s: %+v\ntimeline:\n%s", limit, what, v, strings.Join(timeline, "\n"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The first replica's lease is acknowledged by its provider's agent;
	// until then the gateway answers 503.
	url := d.n.APIURL() + "/fn/" + id + "/"
	deadline := time.Now().Add(testTimeout / 2)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the function still answers %d: %s", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	start = time.Now()
	var okCalls, failed atomic.Int64
	okCalls.Add(1) // that first call

	// Load: 30 callers, each a call after the other, until stopped.
	const callers = 30
	var (
		firstFail atomic.Value // string
		wg        sync.WaitGroup
		stop      = make(chan struct{})
	)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}, Timeout: 30 * time.Second}
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := hc.Get(url)
				if err != nil {
					failed.Add(1)
					firstFail.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && string(b) == busyBody {
					okCalls.Add(1)
				} else {
					failed.Add(1)
					firstFail.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, b))
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()

	out := waitFor("scaled out to 3 replicas on 3 providers", 60*time.Second, func(v functions.DeploymentView) bool {
		provs := map[identity.Address]bool{}
		for _, r := range v.Replicas {
			provs[r.Provider] = true
		}
		return len(v.Replicas) == 3 && len(provs) == 3
	})
	computes := map[identity.Address]string{}
	for i := range node.DevnetCompute {
		name := fmt.Sprintf("compute%d", i)
		computes[keyAddress(t, d.home, name)] = name
	}
	for _, r := range out.Replicas {
		if computes[r.Provider] == "" {
			t.Errorf("replica on lease %d is on %s, not one of the devnet's compute providers", r.Lease, r.Provider)
		}
	}
	t.Logf("scaled out after %.1fs: %d calls answered 200 by then", time.Since(start).Seconds(), okCalls.Load())
	// The load goes on until every replica has served calls, reported
	// and charged: the gateway spreads it over the three providers.
	waitFor("serving on all 3 providers", 30*time.Second, func(v functions.DeploymentView) bool {
		served := 0
		for _, u := range v.Usage {
			if u.Calls > 0 {
				served++
			}
		}
		return served == 3
	})
	stopLoad()
	t.Logf("load stopped after %.1fs: %d calls answered 200", time.Since(start).Seconds(), okCalls.Load())

	waitFor("back to 1 replica after the cooldown", 60*time.Second, func(v functions.DeploymentView) bool {
		return len(v.Replicas) == int(spec.Scaling.Min)
	})
	// Every call that ran is reported: the ledger's count reaches at
	// least the callers' (a call the gateway retried may have run twice),
	// and the reports catch up with it.
	good, bad := okCalls.Load(), failed.Load()
	final := waitFor("all usage reported", 30*time.Second, func(v functions.DeploymentView) bool {
		var calls uint64
		for _, u := range v.Usage {
			calls += u.Calls
		}
		return v.Calls >= uint64(good) && calls == v.Calls
	})
	t.Logf("timeline:\n%s", strings.Join(timeline, "\n"))
	t.Logf("callers got %d answers of 200 and %d others (first: %v); the ledger counts %d calls, %d MiB-ms",
		good, bad, firstFail.Load(), final.Calls, final.MiBMs)

	// The scaling decisions, in order: the deploy's 0 -> 1, out to 3,
	// back to 1.
	evMu.Lock()
	got := append([]scaleEvent(nil), events...)
	evMu.Unlock()
	var steps []string
	outProvs := map[string]bool{}
	for _, e := range got {
		steps = append(steps, e.from+"->"+e.to)
		if to, _ := strconv.Atoi(e.to); to > 0 {
			from, _ := strconv.Atoi(e.from)
			if to > from {
				outProvs[e.provID] = true
			}
		}
		t.Logf("block %d: function.scaled %s -> %s on %s: %s", e.height, e.from, e.to, computes[mustDID(t, e.provID)], e.reason)
	}
	if want := "0->1 1->2 2->3 3->2 2->1"; strings.Join(steps, " ") != want {
		t.Errorf("function.scaled events %v, want %s", steps, want)
	}
	if len(outProvs) != 3 {
		t.Errorf("scaled out onto %d distinct providers, want 3", len(outProvs))
	}
	for _, e := range got {
		if e.from == "1" && e.to == "2" && !strings.HasPrefix(e.reason, "concurrency ") {
			t.Errorf("scale out reason %q does not give the concurrency", e.reason)
		}
		if e.from == "3" && e.to == "2" && !strings.Contains(e.reason, "for ") {
			t.Errorf("scale in reason %q does not give the cooldown", e.reason)
		}
	}

	// Billing: the charge is exactly calls x price_per_call + mib_ms x
	// price_per_mib_ms, in nano-ustr: the whole ustr charged plus the
	// fraction carried.
	cost := new(big.Int).Mul(new(big.Int).SetUint64(final.Calls), new(big.Int).SetUint64(params.PricePerCall))
	cost.Add(cost, new(big.Int).Mul(new(big.Int).SetUint64(final.MiBMs), new(big.Int).SetUint64(params.PricePerMiBMs)))
	billed := new(big.Int).Mul(new(big.Int).SetUint64(final.Charged), big.NewInt(1_000_000_000))
	billed.Add(billed, new(big.Int).SetUint64(final.AccruedNano))
	if final.State != functions.StateActive || billed.Cmp(cost) != 0 {
		t.Errorf("%s deployment charged %d ustr + %d nano-ustr carried, want %v nano-ustr (%d calls x %d + %d MiB-ms x %d)",
			final.State, final.Charged, final.AccruedNano, cost, final.Calls, params.PricePerCall, final.MiBMs, params.PricePerMiBMs)
	}
	var paid, provPaid, asProvider uint64
	for _, py := range final.Payees {
		paid += py.Paid
		if py.To == "provider" {
			provPaid = py.Paid
		}
	}
	var usageMiBMs uint64
	payees := map[string]uint64{}
	for _, u := range final.Usage {
		asProvider += u.Paid
		usageMiBMs += u.MiBMs
		payees[computes[u.Provider]] = u.Paid
	}
	if paid+final.Pending+final.PaidBefore != final.Charged {
		t.Errorf("payees were paid %d, %d is pending and %d went to earlier splits: %d, want the %d charged",
			paid, final.Pending, final.PaidBefore, paid+final.Pending+final.PaidBefore, final.Charged)
	}
	if asProvider != provPaid || usageMiBMs != final.MiBMs {
		t.Errorf("the providers' reports show %d paid and %d MiB-ms, want the provider payee's %d and the deployment's %d",
			asProvider, usageMiBMs, provPaid, final.MiBMs)
	}
	t.Logf("charged %d ustr + %d nano-ustr carried = %d calls x %d + %d MiB-ms x %d nano-ustr; paid %v to the payees (%d pending), as provider: %v",
		final.Charged, final.AccruedNano, final.Calls, params.PricePerCall, final.MiBMs, params.PricePerMiBMs, final.Payees, final.Pending, payees)
}

func mustDID(t *testing.T, s string) identity.Address {
	t.Helper()
	a, err := identity.ParseDID(s)
	if err != nil {
		t.Fatalf("provider %q: %v", s, err)
	}
	return a
}

// startScaleDevnet starts a devnet with the functions genesis fg, fast
// blocks, and compute providers that report every 500 ms.
func startScaleDevnet(t *testing.T, fg functions.Genesis) devnet {
	t.Helper()
	d := devnet{home: filepath.Join(t.TempDir(), "devnet")}
	if _, err := node.InitDevnetGenesis(d.home, devnetConfig(), "", market.DefaultGenesis(), fg); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(d.home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	for i := range cfg.Compute {
		cfg.Compute[i].ReportEvery = node.Duration(500 * time.Millisecond)
	}
	d.n, _ = startNode(t, d.home, cfg)
	d.c = client.New(d.n.APIURL())
	d.ks = identity.OpenKeystore(node.KeysDir(d.home))
	if d.demo, err = d.ks.Load(node.DemoKey, ""); err != nil {
		t.Fatal(err)
	}
	return d
}
