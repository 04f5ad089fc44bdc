package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// AuditOptions configure the audit benchmark.
type AuditOptions struct {
	// Leaves is the size the log is grown to, block by block, before the
	// proofs are served (default 1,000,000).
	Leaves uint64
	// EventsPerTx and TxsPerBlock shape the blocks (default 100 and 100:
	// 10,100 leaves a block, the transactions' own leaves included).
	EventsPerTx, TxsPerBlock int
	// Duration is how long proofs are served, and how long SHA-256 is
	// measured (default 5s).
	Duration time.Duration
	// Clients is the number of concurrent HTTP clients asking for proofs
	// (default twice the cores).
	Clients int
	// CPUProfile, if set, receives a CPU profile of the blocks that grow
	// the log (not of the proofs).
	CPUProfile string
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
}

// AuditResult is what `stratus bench audit` prints.
type AuditResult struct {
	Leaves         uint64 `json:"leaves"`
	Blocks         int    `json:"blocks"`
	LeavesPerBlock int    `json:"leaves_per_block"`
	// AppendPerS is leaves appended per second of block execution: the
	// leaves of all measured blocks over the time from BeginBlock to End.
	AppendPerS float64 `json:"append_per_s"`
	// BlockMs and CommitMs are the median execution and synced commit of
	// one block.
	BlockMs  float64 `json:"block_ms"`
	CommitMs float64 `json:"commit_ms"`
	// ProofPerS is inclusion proofs served over loopback HTTP per second,
	// at a log of Leaves; ProofP50Ms and ProofP99Ms are their latency.
	ProofPerS  float64 `json:"proof_per_s"`
	ProofP50Ms float64 `json:"proof_p50_ms"`
	ProofP99Ms float64 `json:"proof_p99_ms"`
	Proofs     int     `json:"proofs"`
	Verified   int     `json:"verified"`
	Clients    int     `json:"clients"`
	// HashPerS is RFC 6962 node hashes (SHA-256 over 0x01 and two 32-byte
	// children) per second on one core, measured in the same run; Ratio is
	// AppendPerS over it.
	HashPerS float64 `json:"sha256_node_hash_per_s"`
	Ratio    float64 `json:"ratio"`
	Cores    int     `json:"cores"`
}

