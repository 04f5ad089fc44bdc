// Package bench holds Stratus's benchmarks: each starts what it measures,
// drives it as a user would, and measures the limit it is compared against
// in the same run, on the same machine, so the ratio means something on a
// shared and noisy host.
package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
)

// LedgerOptions configure the ledger benchmark.
type LedgerOptions struct {
	Duration time.Duration
	// Senders is the number of accounts streaming transfers, each with one
	// transaction in flight: the offered concurrency.
	Senders int
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
	// Logger receives the devnet's logs.
	Logger *slog.Logger
}

// LedgerResult is what `stratus bench ledger` prints.
type LedgerResult struct {
	TxPerS      float64 `json:"tx_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	VerifyLimit float64 `json:"verify_limit_per_s"`
	Ratio       float64 `json:"ratio"`
	Committed   int64   `json:"committed"`
	Failed      int64   `json:"failed"`
	Senders     int     `json:"senders"`
	DurationS   float64 `json:"duration_s"`
	Blocks      int64   `json:"blocks"`
	Cores       int     `json:"cores"`
	// FirstError is the first failure a sender saw, if any.
	FirstError string `json:"first_error,omitempty"`
}

// VerifyRate measures ed25519 verifications per second on all cores, with
// the same function the ledger uses, for about d.
func VerifyRate(d time.Duration) float64 {
	key := &identity.Key{Priv: ed25519.NewKeyFromSeed(make([]byte, 32))}
	msg := make([]byte, 150) // about the size of a transfer's signed body
	sig := key.Sign(msg)
	addr := key.Address()
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for time.Since(start) < d {
				for range 64 {
					if !identity.Verify(addr, msg, sig) {
						panic("bench: verification failed")
					}
				}
				n += 64
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds()
}

// Ledger runs the ledger benchmark: a devnet in a temporary folder, Senders
// funded accounts each streaming signed transfers and waiting for each
// commit, for Duration.
func Ledger(ctx context.Context, o LedgerOptions) (LedgerResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	res := LedgerResult{Senders: o.Senders, Cores: runtime.GOMAXPROCS(0)}
	o.Progress("measuring ed25519 verification on %d cores", res.Cores)
	res.VerifyLimit = VerifyRate(2 * time.Second)

	home, err := os.MkdirTemp("", "stratus-bench-ledger-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(home)
	cfg := node.DefaultConfig()
	cfg.API.Listen, cfg.Consensus.RPCListen, cfg.Consensus.P2PListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if _, err := node.InitDevnet(home, cfg, ""); err != nil {
		return res, err
	}
	n, err := node.Start(ctx, home, cfg, o.Logger)
	if err != nil {
		return res, err
	}
	defer n.Close()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	// HTTP/2 without TLS: thousands of requests waiting for their commits
	// share a few connections instead of holding one each.
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	c := client.New(n.APIURL(), client.WithHTTPClient(&http.Client{Transport: tr, Timeout: time.Minute}))
	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		return res, err
	}
	ch, err := c.Chain(ctx)
	if err != nil {
		return res, err
	}

	// Fund the senders: one transfer each from demo, nonces in sequence,
	// all in the mempool at once.
	o.Progress("funding %d senders", o.Senders)
	senders := make([]*identity.Key, o.Senders)
	for i := range senders {
		seed := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("stratus bench sender"), uint64(i)))
		senders[i] = &identity.Key{Priv: ed25519.NewKeyFromSeed(seed[:])}
	}
	var last string
	fund, _, err := c.Prepare(ctx, ch, demo, &ledger.Transfer{To: senders[0].Address(), Amount: 100 * money.UstrPerSTR}, 0, node.DemoFunds, client.SendOptions{})
	if err != nil {
		return res, err
	}
	for i, k := range senders {
		tx := &ledger.Tx{ChainID: ch.ChainID, Nonce: uint64(i), GasLimit: fund.GasLimit, GasPrice: ch.MinGasPrice, Msg: &ledger.Transfer{To: k.Address(), Amount: 100 * money.UstrPerSTR}}
		if err := tx.Sign(demo); err != nil {
			return res, err
		}
		r, err := c.SubmitTx(ctx, tx.Bytes(), i == len(senders)-1)
		if err != nil {
			return res, fmt.Errorf("fund sender %d: %w", i, err)
		}
		last = r.Hash
	}
	if r, err := c.Tx(ctx, last); err != nil || r.Code != 0 {
		return res, fmt.Errorf("funding did not commit: %v %s", err, r.Log)
	}
	startHeight := n.Comet().BlockStore().Height()

	// Sign ahead, outside the clock: the load generator shares the machine
	// with the node, and its signing is not the ledger's work. A sender that
	// runs out signs the rest as it goes.
	sink := senders[0].Address()
	// One simulation gives the gas limit of every transfer to the sink,
	// as a client would estimate it.
	est, _, err := c.Prepare(ctx, ch, senders[1%len(senders)], &ledger.Transfer{To: sink, Amount: 1}, 0, 100*money.UstrPerSTR, client.SendOptions{})
	if err != nil {
		return res, err
	}
	perSender := int(o.Duration.Seconds()*presignRate)/o.Senders + 2
	o.Progress("signing %d transfers ahead", perSender*o.Senders)
	signed := make([][][]byte, o.Senders)
	sign := func(k *identity.Key, nonce uint64) ([]byte, error) {
		tx := &ledger.Tx{ChainID: ch.ChainID, Nonce: nonce, GasLimit: est.GasLimit, GasPrice: ch.MinGasPrice, Msg: &ledger.Transfer{To: sink, Amount: 1}}
		err := tx.Sign(k)
		return tx.Bytes(), err
	}
	var swg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for i := w; i < o.Senders; i += workers {
				signed[i] = make([][]byte, perSender)
				for nonce := range signed[i] {
					signed[i][nonce], _ = sign(senders[i], uint64(nonce))
				}
			}
		}()
	}
	swg.Wait()

	o.Progress("streaming transfers from %d senders for %s", o.Senders, o.Duration)
	var (
		committed, failed atomic.Int64
		firstErr          atomic.Value
		mu                sync.Mutex
		lat               = make([]time.Duration, 0, 1<<16)
		wg                sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(o.Duration)
	runCtx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second))
	defer cancel()
	for i, k := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 256)
			for nonce := uint64(0); time.Now().Before(end) && runCtx.Err() == nil; nonce++ {
				raw, err := []byte(nil), error(nil)
				if nonce < uint64(len(signed[i])) {
					raw = signed[i][nonce]
				} else if raw, err = sign(k, nonce); err != nil {
					failed.Add(1)
					return
				}
				t0 := time.Now()
				r, err := c.SubmitTx(runCtx, raw, true)
				done := time.Now()
				if err != nil || r.Code != 0 {
					if err == nil {
						err = fmt.Errorf("code %d: %s", r.Code, r.Log)
					}
					firstErr.CompareAndSwap(nil, err.Error())
					failed.Add(1)
					return // the nonce sequence is broken; this sender stops
				}
				if done.Before(end) {
					committed.Add(1)
					local = append(local, done.Sub(t0))
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := o.Duration.Seconds()
	res.DurationS = elapsed
	res.Committed, res.Failed = committed.Load(), failed.Load()
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	res.Blocks = n.Comet().BlockStore().Height() - startHeight
	res.TxPerS = float64(res.Committed) / elapsed
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50Ms = ms(lat[len(lat)/2])
		res.P99Ms = ms(lat[len(lat)*99/100])
	}
	if res.VerifyLimit > 0 {
		res.Ratio = res.TxPerS / res.VerifyLimit
	}
	return res, nil
}

// presignRate is the throughput, in transfers per second, that the load
// generator signs ahead for.
const presignRate = 12_000

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
