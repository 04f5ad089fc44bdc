package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// MarketOptions configure the market benchmark.
type MarketOptions struct {
	// Leases is the number of open leases in the large state.
	Leases int
	// Touch is the number of distinct leases each measured block tops up.
	Touch int
	// Blocks is the number of measured blocks in each state (default 7);
	// the median counts.
	Blocks int
	// PerBlock is how many leases each setup block opens and acknowledges
	// (default 5000).
	PerBlock int
	// Cold skips reading each store once before the measured blocks, so
	// that nearly every top-up on the large chain reads its lease's block
	// from disk for the first time (see Market).
	Cold bool
	// CPUProfile, if set, receives a CPU profile of the measured blocks,
	// labelled state=small (SmallLeases) or state=large (Leases), for
	// go tool pprof -tagfocus.
	CPUProfile string
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
}

// SmallLeases is the number of open leases in the small state.
const SmallLeases = 1000

// MarketResult is what `stratus bench market` prints.
type MarketResult struct {
	// BlockMs1k and BlockMs100k are the median times of a block of Touch
	// top-ups with SmallLeases and with Leases open leases in state.
	BlockMs1k   float64 `json:"block_ms_1k"`
	BlockMs100k float64 `json:"block_ms_100k"`
	Ratio       float64 `json:"ratio"`
	// The same blocks' commit to Pebble alone (a synced batch).
	CommitMs1k   float64 `json:"commit_ms_1k"`
	CommitMs100k float64 `json:"commit_ms_100k"`
	// Every measured block, in milliseconds.
	Samples1k   []float64 `json:"samples_ms_1k"`
	Samples100k []float64 `json:"samples_ms_100k"`

	Leases      int `json:"leases"`
	SmallLeases int `json:"small_leases"`
	Touch       int `json:"touch"`
	Blocks      int `json:"blocks"`
	// Cold is true when the stores were not read through before measuring.
	Cold bool `json:"cold"`
	// SetupS is the time to open and acknowledge the large state's leases,
	// signing included; SetupLeasesPerS the rate.
	SetupS          float64 `json:"setup_s"`
	SetupLeasesPerS float64 `json:"setup_leases_per_s"`
	// StoreMiB is the Pebble directory's size with Leases open leases.
	StoreMiB float64 `json:"store_mib"`
	Cores    int     `json:"cores"`
}

// Shape of the benchmark's chain.
const (
	mbChainID   = "bench-market"
	mbConsumers = 1000
	mbProviders = 4
	mbPrice     = 385_802_469 // nano-ustr per GiB-second: 1 STR per GiB-month
	mbDeposit   = money.UstrPerSTR
	mbTopup     = 1000
	mbWarmup    = 1 // blocks run before the measured ones in each state
)

// mbGasLimit covers any of the benchmark's transactions (an open_lease with
// an SLA and a split uses about 20,000 gas); only the gas used is paid.
const mbGasLimit = 1_000_000

// mbChain is a chain driven block by block over a Pebble store.
type mbChain struct {
	chainID string
	m       *ledger.Machine
	st      *pebblestore.Store
	price   uint64
	t0      time.Time
	height  int64
	appHash []byte

	consumers, providers []*identity.Key
	app                  *identity.Key
	nonces               map[identity.Address]uint64
	leases               int // opened and acknowledged so far
}

func mbKey(kind string, i int) *identity.Key {
	seed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("stratus bench market "+kind), uint64(i)))
	return &identity.Key{Priv: ed25519.NewKeyFromSeed(seed[:])}
}