// Audit runs the audit benchmark. It grows the audit log of a chain (the
// ledger's state machine with a module whose one message emits
// EventsPerTx events, over a Pebble store in a temporary folder, as a node
// runs it without consensus) to Leaves, timing each block's execution.
// Then it serves inclusion proofs over loopback HTTP, as the node's
// GET /v1/audit/proof/inclusion does (a Pebble snapshot and a query
// context per request), to Clients clients asking for random entries, who
// verify a sample of them. Last, it measures the SHA-256 node hashes one
// core does per second.
func Audit(o AuditOptions) (AuditResult, error) {
	if o.Leaves == 0 {
		o.Leaves = 1_000_000
	}
	if o.EventsPerTx <= 0 {
		o.EventsPerTx = 100
	}
	if o.TxsPerBlock <= 0 {
		o.TxsPerBlock = 100
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 2 * runtime.GOMAXPROCS(0)
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	res := AuditResult{Clients: o.Clients, Cores: runtime.GOMAXPROCS(0), LeavesPerBlock: o.TxsPerBlock * (1 + o.EventsPerTx)}
	dir, err := os.MkdirTemp("", "stratus-bench-audit-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	st, err := pebblestore.Open(dir)
	if err != nil {
		return res, err
	}
	defer st.Close()
	c, err := newChain(st, "bench-audit", o.TxsPerBlock, nil, emitModule{})
	if err != nil {
		return res, err
	}

	o.Progress("growing the audit log to %d leaves, %d a block", o.Leaves, res.LeavesPerBlock)
	stopProfile, err := StartCPUProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	defer stopProfile() // on the way out of a failure; stopping twice is harmless
	var execs, commits []float64
	var appended uint64
	var execTotal time.Duration
	for size := logSize(st); size < o.Leaves; {
		txs := make([]unsigned, o.TxsPerBlock)
		for i := range txs {
			txs[i] = c.next(c.consumers[i], &emitMsg{N: uint32(o.EventsPerTx)})
		}
		runtime.GC() // the previous block's garbage is not this one's
		exec, commit, ok, err := c.run(signAll(txs))
		if err != nil {
			return res, err
		}
		if ok != len(txs) {
			return res, fmt.Errorf("block %d: %d of %d transactions succeeded", c.height, ok, len(txs))
		}
		next := logSize(st)
		if c.height > 1 { // the first block warms the caches up
			appended += next - size
			execTotal += exec
			execs = append(execs, ms(exec))
			commits = append(commits, ms(commit))
		}
		size = next
		if c.height%20 == 0 {
			o.Progress("%d leaves, block %d: %.1f ms (commit %.1f ms)", size, c.height, ms(exec), ms(commit))
		}
	}
	stopProfile()
	res.Leaves, res.Blocks = logSize(st), int(c.height)
	if execTotal > 0 {
		res.AppendPerS = float64(appended) / execTotal.Seconds()
	}
	res.BlockMs, res.CommitMs = median(execs), median(commits)

	o.Progress("serving inclusion proofs at size %d to %d clients for %s", res.Leaves, o.Clients, o.Duration)
	if err := serveProofs(c, o, &res); err != nil {
		return res, err
	}
	o.Progress("measuring SHA-256 node hashes for %s", min(o.Duration, 2*time.Second))
	res.HashPerS = nodeHashesPerSecond(min(o.Duration, 2*time.Second))
	if res.HashPerS > 0 {
		res.Ratio = res.AppendPerS / res.HashPerS
	}
	return res, nil
}

// logSize reads the audit log's size from committed state.
func logSize(st *pebblestore.Store) uint64 {
	n, err := audit.CurrentSize(storeKV{st: st, prefix: "audit/"})
	if err != nil {
		panic(fmt.Sprintf("bench: audit log: %v", err)) // the benchmark wrote it
	}
	return n
}

// storeKV reads committed state under a prefix, for the benchmark's own
// bookkeeping (the served proofs go through a query context).
type storeKV struct {
	st     *pebblestore.Store
	prefix string
}

func (k storeKV) Get(key []byte) []byte {
	v, err := k.st.Get(append([]byte(k.prefix), key...))
	if err != nil {
		panic(err)
	}
	return v
}

func (storeKV) Set([]byte, []byte) { panic("bench: storeKV is read-only") }

// serveProofs runs the proof phase: an HTTP server on loopback that answers
// GET /proof?index=N as the node does, and o.Clients clients that ask for
// random entries of the whole log for o.Duration and verify every 16th
// answer against the root.
func serveProofs(c *mbChain, o AuditOptions, res *AuditResult) error {
	size := res.Leaves
	root, err := audit.Root(storeKV{st: c.st, prefix: "audit/"}, size)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /proof", func(w http.ResponseWriter, r *http.Request) {
		snap := c.st.Snapshot()
		defer snap.Close()
		ctx, err := c.m.NewQueryContext(snap, c.chainID, snap.Height(), c.t0)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		idx, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p, err := audit.InclusionProof(ctx.AuditLog(), idx, size)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/proof?index="
	tr := &http.Transport{MaxIdleConnsPerHost: o.Clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	ctx, cancel := context.WithTimeout(context.Background(), o.Duration)
	defer cancel()
	var (
		mu       sync.Mutex
		lat      []float64
		verified int
		failed   error
		wg       sync.WaitGroup
	)
	leafKV := storeKV{st: c.st, prefix: "audit/"}
	start := time.Now()
	for w := range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), size))
			var mine []float64
			ok := 0
			var err error
			for n := 0; ctx.Err() == nil; n++ {
				idx := rng.Uint64N(size)
				t0 := time.Now()
				var p audit.Inclusion
				if p, err = getProof(ctx, hc, url+strconv.FormatUint(idx, 10)); err != nil {
					break
				}
				mine = append(mine, ms(time.Since(t0)))
				if n%16 == 0 {
					leaf := leafKV.Get(audit.LeafKey(idx))
					if err = proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, audit.HashLeaf(leaf), p.Hashes, root); err != nil {
						err = fmt.Errorf("the proof of entry %d does not verify: %w", idx, err)
						break
					}
					ok++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			verified += ok
			if err != nil && ctx.Err() == nil && failed == nil {
				failed = err
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	res.Proofs, res.Verified = len(lat), verified
	if len(lat) > 0 {
		res.ProofPerS = float64(len(lat)) / elapsed.Seconds()
		res.ProofP50Ms = lat[len(lat)/2]
		res.ProofP99Ms = lat[len(lat)*99/100]
	}
	return nil
}

func getProof(ctx context.Context, hc *http.Client, url string) (audit.Inclusion, error) {
	var p audit.Inclusion
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return p, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return p, json.NewDecoder(resp.Body).Decode(&p)
}

// nodeHashesPerSecond measures RFC 6962 interior node hashes on one core:
// each hashes the previous result with a fixed sibling, so none can be
// skipped.
func nodeHashesPerSecond(d time.Duration) float64 {
	h := rfc6962.DefaultHasher
	l := sha256.Sum256([]byte("left"))
	r := sha256.Sum256([]byte("right"))
	cur := l[:]
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 1024 {
			cur = h.HashChildren(cur, r[:])
		}
		n += 1024
	}
	return float64(n) / time.Since(start).Seconds()
}

// emitModule is the benchmark's own module: its one message emits N events
// shaped like a transfer's, so a block's audit log work is known.
type emitModule struct{}

func (emitModule) Name() string { return "benchaudit" }

func (emitModule) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{{New: func() ledger.Msg { return &emitMsg{} }, Handler: emit}}
}

func (emitModule) InitGenesis(*ledger.Context, json.RawMessage) error { return nil }

func (emitModule) EndBlock(*ledger.Context) error { return nil }

// maxEmit bounds one message's events.
const maxEmit = 10_000

type emitMsg struct{ N uint32 }

func (*emitMsg) Type() string { return "benchaudit/emit" }

func (m *emitMsg) Encode(w *codec.Writer) { w.Uvarint(uint64(m.N)) }

func (m *emitMsg) Decode(r *codec.Reader) error {
	m.N = uint32(r.Uvarint())
	return r.Err()
}

func (m *emitMsg) Validate() error {
	if m.N == 0 || m.N > maxEmit {
		return errs.E(errs.Invalid, "emit between 1 and %d events", maxEmit)
	}
	return nil
}

var emitTo = mbKey("recipient", 0).Address().String()

func emit(ctx *ledger.Context, signer identity.Address, msg ledger.Msg) error {
	m, ok := msg.(*emitMsg)
	if !ok {
		return errors.New("bench: not an emit message")
	}
	from := signer.String()
	for i := range m.N {
		ledger.CoreEvents.Transfer.Emit(ctx, from, emitTo, strconv.FormatUint(uint64(ctx.Height)*1000+uint64(i), 10), "")
	}
	return nil
}
