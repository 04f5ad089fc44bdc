package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"

	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// BlockOptions configure the block benchmark.
type BlockOptions struct {
	// Sizes are the numbers of transactions in the measured blocks,
	// ascending (default 1000, 4000, 16000). The ratio compares the last
	// with the first.
	Sizes []int
	// Rounds is the number of measured blocks of each size (default 3);
	// the median counts.
	Rounds int
	// CPUProfile, if set, receives a CPU profile of the measured blocks,
	// labelled block=txs<size> (block=txs16000), for go tool pprof
	// -tagfocus; a value that starts with a number is taken for a numeric
	// label there.
	CPUProfile string
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
}

// DefaultBlockSizes are the block sizes of `stratus bench block`.
var DefaultBlockSizes = []int{1000, 4000, 16000}

// BlockResult is what `stratus bench block` prints.
type BlockResult struct {
	Blocks []BlockSize `json:"blocks"`
	// Ratio is the time per transaction in the largest block over that in
	// the smallest: 1 when block work is linear in its transactions.
	Ratio     float64 `json:"ratio"`
	Rounds    int     `json:"rounds"`
	Consumers int     `json:"consumers"`
	Providers int     `json:"providers"`
	Cores     int     `json:"cores"`
}

// BlockSize is the measurement of one block size.
type BlockSize struct {
	Txs int `json:"txs"`
	// PerTxUs is ExecMs over Txs, in microseconds.
	PerTxUs float64 `json:"per_tx_us"`
	// ExecMs is the median time from BeginBlock to End, every Deliver
	// included; CommitMs the median of the synced Pebble commit after it.
	ExecMs   float64 `json:"exec_ms"`
	CommitMs float64 `json:"commit_ms"`
	// Samples are every measured block's ExecMs.
	Samples []float64 `json:"samples_ms"`
	// OK is the number of measured transactions that succeeded: Txs x
	// Rounds in a valid run.
	OK int `json:"ok"`
}

// Shape of the block benchmark's chain.
const (
	bbChainID   = "bench-block"
	bbConsumers = 1000
	bbProviders = 8
	bbWarmup    = 100 // transactions in the unmeasured first block of each chain
)

// Block runs the block benchmark. It builds one chain per block size, each
// the ledger machine with the market module over a Pebble store in a
// temporary folder, from the same genesis: bbConsumers funded consumers and
// bbProviders providers, each offering 1 PiB of storage at its own fixed
// price. It signs, outside the timing, Rounds blocks of each size of
// market/open_lease transactions that name no provider, so that the market
// chooses one for each; then it executes them, rotating the order of the
// sizes each round, and times BeginBlock, every Deliver and End, and apart
// from them the synced commit. Every transaction must succeed.
func Block(o BlockOptions) (BlockResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if len(o.Sizes) == 0 {
		o.Sizes = DefaultBlockSizes
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	res := BlockResult{Rounds: o.Rounds, Consumers: bbConsumers, Providers: bbProviders, Cores: runtime.GOMAXPROCS(0)}
	if len(o.Sizes) < 2 || !slices.IsSorted(o.Sizes) || o.Sizes[0] <= 0 || len(slices.Compact(slices.Clone(o.Sizes))) != len(o.Sizes) {
		return res, fmt.Errorf("bench block needs at least two distinct positive block sizes in ascending order, not %v", o.Sizes)
	}
	dir, err := os.MkdirTemp("", "stratus-bench-block-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)

	var provs []market.GenesisProvider
	for i := range bbProviders {
		// 1.0, 1.1, ... 1.7 STR per GiB-month: the market picks the
		// cheapest, after reading every provider.
		provs = append(provs, benchProvider(i, mbPrice+uint64(i)*mbPrice/10))
	}
	chains := make([]*mbChain, len(o.Sizes))
	blocks := make([][][][]byte, len(o.Sizes)) // size, round, tx
	for i, n := range o.Sizes {
		st, err := pebblestore.Open(filepath.Join(dir, strconv.Itoa(n)))
		if err != nil {
			return res, err
		}
		defer st.Close()
		c, err := newChain(st, bbChainID, bbConsumers, provs)
		if err != nil {
			return res, err
		}
		chains[i] = c
		o.Progress("signing a warm-up block of %d and %d blocks of %d open_lease", bbWarmup, o.Rounds, n)
		if _, _, ok, err := c.run(c.openChosenBlock(bbWarmup)); err != nil || ok != bbWarmup {
			return res, fmt.Errorf("warm-up block: %d of %d succeeded: %v", ok, bbWarmup, err)
		}
		for range o.Rounds {
			blocks[i] = append(blocks[i], c.openChosenBlock(n))
		}
	}

	stopProfile, err := StartCPUProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	defer stopProfile()
	res.Blocks = make([]BlockSize, len(o.Sizes))
	commits := make([][]float64, len(o.Sizes))
	for r := range o.Rounds {
		for k := range o.Sizes {
			i := (r + k) % len(o.Sizes) // rotate which size goes first
			c, n := chains[i], o.Sizes[i]
			runtime.GC() // the previous block's garbage is not this one's
			e, cm, ok, err := runLabelled(c, blocks[i][r], n)
			if err != nil {
				return res, err
			}
			b := &res.Blocks[i]
			b.Txs, b.OK = n, b.OK+ok
			b.Samples = append(b.Samples, e)
			commits[i] = append(commits[i], cm)
			o.Progress("block of %d open_lease: %.1f ms, %.1f µs per transaction (commit %.1f ms)", n, e, 1000*e/float64(n), cm)
		}
	}
	for i := range res.Blocks {
		b := &res.Blocks[i]
		b.ExecMs, b.CommitMs = median(b.Samples), median(commits[i])
		b.PerTxUs = 1000 * b.ExecMs / float64(b.Txs)
	}
	if first := res.Blocks[0].PerTxUs; first > 0 {
		res.Ratio = res.Blocks[len(res.Blocks)-1].PerTxUs / first
	}
	return res, nil
}

// runLabelled runs one measured block under the pprof label block=txs<n> and
// returns its execution and commit times in milliseconds.
func runLabelled(c *mbChain, txs [][]byte, n int) (execMs, commitMs float64, ok int, err error) {
	pprof.Do(context.Background(), pprof.Labels("block", "txs"+strconv.Itoa(n)), func(context.Context) {
		e, cm, k, rerr := c.run(txs)
		execMs, commitMs, ok, err = ms(e), ms(cm), k, rerr
	})
	return execMs, commitMs, ok, err
}

// openChosenBlock signs a block of k market/open_lease transactions of
// 1 GiB, each from the next consumer in turn, with the same terms as bench
// market's leases but no provider named: the market chooses.
func (c *mbChain) openChosenBlock(k int) [][]byte {
	txs := make([]unsigned, k)
	split := []market.Payee{{To: "provider", Bps: 9000}, {To: c.app.Address().String(), Bps: 700}, {To: market.PayeeTreasury, Bps: 300}}
	for j := range txs {
		cons := c.consumers[(c.leases+j)%len(c.consumers)]
		txs[j] = c.next(cons, &market.OpenLease{
			Class: market.ClassStorage, Quantity: 1 << 30, Deposit: mbDeposit,
			SLA: market.SLA{TargetBps: 9900, WindowSeconds: 3600}, Split: split,
		})
	}
	c.leases += k
	return signAll(txs)
}