// Market runs the market benchmark. It builds two chains, each the ledger
// machine with the market module over a Pebble store in a temporary folder:
// one with SmallLeases open leases and one with Leases. It then times blocks
// of Touch top-ups on distinct leases, alternating between the two chains so
// that a noisy neighbour slows both alike. Each timing covers BeginBlock,
// every Deliver, End and the synced commit. Unless o.Cold, each store is read
// through once before, so that both chains' reads find their blocks cached.
func Market(o MarketOptions) (MarketResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if o.Blocks <= 0 {
		o.Blocks = 7
	}
	if o.PerBlock <= 0 {
		o.PerBlock = 5000
	}
	res := MarketResult{Leases: o.Leases, SmallLeases: SmallLeases, Touch: o.Touch, Blocks: o.Blocks, Cold: o.Cold, Cores: runtime.GOMAXPROCS(0)}
	if o.Leases <= SmallLeases || o.Touch <= 0 || o.Touch > SmallLeases {
		return res, fmt.Errorf("bench market needs more than %d leases and between 1 and %d touched per block", SmallLeases, SmallLeases)
	}
	dir, err := os.MkdirTemp("", "stratus-bench-market-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	var chains [2]*mbChain // small, large
	for i, n := range []int{SmallLeases, o.Leases} {
		st, err := pebblestore.Open(filepath.Join(dir, fmt.Sprint(n)))
		if err != nil {
			return res, err
		}
		defer st.Close()
		c, err := newMBChain(st)
		if err != nil {
			return res, err
		}
		o.Progress("opening and acknowledging %d leases, %d per block", n, o.PerBlock)
		start := time.Now()
		for c.leases < n {
			if err := c.openBlock(min(o.PerBlock, n-c.leases)); err != nil {
				return res, err
			}
			if c.leases%(20*o.PerBlock) == 0 || c.leases == n {
				o.Progress("%d leases open", c.leases)
			}
		}
		if i == 1 {
			res.SetupS = time.Since(start).Seconds()
			res.SetupLeasesPerS = float64(n) / res.SetupS
			res.StoreMiB = float64(dirSize(filepath.Join(dir, fmt.Sprint(n)))) / (1 << 20)
		}
		if !o.Cold {
			// Read the whole state once, as a node that has been running
			// for a while has read what it holds: a lease's block is then
			// in Pebble's block cache (256 MiB; 100,000 leases take
			// 114 MiB) or still in the memtable, and a top-up reads the
			// same way in either state. Otherwise a top-up on the large
			// chain nearly always reads its lease's block from disk for
			// the first time (a block-cache miss: a read, a checksum, a
			// decompression and a fresh allocation) while all of the small
			// chain's leases sit in the memtable, and the ratio measures
			// that difference, which moves with the machine's load.
			o.Progress("reading the %d-lease state once", n)
			if err := st.Iterate(nil, func(_, _ []byte) error { return nil }); err != nil {
				return res, err
			}
		}
		chains[i] = c
	}

	o.Progress("signing %d blocks of %d top-ups for each state", mbWarmup+o.Blocks, o.Touch)
	var blocks [2][][][]byte
	for i, c := range chains {
		blocks[i] = c.topupBlocks(mbWarmup+o.Blocks, o.Touch)
	}
	stopProfile, err := StartCPUProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	defer stopProfile()
	labels := [2]string{"small", "large"}
	var total, commit [2][]float64
	for b := range mbWarmup + o.Blocks {
		for k := range 2 {
			i := (b + k) % 2 // alternate which state goes first
			c := chains[i]
			runtime.GC() // the previous block's garbage is not this one's
			var tb, cb time.Duration
			pprof.Do(context.Background(), pprof.Labels("state", labels[i]), func(context.Context) {
				tb, cb, err = c.block(blocks[i][b])
			})
			if err != nil {
				return res, err
			}
			if b >= mbWarmup {
				total[i], commit[i] = append(total[i], ms(tb)), append(commit[i], ms(cb))
				o.Progress("block of %d top-ups with %d leases: %.1f ms (commit %.1f ms)", o.Touch, c.leases, ms(tb), ms(cb))
			}
		}
	}

	res.Samples1k, res.Samples100k = total[0], total[1]
	res.BlockMs1k, res.BlockMs100k = median(total[0]), median(total[1])
	res.CommitMs1k, res.CommitMs100k = median(commit[0]), median(commit[1])
	if res.BlockMs1k > 0 {
		res.Ratio = res.BlockMs100k / res.BlockMs1k
	}
	return res, nil
}

func newMBChain(st *pebblestore.Store) (*mbChain, error) {
	var provs []market.GenesisProvider
	for i := range mbProviders {
		provs = append(provs, benchProvider(i, mbPrice))
	}
	return newChain(st, mbChainID, mbConsumers, provs)
}

// benchProvider is provider i of a benchmark's genesis: 1 PiB of storage at
// a fixed price, with 1,000 STR of collateral.
func benchProvider(i int, price uint64) market.GenesisProvider {
	return market.GenesisProvider{Operator: mbKey("provider", i).Address(), RegisterProvider: market.RegisterProvider{
		Endpoint: fmt.Sprintf("https://provider%d.bench.example", i), Region: "bench",
		Offers:     []market.Offer{{Class: market.ClassStorage, Capacity: 1 << 50, Pricing: market.Rule{Kind: "fixed", Price: price}}},
		Collateral: 1000 * money.UstrPerSTR,
	}}
}

// newChain starts a chain with the market module over st: genesis funds
// consumers accounts (mbKey("consumer", i)), the providers' operators
// (mbKey("provider", i)) and an app creator with a million STR each, and
// registers the providers. Modules in extra run after the market's.
func newChain(st *pebblestore.Store, chainID string, consumers int, providers []market.GenesisProvider, extra ...ledger.Module) (*mbChain, error) {
	c := &mbChain{
		chainID: chainID,
		m:       ledger.New(ledger.DefaultRegistry(append([]ledger.Module{market.Module{}}, extra...)...)), st: st,
		t0:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		app:    mbKey("app", 0),
		nonces: map[identity.Address]uint64{},
	}
	p := ledger.DefaultParams()
	// The blocks here are as large as the benchmark asks, so the block gas
	// limit is lifted; each transaction pays the minimum price for the
	// gas it uses.
	p.MaxBlockGas = 1 << 50
	c.price = p.MinGasPrice
	g := ledger.Genesis{Params: p}
	// A million STR each: far more than any run spends.
	fund := func(k *identity.Key) {
		g.Accounts = append(g.Accounts, ledger.GenesisAccount{Address: k.Address(), Balance: 1_000_000 * money.UstrPerSTR})
	}
	mg := market.DefaultGenesis()
	for i, gp := range providers {
		k := mbKey("provider", i)
		c.providers = append(c.providers, k)
		fund(k)
		mg.Providers = append(mg.Providers, gp)
	}
	for i := range consumers {
		k := mbKey("consumer", i)
		c.consumers = append(c.consumers, k)
		fund(k)
	}
	fund(c.app)
	op, cons := mbKey("operator", 0), mbKey("consensus", 0)
	g.Validators = []ledger.Validator{{Name: "bench", Operator: op.Address(), ConsPubKey: cons.Priv.Public().(ed25519.PublicKey), Power: 1}}
	app, err := g.MarshalAppState(map[string]any{"market": mg})
	if err != nil {
		return nil, err
	}
	ch, err := c.m.InitChain(st, ledger.Header{ChainID: chainID, Time: c.t0}, app)
	if err != nil {
		return nil, err
	}
	if err := st.Commit(0, ch.AppHash, ch.Writes, nil); err != nil {
		return nil, err
	}
	c.appHash = ch.AppHash
	return c, nil
}

// unsigned is a transaction whose nonce is fixed, to be signed in parallel.
type unsigned struct {
	key *identity.Key
	tx  *ledger.Tx
}

func (c *mbChain) next(k *identity.Key, msg ledger.Msg) unsigned {
	a := k.Address()
	n := c.nonces[a]
	c.nonces[a] = n + 1
	return unsigned{key: k, tx: &ledger.Tx{ChainID: c.chainID, Nonce: n, GasLimit: mbGasLimit, GasPrice: c.price, Msg: msg}}
}

// signAll signs on every core.
func signAll(txs []unsigned) [][]byte {
	out := make([][]byte, len(txs))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(txs); i += workers {
				if err := txs[i].tx.Sign(txs[i].key); err != nil {
					panic(fmt.Sprintf("bench: sign: %v", err)) // bounded sizes; cannot fail
				}
				out[i] = txs[i].tx.Bytes()
			}
		}()
	}
	wg.Wait()
	return out
}

