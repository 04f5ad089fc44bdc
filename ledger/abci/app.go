// Package abci runs the ledger's state machine under CometBFT: it implements
// the ABCI 2.0 Application over a Pebble store, and starts CometBFT in the
// same process (node.go).
//
// The state machine itself is in package ledger and knows nothing of
// CometBFT; this package translates requests, persists each block in one
// batch at Commit, and keeps the node-local things consensus does not need:
// the signature cache, the transaction index and commit notifications.
package abci

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/pebblestore"
)

// Version is the application's version, reported in Info.
const Version = "0.1.0"

// AppVersion is the state machine's protocol version.
const AppVersion uint64 = 1

// App is the ABCI application. CometBFT calls it on three connections
// (consensus, mempool, query) which may run at the same time; the fields
// below say which lock guards what.
type App struct {
	abcitypes.BaseApplication

	m            *ledger.Machine
	st           *pebblestore.Store
	log          *slog.Logger
	retainBlocks int64

	// Consensus connection state.
	mu      sync.Mutex
	chainID string
	height  int64
	appHash []byte
	pending *pendingBlock

	// Mempool connection state.
	checkMu sync.Mutex
	checker *ledger.Checker

	sigs    *sigCache
	waiters *waiters

	// simulating admits one simulation at a time: they are not paid for,
	// so together they may take at most one core.
	simulating chan struct{}

	// OnCommit, if set, is called after each block is persisted.
	OnCommit func(CommitInfo)
}

// CommitInfo describes a committed block for listeners such as metrics.
type CommitInfo struct {
	ChainID string
	Height  int64
	Time    time.Time
	NumTxs  int
	Failed  int
	AppHash []byte
	// GasUsed is what the block's transactions used, failed ones included.
	GasUsed uint64
	// AuditSize is the audit log's size after the block.
	AuditSize uint64
	// Events are the events of the block's successful transactions, in
	// order, then those of its end.
	Events []ledger.Event
}

type pendingBlock struct {
	height  int64
	time    time.Time
	changes ledger.Changes
	results []ledger.TxResult
	raws    [][]byte
	end     []ledger.Event

	execTime time.Duration
}

// Options configure an App.
type Options struct {
	Logger *slog.Logger
	// RetainBlocks, if positive, lets CometBFT prune blocks older than this
	// many. The ledger's own state and transaction index are not pruned.
	RetainBlocks int64
}

// NewApp returns an application over the store.
func NewApp(m *ledger.Machine, st *pebblestore.Store, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{m: m, st: st, log: opts.Logger, retainBlocks: opts.RetainBlocks, sigs: newSigCache(1 << 18), waiters: newWaiters(), simulating: make(chan struct{}, 1)}
	h, app, err := st.Last()
	if err != nil {
		return nil, err
	}
	a.height, a.appHash = h, app
	return a, nil
}

// Machine returns the state machine.
func (a *App) Machine() *ledger.Machine { return a.m }

// Info tells CometBFT where the application is, so it can replay what is
// missing.
func (a *App) Info(context.Context, *abcitypes.RequestInfo) (*abcitypes.ResponseInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abcitypes.ResponseInfo{
		Data:             "stratus",
		Version:          Version,
		AppVersion:       AppVersion,
		LastBlockHeight:  a.height,
		LastBlockAppHash: a.appHash,
	}, nil
}

