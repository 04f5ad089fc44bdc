package node

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/mempool"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
	"github.com/stratus-cloud/stratus/money"
)

// commitWait bounds how long POST /v1/txs?wait waits for a commit.
const commitWait = 30 * time.Second

// submission is one transaction on its way into the mempool.
type submission struct {
	raw  []byte
	done chan submitted
}

type submitted struct {
	res *abcitypes.ResponseCheckTx
	err error
}

// admit feeds the mempool from one goroutine. CometBFT's mempool runs
// CheckTx under a read lock and the application's connection mutex; with
// thousands of API requests calling it at once they convoy on that mutex and
// hold off Commit's write lock, so admission slows to a crawl. One feeder
// keeps the mempool's locks uncontended, while signature verification, the
// expensive part, has already run in parallel in the request goroutines.
func (n *Node) admit(stop <-chan struct{}) {
	mp := n.comet.Mempool()
	for {
		select {
		case <-stop:
			return
		case s := <-n.submissions:
			var out submitted
			// The local client calls back before CheckTx returns.
			out.err = mp.CheckTx(s.raw, func(r *abcitypes.ResponseCheckTx) { out.res = r }, mempool.TxInfo{})
			if out.err == nil && out.res == nil {
				out.err = errs.E(errs.Internal, "the mempool did not answer CheckTx")
			}
			s.done <- out
		}
	}
}