// leaseKeys are the consumer and provider of lease id (ids start at 1 and
// follow the order of opening).
func (c *mbChain) leaseKeys(id int) (consumer, provider *identity.Key) {
	return c.consumers[(id-1)%len(c.consumers)], c.providers[(id-1)%len(c.providers)]
}

// openBlock opens k leases of 1 GiB with an SLA and a three-way split, and
// has their providers acknowledge them in the same block.
func (c *mbChain) openBlock(k int) error {
	txs := make([]unsigned, 0, 2*k)
	split := []market.Payee{{To: "provider", Bps: 9000}, {To: c.app.Address().String(), Bps: 700}, {To: market.PayeeTreasury, Bps: 300}}
	for id := c.leases + 1; id <= c.leases+k; id++ {
		cons, prov := c.leaseKeys(id)
		pa := prov.Address()
		txs = append(txs, c.next(cons, &market.OpenLease{
			Class: market.ClassStorage, Quantity: 1 << 30, Deposit: mbDeposit, Provider: &pa,
			SLA: market.SLA{TargetBps: 9900, WindowSeconds: 3600}, Split: split,
		}))
	}
	for id := c.leases + 1; id <= c.leases+k; id++ {
		_, prov := c.leaseKeys(id)
		txs = append(txs, c.next(prov, &market.AckLease{ID: uint64(id)}))
	}
	if _, _, err := c.block(signAll(txs)); err != nil {
		return err
	}
	c.leases += k
	return nil
}