// InitChain writes the genesis state. It is computed from the genesis alone
// and persisted at once, so running it again after a crash writes the same.
func (a *App) InitChain(_ context.Context, req *abcitypes.RequestInitChain) (*abcitypes.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := ledger.Header{ChainID: req.ChainId, Height: req.InitialHeight - 1, Time: req.Time}
	ch, err := a.m.InitChain(ledger.MemReader{}, h, req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	if err := a.st.Commit(h.Height, ch.AppHash, ch.Writes, nil); err != nil {
		return nil, err
	}
	a.chainID, a.height, a.appHash = req.ChainId, h.Height, ch.AppHash
	a.log.Info("genesis written", "chain_id", req.ChainId, "app_hash", hex.EncodeToString(ch.AppHash))
	return &abcitypes.ResponseInitChain{AppHash: ch.AppHash}, nil
}

// SetChainID tells the app its chain id before the first call on restart.
func (a *App) SetChainID(id string) {
	a.mu.Lock()
	a.chainID = id
	a.mu.Unlock()
}

// CheckTx admits a transaction to the mempool: it must decode, be signed by
// the key it names, carry the next nonce and a sufficient fee, and succeed
// against the state the mempool already implies.
func (a *App) CheckTx(_ context.Context, req *abcitypes.RequestCheckTx) (*abcitypes.ResponseCheckTx, error) {
	hash := ledger.HashTx(req.Tx)
	verified := a.sigs.has(hash)
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	if a.checker == nil {
		if err := a.resetChecker(); err != nil {
			return &abcitypes.ResponseCheckTx{Code: ledger.CodeInternal, Log: err.Error()}, nil
		}
	}
	tx, err := a.checker.Check(req.Tx, !verified)
	if err != nil {
		return &abcitypes.ResponseCheckTx{Code: ledger.CodeOf(err), Log: err.Error()}, nil
	}
	a.sigs.add(hash)
	return &abcitypes.ResponseCheckTx{Code: ledger.CodeOK, GasWanted: int64(tx.GasLimit)}, nil
}

// PreVerify checks a transaction's encoding and signature outside the
// mempool's single-threaded CheckTx, so many API requests verify in
// parallel, and remembers the result for CheckTx.
func (a *App) PreVerify(raw []byte) (*ledger.Tx, error) {
	tx, err := ledger.DecodeTx(raw, a.m.Registry())
	if err != nil {
		return nil, err
	}
	if !tx.VerifySignature() {
		return nil, ledger.ErrBadSignature
	}
	a.sigs.add(tx.Hash())
	return tx, nil
}

func (a *App) resetChecker() error {
	a.mu.Lock()
	h := ledger.Header{ChainID: a.chainID, Height: a.height + 1}
	a.mu.Unlock()
	c, err := a.m.NewChecker(a.st, h)
	if err != nil {
		return err
	}
	a.checker = c
	return nil
}

// PrepareProposal takes the mempool's transactions in order while they fit
// the block's byte limit and, with their gas limits added up, the chain's
// block gas limit, so a block's execution time is bounded. The mempool has
// already checked them.
func (a *App) PrepareProposal(_ context.Context, req *abcitypes.RequestPrepareProposal) (*abcitypes.ResponsePrepareProposal, error) {
	params, err := ledger.ReadParams(a.st)
	if err != nil {
		return nil, err
	}
	txs := make([][]byte, 0, len(req.Txs))
	var size int64
	var gas uint64
	for _, tx := range req.Txs {
		limit, err := ledger.TxGasLimit(tx)
		if err != nil || limit > params.MaxBlockGas {
			continue // it would fail without paying anything
		}
		if size+int64(len(tx)) > req.MaxTxBytes || limit > params.MaxBlockGas-gas {
			break
		}
		size += int64(len(tx))
		gas += limit
		txs = append(txs, tx)
	}
	return &abcitypes.ResponsePrepareProposal{Txs: txs}, nil
}

// simulateWait is how long a simulation waits for its turn.
const simulateWait = 5 * time.Second

// Simulate runs a signed transaction against committed state as the next
// block would, without its nonce checked, and discards what it did: it
// tells a client the gas a transaction uses.
//
// Simulations run one at a time; one that waits longer than simulateWait
// for its turn fails with kind Unavailable.
func (a *App) Simulate(raw []byte) (ledger.Simulation, error) {
	t := time.NewTimer(simulateWait)
	defer t.Stop()
	select {
	case a.simulating <- struct{}{}:
		defer func() { <-a.simulating }()
	case <-t.C:
		return ledger.Simulation{}, errs.E(errs.Unavailable, "the node is busy simulating other transactions: retry in a moment")
	}
	a.mu.Lock()
	h := ledger.Header{ChainID: a.chainID, Height: a.height + 1}
	a.mu.Unlock()
	return a.m.Simulate(a.st, h, raw)
}

// ProcessProposal accepts proposals: invalid transactions in a block fail
// with a code when executed and change nothing but the audit log.
func (a *App) ProcessProposal(context.Context, *abcitypes.RequestProcessProposal) (*abcitypes.ResponseProcessProposal, error) {
	return &abcitypes.ResponseProcessProposal{Status: abcitypes.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes a decided block and returns the app hash. Nothing is
// persisted until Commit; a crash in between replays this block.
func (a *App) FinalizeBlock(_ context.Context, req *abcitypes.RequestFinalizeBlock) (*abcitypes.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t0 := time.Now()
	h := ledger.Header{ChainID: a.chainID, Height: req.Height, Time: req.Time, Hash: req.Hash, PrevAppHash: a.appHash}
	blk, err := a.m.BeginBlock(a.st, h)
	if err != nil {
		return nil, err
	}
	verified := a.verifyAll(req.Txs)
	out := make([]*abcitypes.ExecTxResult, len(req.Txs))
	for i, raw := range req.Txs {
		r := blk.Deliver(raw, verified[i])
		out[i] = &abcitypes.ExecTxResult{Code: r.Code, Log: r.Log, Events: toABCIEvents(r.Events), GasUsed: int64(r.GasUsed)}
		if r.Tx != nil {
			out[i].GasWanted = int64(r.Tx.GasLimit)
		}
	}
	ch, endEvents, err := blk.End()
	if err != nil {
		return nil, err
	}
	a.pending = &pendingBlock{height: req.Height, time: req.Time, changes: ch, results: blk.Results, raws: req.Txs, end: endEvents, execTime: time.Since(t0)}
	return &abcitypes.ResponseFinalizeBlock{TxResults: out, AppHash: ch.AppHash, Events: toABCIEvents(endEvents)}, nil
}

// verifyAll reports which transactions have verified signatures, checking
// the ones this node has not seen in parallel. A transaction whose signature
// fails is reported unverified and Deliver rejects it.
func (a *App) verifyAll(txs [][]byte) []bool {
	ok := make([]bool, len(txs))
	var todo []int
	for i, raw := range txs {
		if a.sigs.has(ledger.HashTx(raw)) {
			ok[i] = true
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return ok
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(todo); j += workers {
				i := todo[j]
				tx, err := ledger.DecodeTx(txs[i], a.m.Registry())
				ok[i] = err == nil && tx.VerifySignature()
			}
		}()
	}
	wg.Wait()
	return ok
}

// Commit persists the pending block in one batch, then tells waiters and
// resets the mempool's view of state.
func (a *App) Commit(context.Context, *abcitypes.RequestCommit) (*abcitypes.ResponseCommit, error) {
	t0 := time.Now()
	a.mu.Lock()
	p := a.pending
	if p == nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("commit without a finalized block")
	}
	// One record per hash. The same bytes can appear again (a faulty or
	// hostile proposer replays them); the nonce lets them succeed only once,
	// and that success is what the index must keep. A failure is indexed
	// only for a hash seen nowhere before.
	recs := make(map[ledger.Hash]TxRecord, len(p.results))
	order := make([]ledger.Hash, 0, len(p.results))
	failed := 0
	for i, r := range p.results {
		rec := TxRecord{Height: p.height, Index: i, Code: r.Code, Log: r.Log, Events: r.Events, Time: p.time, Tx: p.raws[i], GasUsed: r.GasUsed, Fee: r.Fee}
		if r.Code != 0 {
			failed++
		}
		prev, seen := recs[r.Hash]
		switch {
		case !seen:
			if r.Code != 0 {
				if old, err := a.st.Index(indexKey(r.Hash)); err != nil || old != nil {
					continue
				}
			}
			order = append(order, r.Hash)
		case r.Code != 0 || prev.Code == 0:
			continue
		}
		recs[r.Hash] = rec
	}
	index := make([]pebblestore.IndexEntry, 0, len(order))
	for _, h := range order {
		v, err := json.Marshal(recs[h])
		if err != nil {
			a.mu.Unlock()
			return nil, err
		}
		index = append(index, pebblestore.IndexEntry{Key: indexKey(h), Value: v})
	}
	in, err := json.Marshal(p.changes.Inputs)
	if err != nil {
		a.mu.Unlock()
		return nil, err
	}
	index = append(index, pebblestore.IndexEntry{Key: inputsKey(p.height), Value: in})
	if err := a.st.Commit(p.height, p.changes.AppHash, p.changes.Writes, index); err != nil {
		a.mu.Unlock()
		return nil, fmt.Errorf("persist block %d: %w", p.height, err)
	}
	a.height, a.appHash, a.pending = p.height, p.changes.AppHash, nil
	a.mu.Unlock()

	// CometBFT holds the mempool lock during Commit and rechecks what is
	// left afterwards, against this fresh view.
	a.checkMu.Lock()
	err = a.resetChecker()
	a.checkMu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, r := range p.results {
		a.sigs.remove(r.Hash)
	}
	for _, h := range order {
		a.waiters.notify(h, recs[h])
	}
	if a.OnCommit != nil {
		info := CommitInfo{ChainID: a.chainID, Height: p.height, Time: p.time, NumTxs: len(p.results), Failed: failed, AppHash: p.changes.AppHash, AuditSize: p.changes.AuditSize}
		for _, r := range p.results {
			info.GasUsed += r.GasUsed
			if r.Code == ledger.CodeOK {
				info.Events = append(info.Events, r.Events...)
			}
		}
		info.Events = append(info.Events, p.end...)
		a.OnCommit(info)
	}
	a.log.Debug("block committed", "height", p.height, "txs", len(p.results), "failed", failed,
		"exec_ms", p.execTime.Milliseconds(), "commit_ms", time.Since(t0).Milliseconds())
	resp := &abcitypes.ResponseCommit{}
	if a.retainBlocks > 0 && p.height > a.retainBlocks {
		resp.RetainHeight = p.height - a.retainBlocks
	}
	return resp, nil
}

// Query answers abci_query for standard CometBFT tooling:
// "/account/<did>" and "/supply", as JSON.
func (a *App) Query(_ context.Context, req *abcitypes.RequestQuery) (*abcitypes.ResponseQuery, error) {
	fail := func(err error) (*abcitypes.ResponseQuery, error) {
		return &abcitypes.ResponseQuery{Code: ledger.CodeOf(err), Log: err.Error()}, nil
	}
	var v any
	switch {
	case strings.HasPrefix(req.Path, "/account/"):
		addr, err := identity.ParseDID(strings.TrimPrefix(req.Path, "/account/"))
		if err != nil {
			return fail(err)
		}
		acct, err := ledger.ReadAccount(a.st, addr)
		if err != nil {
			return fail(err)
		}
		v = map[string]any{"address": addr.String(), "balance": fmt.Sprint(acct.Balance), "nonce": acct.Nonce}
	case req.Path == "/supply":
		s, err := ledger.ReadSupply(a.st)
		if err != nil {
			return fail(err)
		}
		v = map[string]any{"supply": fmt.Sprint(s)}
	default:
		return fail(errs.E(errs.NotFound, "unknown query path %q: try /account/<did> or /supply", req.Path))
	}
	b, _ := json.Marshal(v)
	a.mu.Lock()
	h := a.height
	a.mu.Unlock()
	return &abcitypes.ResponseQuery{Code: 0, Value: b, Height: h}, nil
}

// Height returns the last committed height.
func (a *App) Height() (int64, []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.height, a.appHash
}

// TxRecord is the node's index entry for a committed transaction.
type TxRecord struct {
	Height int64          `json:"height"`
	Index  int            `json:"index"`
	Code   uint32         `json:"code"`
	Log    string         `json:"log,omitempty"`
	Events []ledger.Event `json:"events,omitempty"`
	Time   time.Time      `json:"time"`
	Tx     []byte         `json:"tx"`
	// GasUsed and Fee: what the transaction used and paid.
	GasUsed uint64 `json:"gas_used,omitempty"`
	Fee     uint64 `json:"fee,omitempty"`
}

func indexKey(h ledger.Hash) []byte { return append([]byte("tx/"), h[:]...) }

// inputsSlots bounds the app-hash inputs kept: heights share slots modulo
// it, so a node keeps those of its last inputsSlots blocks, enough for
// checkpoints, which only need a recent one.
const inputsSlots = 1024

func inputsKey(height int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("apphash/"), uint64(height%inputsSlots))
}

// AppHashInputs returns what the app hash after block height commits to
// (ledger.AppHashInputs). It fails with NotFound for a height this node has
// not committed or no longer keeps (only the last 1024).
func (a *App) AppHashInputs(height int64) (ledger.AppHashInputs, error) {
	var in ledger.AppHashInputs
	b, err := a.st.Index(inputsKey(height))
	if err != nil {
		return in, err
	}
	if b != nil {
		if err := json.Unmarshal(b, &in); err != nil {
			return in, fmt.Errorf("app-hash inputs of block %d: %w", height, err)
		}
	}
	if b == nil || in.Height != height {
		return ledger.AppHashInputs{}, errs.E(errs.NotFound, "this node keeps the app-hash inputs of its last %d blocks, and block %d is not one of them", inputsSlots, height)
	}
	return in, nil
}

// LookupTx returns the record of a committed transaction, or a NotFound error.
func (a *App) LookupTx(h ledger.Hash) (TxRecord, error) {
	b, err := a.st.Index(indexKey(h))
	if err != nil {
		return TxRecord{}, err
	}
	if b == nil {
		return TxRecord{}, errs.E(errs.NotFound, "no committed transaction %s: it may still be pending, or was rejected", h)
	}
	var r TxRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return TxRecord{}, fmt.Errorf("corrupt index entry for %s: %w", h, err)
	}
	return r, nil
}

// WaitTx returns a channel that receives the transaction's record when it is
// committed, and a function to stop waiting. Call it before submitting, so
// the commit cannot be missed.
func (a *App) WaitTx(h ledger.Hash) (<-chan TxRecord, func()) { return a.waiters.add(h) }

func toABCIEvents(evs []ledger.Event) []abcitypes.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]abcitypes.Event, len(evs))
	for i, e := range evs {
		attrs := make([]abcitypes.EventAttribute, len(e.Attrs))
		for j, at := range e.Attrs {
			attrs[j] = abcitypes.EventAttribute{Key: at.Key, Value: at.Value, Index: true}
		}
		out[i] = abcitypes.Event{Type: e.Type, Attributes: attrs}
	}
	return out
}
