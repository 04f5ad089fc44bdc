package api

import (
	"context"
	"encoding/json"
	"time"
)

// Backend is what the REST API needs from a node. The node package implements
// it over the ledger and CometBFT; tests use an in-memory fake.
//
// Errors are *errs.Error values; their kind picks the HTTP status.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Account(ctx context.Context, did string) (Account, error)
	// SubmitTx checks tx and puts it in the mempool. With wait, it returns
	// once the transaction is committed (or the context ends).
	SubmitTx(ctx context.Context, tx []byte, wait bool) (TxResult, error)
	// SimulateTx runs a signed transaction against the latest committed
	// state, without its nonce checked, and reports the gas it uses and
	// what it would do. Nothing is kept.
	SimulateTx(ctx context.Context, tx []byte) (Simulation, error)
	Tx(ctx context.Context, hash string) (TxResult, error)
	Block(ctx context.Context, height int64) (Block, error)
	Supply(ctx context.Context) (Supply, error)
}

// Status is GET /v1/status.
type Status struct {
	ChainID         string      `json:"chain_id"`
	NodeID          string      `json:"node_id"`
	Height          int64       `json:"height"`
	LatestBlockTime time.Time   `json:"latest_block_time"`
	LatestBlockHash string      `json:"latest_block_hash"`
	AppHash         string      `json:"app_hash"`
	CatchingUp      bool        `json:"catching_up"`
	Validators      []Validator `json:"validators"`
	CometRPC        string      `json:"comet_rpc,omitempty"`
	// MinGasPrice is the least gas price a transaction may offer, in ustr
	// per gas; MaxBlockGas is a block's gas limit, and so the most gas one
	// transaction may ask for.
	MinGasPrice string `json:"min_gas_price"`
	MaxBlockGas uint64 `json:"max_block_gas"`
}

// Simulation is POST /v1/txs/simulate: what a transaction would do if the
// next block ran it.
type Simulation struct {
	Code    uint32  `json:"code"`
	Log     string  `json:"log,omitempty"`
	GasUsed uint64  `json:"gas_used"`
	Fee     string  `json:"fee"` // gas_used x the transaction's gas price, ustr
	Events  []Event `json:"events,omitempty"`
}

// Validator is one member of the validator set.
type Validator struct {
	Name        string `json:"name,omitempty"`
	Operator    string `json:"operator,omitempty"` // the operator's did:key
	ConsAddress string `json:"cons_address"`       // CometBFT's hex address
	PubKey      string `json:"pub_key"`            // base64 ed25519 consensus key
	Power       int64  `json:"power"`
}

// Account is GET /v1/accounts/{did}. Amounts are decimal strings of ustr.
type Account struct {
	Address string `json:"address"`
	Balance string `json:"balance"`
	Nonce   uint64 `json:"nonce"`
}

// TxResult describes a transaction: as submitted (Height 0) or committed.
type TxResult struct {
	Hash   string `json:"hash"`
	Height int64  `json:"height"`
	Index  int    `json:"index"`
	Code   uint32 `json:"code"`
	Log    string `json:"log,omitempty"`
	Signer string `json:"signer,omitempty"`
	Nonce  uint64 `json:"nonce"`
	// GasLimit and GasPrice (ustr per gas) are what the transaction
	// offered; GasUsed and Fee (ustr) what it used and paid, once
	// committed.
	GasLimit uint64          `json:"gas_limit,omitempty"`
	GasPrice string          `json:"gas_price,omitempty"`
	GasUsed  uint64          `json:"gas_used,omitempty"`
	Fee      string          `json:"fee,omitempty"`
	Type     string          `json:"type,omitempty"`
	Msg      json.RawMessage `json:"msg,omitempty"`
	Events   []Event         `json:"events,omitempty"`
	Time     *time.Time      `json:"time,omitempty"`
	// DryRun marks what a simulation says the transaction would do; it
	// was not sent.
	DryRun bool `json:"dry_run,omitempty"`
}

// Event is something the state machine emitted.
type Event struct {
	Type  string            `json:"type"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Block is GET /v1/blocks/{height}.
type Block struct {
	Height    int64     `json:"height"`
	Hash      string    `json:"hash"`
	Time      time.Time `json:"time"`
	Proposer  string    `json:"proposer"`
	AppHash   string    `json:"app_hash"`
	NumTxs    int       `json:"num_txs"`
	TxHashes  []string  `json:"tx_hashes"`
	LastBlock string    `json:"last_block_hash"`
}

// Supply is GET /v1/supply: the total, and the buckets that hold it. The
// buckets always add up to the supply.
type Supply struct {
	Supply  string            `json:"supply"`
	Height  int64             `json:"height"`
	Buckets map[string]string `json:"buckets"`
}

// SubmitRequest is the body of POST /v1/txs. Tx is the signed transaction,
// base64 (standard encoding). With Wait the call returns after the commit.
type SubmitRequest struct {
	Tx   []byte `json:"tx"`
	Wait bool   `json:"wait"`
}