// topupBlocks signs n blocks of touch top-ups, each on distinct leases
// drawn at random from those open.
func (c *mbChain) topupBlocks(n, touch int) [][][]byte {
	rng := rand.New(rand.NewPCG(uint64(c.leases), uint64(c.height)))
	out := make([][][]byte, n)
	for b := range out {
		ids := rng.Perm(c.leases)[:touch]
		txs := make([]unsigned, touch)
		for i, id := range ids {
			cons, _ := c.leaseKeys(id + 1)
			txs[i] = c.next(cons, &market.TopupLease{ID: uint64(id + 1), Amount: mbTopup})
		}
		out[b] = signAll(txs)
	}
	return out
}

// block executes one block one second after the last and commits it; every
// transaction must succeed. It returns the time of the whole block and of
// its commit.
func (c *mbChain) block(txs [][]byte) (total, commit time.Duration, err error) {
	exec, commit, _, err := c.run(txs)
	return exec + commit, commit, err
}

// run executes one block one second after the last and commits it. It
// returns the time from BeginBlock to End, the time of the commit, how many
// transactions succeeded, and the first failure.
func (c *mbChain) run(txs [][]byte) (exec, commit time.Duration, ok int, failed error) {
	h := c.height + 1
	hash := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("bench block"), uint64(h)))
	hdr := ledger.Header{ChainID: c.chainID, Height: h, Time: c.t0.Add(time.Duration(h) * time.Second), Hash: hash[:], PrevAppHash: c.appHash}
	start := time.Now()
	b, err := c.m.BeginBlock(c.st, hdr)
	if err != nil {
		return 0, 0, 0, err
	}
	for i, raw := range txs {
		r := b.Deliver(raw, true)
		if r.Code == ledger.CodeOK {
			ok++
		} else if failed == nil {
			failed = fmt.Errorf("block %d tx %d failed with code %d: %s", h, i, r.Code, r.Log)
		}
	}
	ch, _, err := b.End()
	if err != nil {
		return 0, 0, ok, err
	}
	cs := time.Now()
	if err := c.st.Commit(h, ch.AppHash, ch.Writes, nil); err != nil {
		return 0, 0, ok, err
	}
	end := time.Now()
	c.height, c.appHash = h, ch.AppHash
	return cs.Sub(start), end.Sub(cs), ok, failed
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
