package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// SendOptions adjust a transaction built by Send.
type SendOptions struct {
	// GasLimit is the most gas the transaction may use; 0 estimates it
	// by simulating the transaction and adding a margin.
	GasLimit uint64
	// GasPrice in ustr per gas; 0 pays the chain's minimum.
	GasPrice uint64
	Memo     string
	// DryRun simulates the transaction and returns what it would do and
	// cost, without sending it.
	DryRun bool
}

// GasMargin is what an estimate adds to the simulated gas: state can change
// between the simulation and the block (another lease opened, a record
// grown), and unused gas costs nothing.
func GasMargin(used uint64) uint64 { return used/4 + 500 }

// Simulate runs a signed transaction against the node's latest state
// without keeping anything, and reports the gas it used and what it did.
func (c *Client) Simulate(ctx context.Context, tx []byte) (api.Simulation, error) {
	var sim api.Simulation
	return sim, c.doType(ctx, http.MethodPost, "/v1/txs/simulate", "application/octet-stream", tx, &sim)
}

// Chain is what signing needs to know of the chain and the signer.
type Chain struct {
	ChainID     string
	MinGasPrice uint64
	MaxBlockGas uint64
}

// Chain reads the chain id and gas parameters from the node.
func (c *Client) Chain(ctx context.Context) (Chain, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return Chain{}, err
	}
	price, err := money.ParseUstr(st.MinGasPrice)
	if err != nil {
		return Chain{}, fmt.Errorf("the node reports min_gas_price %q: %w", st.MinGasPrice, err)
	}
	return Chain{ChainID: st.ChainID, MinGasPrice: price, MaxBlockGas: st.MaxBlockGas}, nil
}

// Prepare builds and signs the transaction for msg with the given nonce.
// Unless o.GasLimit is set, it first signs it with the block's gas limit,
// simulates that (the node runs it as far as the balance pays for, and
// takes no fee), and signs again with the gas used plus GasMargin, or with as much
// as balance pays for if that is less. A transaction the simulation shows
// failing is an error, with the kind of its failure, and nothing is sent or
// spent; the simulation comes back with it.
func (c *Client) Prepare(ctx context.Context, ch Chain, key *identity.Key, msg ledger.Msg, nonce, balance uint64, o SendOptions) (*ledger.Tx, api.Simulation, error) {
	if err := msg.Validate(); err != nil {
		return nil, api.Simulation{}, err
	}
	price := o.GasPrice
	if price == 0 {
		price = ch.MinGasPrice
	}
	if price < ch.MinGasPrice {
		return nil, api.Simulation{}, errs.E(errs.Invalid, "gas price %dustr is below the chain's minimum of %dustr per gas", price, ch.MinGasPrice)
	}
	sign := func(limit uint64) (*ledger.Tx, error) {
		tx := &ledger.Tx{ChainID: ch.ChainID, Nonce: nonce, GasLimit: limit, GasPrice: price, Memo: o.Memo, Msg: msg}
		return tx, tx.Sign(key)
	}
	limit := o.GasLimit
	if limit == 0 {
		limit = ch.MaxBlockGas
	}
	tx, err := sign(limit)
	if err != nil {
		return nil, api.Simulation{}, err
	}
	sim, err := c.Simulate(ctx, tx.Bytes())
	if err != nil {
		return nil, sim, err
	}
	if sim.Code == ledger.CodeOutOfGas && o.GasLimit == 0 && balance/price < limit {
		// The node ran the simulation only as far as the balance pays.
		return nil, sim, errs.E(errs.Insufficient, "transaction rejected: %s cannot pay for the gas the transaction needs: the balance of %s buys %d gas at %dustr per gas", key.Address(), money.Format(balance), balance/price, price)
	}
	if sim.Code != ledger.CodeOK {
		return nil, sim, &errs.Error{Kind: ledger.KindOfCode(sim.Code), Msg: "transaction rejected: " + sim.Log}
	}
	if o.GasLimit != 0 {
		return tx, sim, nil
	}
	affordable := balance / price
	if affordable < sim.GasUsed {
		return nil, sim, errs.E(errs.Insufficient, "transaction rejected: %s cannot pay for the %d gas the transaction uses at %dustr per gas: balance is %s", key.Address(), sim.GasUsed, price, money.Format(balance))
	}
	tx, err = sign(min(sim.GasUsed+GasMargin(sim.GasUsed), affordable))
	return tx, sim, err
}

// Send builds a transaction for msg with the chain id, the gas price (the
// chain's minimum unless o says otherwise), an estimated gas limit and the
// signer's next nonce as the node reports them, signs it with key, submits
// it and waits for the commit. A transaction that the simulation shows
// failing, or that is committed but fails, is an error with its kind,
// returned with its result. With o.DryRun it returns the simulation's
// figures (GasLimit, GasUsed, Fee, Events) without sending anything.
func (c *Client) Send(ctx context.Context, key *identity.Key, msg ledger.Msg, o SendOptions) (api.TxResult, error) {
	ch, err := c.Chain(ctx)
	if err != nil {
		return api.TxResult{}, err
	}
	acct, err := c.Account(ctx, key.Address().String())
	if err != nil {
		return api.TxResult{}, err
	}
	bal, err := money.ParseUstr(acct.Balance)
	if err != nil {
		return api.TxResult{}, err
	}
	tx, sim, err := c.Prepare(ctx, ch, key, msg, acct.Nonce, bal, o)
	if err != nil {
		return api.TxResult{}, err
	}
	if o.DryRun {
		return api.TxResult{Hash: tx.Hash().String(), Signer: tx.Signer.String(), Nonce: tx.Nonce, Type: tx.MsgType,
			GasLimit: tx.GasLimit, GasPrice: money.FormatUstr(tx.GasPrice), GasUsed: sim.GasUsed, Fee: sim.Fee,
			Events: sim.Events, DryRun: true}, nil
	}
	res, err := c.SubmitTx(ctx, tx.Bytes(), true)
	if err != nil {
		return res, err
	}
	if res.Code != ledger.CodeOK {
		return res, &errs.Error{Kind: ledger.KindOfCode(res.Code), Msg: fmt.Sprintf("transaction %s failed in block %d: %s", res.Hash, res.Height, res.Log)}
	}
	return res, nil
}