// checkTx hands raw to the mempool feeder and waits for its answer.
func (n *Node) checkTx(ctx context.Context, raw []byte) (*abcitypes.ResponseCheckTx, error) {
	s := submission{raw: raw, done: make(chan submitted, 1)}
	select {
	case n.submissions <- s:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case out := <-s.done:
		return out.res, out.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// backend answers the REST API from the ledger and CometBFT.
type backend struct{ n *Node }

var _ api.Backend = (*backend)(nil)

func (b *backend) Status(ctx context.Context) (api.Status, error) {
	n := b.n
	bs := n.comet.BlockStore()
	h := bs.Height()
	st := api.Status{ChainID: n.comet.GenesisDoc().ChainID, NodeID: string(n.comet.NodeInfo().ID()), Height: h, CometRPC: n.RPCURL()}
	if meta := bs.LoadBlockMeta(h); meta != nil {
		st.LatestBlockTime = meta.Header.Time
		st.LatestBlockHash = hex.EncodeToString(meta.BlockID.Hash)
	}
	_, app := n.app.Height()
	st.AppHash = hex.EncodeToString(app)
	st.CatchingUp = n.comet.ConsensusReactor().WaitSync()
	snap := n.store.Snapshot()
	defer snap.Close()
	vals, err := ledger.ReadValidators(snap)
	if err != nil {
		return st, err
	}
	params, err := ledger.ReadParams(snap)
	if err != nil {
		return st, err
	}
	st.MinGasPrice, st.MaxBlockGas = money.FormatUstr(params.MinGasPrice), params.MaxBlockGas
	for _, v := range vals {
		pk := cmted25519.PubKey(v.ConsPubKey)
		st.Validators = append(st.Validators, api.Validator{
			Name: v.Name, Operator: v.Operator.String(), ConsAddress: hex.EncodeToString(pk.Address()),
			PubKey: base64.StdEncoding.EncodeToString(v.ConsPubKey), Power: v.Power,
		})
	}
	return st, nil
}

func (b *backend) Account(ctx context.Context, did string) (api.Account, error) {
	addr, err := identity.ParseDID(did)
	if err != nil {
		return api.Account{}, err
	}
	acct, err := ledger.ReadAccount(b.n.store, addr)
	if err != nil {
		return api.Account{}, err
	}
	return api.Account{Address: addr.String(), Balance: money.FormatUstr(acct.Balance), Nonce: acct.Nonce}, nil
}

// SubmitTx verifies the signature here, in the request's goroutine, so that
// verification runs on every core; CheckTx then finds it cached.
func (b *backend) SubmitTx(ctx context.Context, raw []byte, wait bool) (api.TxResult, error) {
	app := b.n.app
	tx, err := app.PreVerify(raw)
	if err != nil {
		return api.TxResult{}, err
	}
	hash := tx.Hash()
	var done <-chan abci.TxRecord
	if wait {
		ch, cancel := app.WaitTx(hash)
		defer cancel()
		done = ch
	}
	res, err := b.n.checkTx(ctx, raw)
	if err != nil {
		var full mempool.ErrMempoolIsFull
		switch {
		case errors.Is(err, mempool.ErrTxInCache):
			return api.TxResult{}, errs.E(errs.Conflict, "transaction %s was already submitted: see `stratus tx show %s`", hash, hash)
		case errors.As(err, &full):
			return api.TxResult{}, errs.E(errs.Unavailable, "the node's mempool is full: retry in a few seconds")
		case errors.Is(err, ctx.Err()):
			return api.TxResult{}, err
		}
		return api.TxResult{}, errs.E(errs.Invalid, "transaction refused: %v", err)
	}
	if res.Code != ledger.CodeOK {
		return api.TxResult{}, &errs.Error{Kind: ledger.KindOfCode(res.Code), Msg: "transaction rejected: " + res.Log}
	}
	out := describeTx(tx)
	if !wait {
		return out, nil
	}
	t := time.NewTimer(commitWait)
	defer t.Stop()
	select {
	case rec := <-done:
		return recordResult(hash, rec, tx), nil
	case <-t.C:
		return out, errs.E(errs.Timeout, "transaction %s is in the mempool but was not committed within %s: check later with `stratus tx show %s`", hash, commitWait, hash)
	case <-ctx.Done():
		return out, ctx.Err()
	}
}

func (b *backend) Tx(ctx context.Context, hash string) (api.TxResult, error) {
	h, err := ledger.ParseHash(hash)
	if err != nil {
		return api.TxResult{}, err
	}
	rec, err := b.n.app.LookupTx(h)
	if err != nil {
		return api.TxResult{}, err
	}
	tx, _ := ledger.DecodeTx(rec.Tx, b.n.app.Machine().Registry())
	return recordResult(h, rec, tx), nil
}

// SimulateTx decodes and verifies the transaction, then runs it against
// committed state without keeping anything.
func (b *backend) SimulateTx(ctx context.Context, raw []byte) (api.Simulation, error) {
	sim, err := b.n.app.Simulate(raw)
	if err != nil {
		return api.Simulation{}, err
	}
	return api.Simulation{Code: sim.Code, Log: sim.Log, GasUsed: sim.GasUsed, Fee: money.FormatUstr(sim.Fee), Events: apiEvents(sim.Events)}, nil
}

func describeTx(tx *ledger.Tx) api.TxResult {
	msg, _ := json.Marshal(tx.Msg)
	return api.TxResult{Hash: tx.Hash().String(), Signer: tx.Signer.String(), Nonce: tx.Nonce,
		GasLimit: tx.GasLimit, GasPrice: money.FormatUstr(tx.GasPrice), Type: tx.MsgType, Msg: msg}
}

func recordResult(h ledger.Hash, rec abci.TxRecord, tx *ledger.Tx) api.TxResult {
	out := api.TxResult{Hash: h.String()}
	if tx != nil {
		out = describeTx(tx)
	}
	out.Height, out.Index, out.Code, out.Log = rec.Height, rec.Index, rec.Code, rec.Log
	out.GasUsed, out.Fee = rec.GasUsed, money.FormatUstr(rec.Fee)
	t := rec.Time
	out.Time = &t
	out.Events = apiEvents(rec.Events)
	return out
}

func apiEvents(evs []ledger.Event) []api.Event {
	var out []api.Event
	for _, e := range evs {
		ev := api.Event{Type: e.Type, Attrs: map[string]string{}}
		for _, a := range e.Attrs {
			ev.Attrs[a.Key] = a.Value
		}
		out = append(out, ev)
	}
	return out
}

func (b *backend) Block(ctx context.Context, height int64) (api.Block, error) {
	bs := b.n.comet.BlockStore()
	if height <= 0 || height > bs.Height() {
		return api.Block{}, errs.E(errs.NotFound, "no block at height %d: the chain is at height %d", height, bs.Height())
	}
	if height < bs.Base() {
		return api.Block{}, errs.E(errs.NotFound, "block %d was pruned: this node keeps blocks from height %d", height, bs.Base())
	}
	blk := bs.LoadBlock(height)
	meta := bs.LoadBlockMeta(height)
	if blk == nil || meta == nil {
		return api.Block{}, errs.E(errs.NotFound, "block %d is not stored on this node", height)
	}
	out := api.Block{
		Height: height, Hash: hex.EncodeToString(meta.BlockID.Hash), Time: blk.Time,
		Proposer: hex.EncodeToString(blk.ProposerAddress), AppHash: hex.EncodeToString(blk.AppHash),
		NumTxs: len(blk.Txs), LastBlock: hex.EncodeToString(blk.LastBlockID.Hash), TxHashes: make([]string, len(blk.Txs)),
	}
	for i, tx := range blk.Txs {
		out.TxHashes[i] = hex.EncodeToString(tx.Hash())
	}
	return out, nil
}

func (b *backend) Supply(ctx context.Context) (api.Supply, error) {
	st := b.n.store.Snapshot()
	defer st.Close()
	h := st.Height()
	total, err := ledger.ReadSupply(st)
	if err != nil {
		return api.Supply{}, err
	}
	out := api.Supply{Supply: money.FormatUstr(total), Height: h, Buckets: map[string]string{}}
	for _, name := range b.n.app.Machine().Buckets() {
		v, err := ledger.ReadBucket(st, name)
		if err != nil {
			return api.Supply{}, err
		}
		out.Buckets[name] = money.FormatUstr(v)
	}
	return out, nil
}
