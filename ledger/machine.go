// Package ledger is Stratus's deterministic state machine: transactions and
// their encoding, the message registry that modules plug into, accounts and
// value buckets, and block execution that ends in an app hash.
//
// It does no I/O of its own. It reads committed state through a Reader and
// hands back the block's changes for the caller to persist in one batch; the
// CometBFT adapter (ledger/abci) and the Pebble store sit around it. It reads
// no wall clock, no random source and no map in iteration order.
package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
)

// Result codes of a transaction, as CometBFT reports them. 0 is success.
const (
	CodeOK           uint32 = 0
	CodeInvalid      uint32 = 1
	CodeUnauthorized uint32 = 2
	CodeWrongChain   uint32 = 3
	CodeBadNonce     uint32 = 4
	CodeFee          uint32 = 5
	CodeInsufficient uint32 = 6
	CodeTooLarge     uint32 = 7
	CodeNotFound     uint32 = 8
	CodeConflict     uint32 = 9
	CodeOutOfGas     uint32 = 10
	CodeBlockFull    uint32 = 11
	CodeInternal     uint32 = 99
)

// Sentinel errors the ante checks return; callers test them with errors.Is.
var (
	ErrBadSignature = errs.E(errs.Unauthorized, "bad signature: the transaction was not signed by the key it names")
	ErrWrongChain   = errors.New("wrong chain id")
	ErrBadNonce     = errors.New("wrong nonce")
	ErrFeeTooLow    = errors.New("fee too low")
	// ErrBlockFull fails a transaction that a proposer put in a block
	// past the block's gas limit; it pays nothing and changes nothing.
	ErrBlockFull = errors.New("block gas limit reached")
)

// CodeOf maps an error to a result code.
func CodeOf(err error) uint32 {
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, ErrWrongChain):
		return CodeWrongChain
	case errors.Is(err, ErrBadNonce):
		return CodeBadNonce
	case errors.Is(err, ErrFeeTooLow):
		return CodeFee
	case errors.Is(err, ErrOutOfGas):
		return CodeOutOfGas
	case errors.Is(err, ErrBlockFull):
		return CodeBlockFull
	}
	switch errs.KindOf(err) {
	case errs.Invalid:
		return CodeInvalid
	case errs.Unauthorized:
		return CodeUnauthorized
	case errs.Insufficient:
		return CodeInsufficient
	case errs.TooLarge:
		return CodeTooLarge
	case errs.NotFound:
		return CodeNotFound
	case errs.Conflict:
		return CodeConflict
	}
	return CodeInternal
}

// KindOfCode maps a result code back to an error kind.
func KindOfCode(code uint32) errs.Kind {
	switch code {
	case CodeInvalid, CodeWrongChain, CodeBadNonce, CodeFee, CodeBlockFull:
		return errs.Invalid
	case CodeOutOfGas:
		return errs.Insufficient
	case CodeUnauthorized:
		return errs.Unauthorized
	case CodeInsufficient:
		return errs.Insufficient
	case CodeTooLarge:
		return errs.TooLarge
	case CodeNotFound:
		return errs.NotFound
	case CodeConflict:
		return errs.Conflict
	}
	return errs.Internal
}

// Machine executes blocks. It is stateless between calls and safe to share.
type Machine struct {
	reg    *Registry
	params paramCache
}

// New returns a machine over the registry's modules.
func New(reg *Registry) *Machine { return &Machine{reg: reg} }

// Registry returns the machine's message registry.
func (m *Machine) Registry() *Registry { return m.reg }

// DefaultRegistry holds the modules of this release.
func DefaultRegistry(extra ...Module) *Registry {
	return NewRegistry(append([]Module{Bank{}}, extra...)...)
}

// Buckets lists every bucket that holds value: the core's and the modules'.
func (m *Machine) Buckets() []string {
	out := []string{BucketBalances, BucketFees, BucketTreasury}
	for _, mod := range m.reg.modules {
		if b, ok := mod.(BucketOwner); ok {
			out = append(out, b.Buckets()...)
		}
	}
	return out
}

// Header is what a block brings from consensus.
type Header struct {
	ChainID     string
	Height      int64
	Time        time.Time
	Hash        []byte // this block's hash: the state machine's entropy
	PrevAppHash []byte
}

// Block is a block being executed.
type Block struct {
	m       *Machine
	ctx     *Context
	log     *audit.Log
	header  Header
	gas     uint64 // the gas limits of the transactions delivered so far
	Results []TxResult
}

// TxResult is what happened to one transaction of a block.
type TxResult struct {
	Hash   Hash
	Code   uint32
	Log    string
	Events []Event
	Tx     *Tx // nil when the transaction could not be decoded
	// GasUsed is the gas the transaction used, and Fee what it paid:
	// GasUsed x its gas price. Both are 0 when it failed before its fee
	// was taken (bad signature, nonce, gas price or balance).
	GasUsed uint64
	Fee     uint64
}

// Changes is the outcome of a block: the writes to persist and the new app
// hash, which commits to the previous app hash, these writes and the audit
// log's root.
type Changes struct {
	Writes    []Change
	AppHash   []byte
	AuditSize uint64
	AuditRoot []byte
	// Inputs are what AppHash was computed from.
	Inputs AppHashInputs
}

// AppHashInputs are what a block's app hash commits to. The writes are
// folded into WritesHash, so an auditor can recompute the app hash from a
// checkpoint without the block's state changes.
type AppHashInputs struct {
	Height      int64  `json:"height"`
	PrevAppHash []byte `json:"prev_app_hash"`
	WritesHash  []byte `json:"writes_hash"`
	AuditSize   uint64 `json:"size"`
	AuditRoot   []byte `json:"root"`
}

// AppHash is SHA-256("stratus/apphash/v1\n" || prev || height (8 bytes,
// big-endian) || writes hash || audit size (8 bytes, big-endian) || audit
// root), the hash CometBFT carries in the next block's header.
func (in AppHashInputs) AppHash() []byte {
	sum := sha256.New()
	sum.Write([]byte("stratus/apphash/v1\n"))
	sum.Write(in.PrevAppHash)
	sum.Write(binary.BigEndian.AppendUint64(nil, uint64(in.Height)))
	sum.Write(in.WritesHash)
	sum.Write(binary.BigEndian.AppendUint64(nil, in.AuditSize))
	sum.Write(in.AuditRoot)
	return sum.Sum(nil)
}

func (m *Machine) newContext(r Reader, h Header, check bool) (*Context, error) {
	ctx := &Context{cache: NewCache(r), reg: m.reg, ChainID: h.ChainID, Height: h.Height, Time: h.Time, Entropy: h.Hash, Check: check}
	if err := m.loadParams(ctx); err != nil {
		return nil, err
	}
	if h.Time.IsZero() {
		// The mempool has no block: it sees the time of the last one.
		if b := ctx.cache.Get([]byte(keyBlockTime)); len(b) == 8 {
			ctx.Time = time.UnixMilli(int64(readU64(b))).UTC()
		}
	}
	return ctx, nil
}

// keyBlockTime holds the last block's time, in unix milliseconds.
const keyBlockTime = "block_time"

// InitChain writes genesis state and returns it as the changes of height 0.
func (m *Machine) InitChain(r Reader, h Header, appState []byte) (Changes, error) {
	var sections map[string]json.RawMessage
	if err := json.Unmarshal(appState, &sections); err != nil {
		return Changes{}, errs.E(errs.Invalid, "genesis app_state is not a JSON object: %v", err)
	}
	var g Genesis
	if err := json.Unmarshal(appState, &g); err != nil {
		return Changes{}, errs.E(errs.Invalid, "genesis app_state: %v", err)
	}
	if err := g.Validate(); err != nil {
		return Changes{}, err
	}
	ctx := &Context{cache: NewCache(r), reg: m.reg, ChainID: h.ChainID, Height: h.Height, Time: h.Time, Params: g.Params}
	if err := ctx.SetParams(CoreParams, &g.Params); err != nil {
		return Changes{}, err
	}
	ctx.cache.Set([]byte(keyBlockTime), u64(uint64(h.Time.UnixMilli())))
	ctx.cache.Set([]byte(keyValidators), encodeValidators(g.Validators))
	ctx.cache.Set([]byte(keySupply), u64(0))
	for _, a := range g.Accounts {
		if err := ctx.mint(a.Address, a.Balance); err != nil {
			return Changes{}, err
		}
	}
	for _, mod := range m.reg.modules {
		if err := mod.InitGenesis(ctx, sections[mod.Name()]); err != nil {
			return Changes{}, fmt.Errorf("genesis of module %s: %w", mod.Name(), err)
		}
	}
	log, err := audit.Load(ctx.prefixed(prefAudit))
	if err != nil {
		return Changes{}, err
	}
	CoreEvents.Genesis.Emit(ctx, h.ChainID, FormatInt(ctx.Supply()))
	appendEvents(log, h.Height, -1, ctx.events)
	log.Flush()
	return finish(ctx.cache, log, h), nil
}

const prefAudit = "audit/"

// AuditLog returns the state of the audit log (package audit), for reading
// proofs and entries from a query context.
func (c *Context) AuditLog() audit.KV { return c.prefixed(prefAudit) }

// BeginBlock starts executing a block over committed state r.
func (m *Machine) BeginBlock(r Reader, h Header) (*Block, error) {
	ctx, err := m.newContext(r, h, false)
	if err != nil {
		return nil, err
	}
	log, err := audit.Load(ctx.prefixed(prefAudit))
	if err != nil {
		return nil, err
	}
	ctx.cache.Set([]byte(keyBlockTime), u64(uint64(h.Time.UnixMilli())))
	return &Block{m: m, ctx: ctx, log: log, header: h}, nil
}

// Deliver executes one transaction. With verified, the signature was already
// checked by this node (in CheckTx) over these exact bytes.
func (b *Block) Deliver(raw []byte, verified bool) TxResult {
	res := TxResult{Hash: HashTx(raw)}
	tx, err := DecodeTx(raw, b.m.reg)
	if err == nil && !verified && !tx.VerifySignature() {
		err = ErrBadSignature
	}
	if err == nil && tx.GasLimit <= b.ctx.Params.MaxBlockGas && tx.GasLimit > b.ctx.Params.MaxBlockGas-min(b.gas, b.ctx.Params.MaxBlockGas) {
		// An honest proposer never gets here (PrepareProposal stops at
		// the limit); what a dishonest one adds fails without a fee.
		err = fmt.Errorf("%w: the block's transactions already claim %d of its %d gas and this one asks for %d", ErrBlockFull, b.gas, b.ctx.Params.MaxBlockGas, tx.GasLimit)
	}
	if err == nil {
		res.Tx = tx
		b.gas += tx.GasLimit
		ctx := b.ctx
		ctx.events = ctx.events[:0]
		var o execution
		o, err = execute(ctx, tx, false)
		res.Events = append([]Event(nil), o.events...)
		res.GasUsed, res.Fee = o.gasUsed, o.fee
		ctx.cache.Seal()
	}
	res.Code = CodeOf(err)
	if err != nil {
		res.Log = err.Error()
	}
	b.appendTx(len(b.Results), res)
	b.Results = append(b.Results, res)
	return res
}

// execution is the outcome of running one transaction on a context.
type execution struct {
	gasUsed, fee uint64
	events       []Event
}

// execute runs tx on ctx: the ante checks and fee, then its message under
// its gas limit, then the refund of the gas it did not use. A failed ante
// changes nothing; a failed message (out of gas included) keeps only the
// fee and the nonce.
//
// With simulate, the nonce is not checked and the ante takes only the fee
// for the intrinsic gas, so the message sees the balance it will see when
// sent with a tight gas limit; the rest of the fee is taken after it runs.
func execute(ctx *Context, tx *Tx, simulate bool) (execution, error) {
	var o execution
	snap := ctx.cache.Snapshot()
	taken, limit, err := ante(ctx, tx, simulate)
	if err != nil {
		ctx.cache.Revert(snap)
		return o, err
	}
	meter := &GasMeter{limit: limit, used: ctx.Params.Gas.Intrinsic(tx.ChargedSize()), table: &ctx.Params.Gas}
	snap = ctx.cache.Snapshot()
	ctx.TxFee = taken
	err = metered(ctx.cache, meter, func() error { return runMsg(ctx, tx) })
	ctx.TxFee = 0
	if err != nil {
		ctx.cache.Revert(snap)
		ctx.events = ctx.events[:0]
	}
	o.gasUsed = meter.used
	o.fee = o.gasUsed * tx.GasPrice // at most GasLimit x GasPrice, which did not overflow
	// The fee held from the balance is settled: the unused part goes back
	// and the fee moves from balances to fees, which restores the
	// invariant the hold suspended.
	acct := ctx.GetAccount(tx.Signer)
	switch {
	case o.fee < taken:
		acct.Balance += taken - o.fee // it was there before the hold
		ctx.setAccount(tx.Signer, acct)
	case o.fee > taken: // only in a simulation
		if acct.Balance < o.fee-taken {
			if err == nil {
				err = errs.E(errs.Insufficient, "%s cannot pay the fee of %s (%d gas at %dustr per gas) after the transaction: balance is %s", tx.Signer, money.Format(o.fee), o.gasUsed, tx.GasPrice, money.Format(acct.Balance+taken))
			}
			o.fee = taken
		} else {
			acct.Balance -= o.fee - taken
			ctx.setAccount(tx.Signer, acct)
		}
	}
	if merr := ctx.MoveBucket(BucketBalances, BucketFees, o.fee); merr != nil {
		panic(fmt.Sprintf("ledger: settling a fee: %v", merr))
	}
	o.events = ctx.events
	return o, err
}

// ante checks what every transaction owes before its message runs (chain,
// size, nonce, gas) and holds the fee for all of its gas limit from the
// signer's balance, in the same write as the nonce; execute settles it
// after the message: the unused part back, the fee into the fees bucket.
// Until then the balances bucket still counts what is held. It returns the
// fee it holds and the gas limit the message runs under (in a simulation,
// no more than the balance pays for). It fails without side effects.
func ante(ctx *Context, tx *Tx, simulate bool) (uint64, uint64, error) {
	if tx.ChainID != ctx.ChainID {
		return 0, 0, fmt.Errorf("%w: transaction is for chain %q but this is %q; check --node", ErrWrongChain, tx.ChainID, ctx.ChainID)
	}
	if uint64(len(tx.raw)) > ctx.Params.MaxTxBytes {
		return 0, 0, errs.E(errs.TooLarge, "transaction is %d bytes, over the chain's limit of %d", len(tx.raw), ctx.Params.MaxTxBytes)
	}
	if err := tx.Msg.Validate(); err != nil {
		return 0, 0, err
	}
	acct := ctx.GetAccount(tx.Signer)
	if !simulate && tx.Nonce != acct.Nonce {
		return 0, 0, fmt.Errorf("%w: transaction has nonce %d but account %s expects %d; a replayed or out-of-order transaction", ErrBadNonce, tx.Nonce, tx.Signer, acct.Nonce)
	}
	if tx.GasPrice < ctx.Params.MinGasPrice {
		return 0, 0, fmt.Errorf("%w: gas price %dustr per gas is below the chain's minimum of %dustr", ErrFeeTooLow, tx.GasPrice, ctx.Params.MinGasPrice)
	}
	if tx.GasLimit > ctx.Params.MaxBlockGas {
		return 0, 0, errs.E(errs.Invalid, "gas limit %d is over the block gas limit of %d", tx.GasLimit, ctx.Params.MaxBlockGas)
	}
	need := ctx.Params.Gas.Intrinsic(tx.ChargedSize())
	if tx.GasLimit < need {
		return 0, 0, fmt.Errorf("%w: gas limit %d is below the %d gas a %d-byte transaction uses before it runs", ErrOutOfGas, tx.GasLimit, need, len(tx.raw))
	}
	fee, err := tx.MaxFee()
	if err != nil {
		return 0, 0, err
	}
	limit := tx.GasLimit
	if simulate {
		// A simulation is not paid for: it may do only the work the
		// signer could pay for, so a key cannot make a node work for
		// nothing past its balance.
		limit, fee = min(tx.GasLimit, acct.Balance/tx.GasPrice), need*tx.GasPrice
	}
	if acct.Balance < fee {
		return 0, 0, errs.E(errs.Insufficient, "%s cannot pay the fee of up to %s (%d gas at %dustr per gas): balance is %s", tx.Signer, money.Format(fee), max(limit, need), tx.GasPrice, money.Format(acct.Balance))
	}
	acct.Balance -= fee
	acct.Nonce++
	ctx.setAccount(tx.Signer, acct)
	return fee, limit, nil
}

func runMsg(ctx *Context, tx *Tx) (err error) {
	h, err := ctx.reg.handler(tx.MsgType)
	if err != nil {
		return errs.E(errs.Invalid, "%v", err)
	}
	return h(ctx, tx.Signer, tx.Msg)
}

// appendTx puts a transaction and its events in the audit log.
func (b *Block) appendTx(index int, res TxResult) {
	w := codec.NewWriter(128)
	w.String("tx")
	w.Uvarint(uint64(b.header.Height))
	w.Uvarint(uint64(index))
	w.Fixed(res.Hash[:])
	w.Uvarint(uint64(res.Code))
	if res.Tx != nil {
		w.Fixed(res.Tx.Signer[:])
		w.String(res.Tx.MsgType)
	}
	b.log.AppendTx(res.Hash[:], w.Bytes())
	appendEvents(b.log, b.header.Height, index, res.Events)
}

// appendEvents logs events; index -1 marks events of the block itself.
func appendEvents(log *audit.Log, height int64, index int, evs []Event) {
	for _, e := range evs {
		w := codec.NewWriter(128)
		w.String("event")
		w.Uvarint(uint64(height))
		w.Uvarint(uint64(index + 1))
		e.encode(w)
		log.Append(w.Bytes())
	}
}

// End runs the modules' end-of-block work and returns the block's changes.
// Events from EndBlock are returned in EndEvents.
func (b *Block) End() (Changes, []Event, error) {
	ctx := b.ctx
	ctx.events = ctx.events[:0]
	for _, mod := range b.m.reg.modules {
		if err := mod.EndBlock(ctx); err != nil {
			return Changes{}, nil, fmt.Errorf("end of block %d in module %s: %w", b.header.Height, mod.Name(), err)
		}
	}
	evs := append([]Event(nil), ctx.events...)
	appendEvents(b.log, b.header.Height, -1, evs)
	b.log.Flush()
	return finish(ctx.cache, b.log, b.header), evs, nil
}

func finish(c *Cache, log *audit.Log, h Header) Changes {
	writes := c.Changes()
	in := AppHashInputs{Height: h.Height, PrevAppHash: h.PrevAppHash, WritesHash: hashChanges(writes), AuditSize: log.Size(), AuditRoot: log.Root()}
	return Changes{Writes: writes, AppHash: in.AppHash(), AuditSize: in.AuditSize, AuditRoot: in.AuditRoot, Inputs: in}
}

// Checker is the mempool's view of state: committed state plus the effects
// of transactions already accepted since the last commit, so a sender can
// have several transactions in flight and an overdraft is refused before it
// reaches a block.
type Checker struct {
	m   *Machine
	ctx *Context
}

// NewChecker returns a checker over committed state r at height h.
func (m *Machine) NewChecker(r Reader, h Header) (*Checker, error) {
	ctx, err := m.newContext(r, h, true)
	if err != nil {
		return nil, err
	}
	return &Checker{m: m, ctx: ctx}, nil
}

// Check decodes raw, verifies its signature unless verify is false, and runs
// it against the checker's state. On success its effects stay, so the next
// transaction from the same sender needs the next nonce.
func (c *Checker) Check(raw []byte, verify bool) (*Tx, error) {
	tx, err := DecodeTx(raw, c.m.reg)
	if err != nil {
		return nil, err
	}
	return tx, c.CheckDecoded(tx, verify)
}

// CheckDecoded is Check for a transaction already decoded.
func (c *Checker) CheckDecoded(tx *Tx, verify bool) error {
	if verify && !tx.VerifySignature() {
		return ErrBadSignature
	}
	ctx := c.ctx
	ctx.events = ctx.events[:0]
	snap := ctx.cache.Snapshot()
	if _, err := execute(ctx, tx, false); err != nil {
		// The mempool keeps no transaction that would fail, so nothing of
		// it stays, not even its fee.
		ctx.cache.Revert(snap)
		return err
	}
	ctx.cache.Seal()
	return nil
}

// Simulation is what a transaction would do if it were executed now.
type Simulation struct {
	Code    uint32
	Log     string
	GasUsed uint64
	Fee     uint64
	Events  []Event
}

// Simulate runs raw against committed state r as the next block would,
// without its nonce being checked, and discards its writes: it tells a
// client the gas a transaction uses before it is sent. The signature is
// checked, so a client signs what it simulates; it signs with a large gas
// limit (the ante takes only the intrinsic gas's fee), and then again with
// the estimate.
func (m *Machine) Simulate(r Reader, h Header, raw []byte) (Simulation, error) {
	ctx, err := m.newContext(r, h, true)
	if err != nil {
		return Simulation{}, err
	}
	tx, err := DecodeTx(raw, m.reg)
	if err != nil {
		return Simulation{}, err
	}
	if !tx.VerifySignature() {
		return Simulation{}, ErrBadSignature
	}
	o, err := execute(ctx, tx, true)
	sim := Simulation{Code: CodeOf(err), GasUsed: o.gasUsed, Fee: o.fee, Events: o.events}
	if err != nil {
		sim.Log = err.Error()
	}
	return sim, nil
}

// Account reads an account as the checker sees it, pending transactions
// included.
func (c *Checker) Account(a identity.Address) Account { return c.ctx.GetAccount(a) }

// ReadAccount reads an account from committed state.
func ReadAccount(r Reader, a identity.Address) (Account, error) {
	b, err := r.Get(accountKey(a))
	if err != nil {
		return Account{}, err
	}
	return readAccount(b), nil
}

// ReadBucket reads a bucket from committed state.
func ReadBucket(r Reader, name string) (uint64, error) {
	b, err := r.Get([]byte(prefBucket + name))
	return readU64(b), err
}

// ReadSupply reads the supply from committed state.
func ReadSupply(r Reader) (uint64, error) {
	b, err := r.Get([]byte(keySupply))
	return readU64(b), err
}

// ReadValidators reads the validator set from committed state.
func ReadValidators(r Reader) ([]Validator, error) {
	b, err := r.Get([]byte(keyValidators))
	if err != nil {
		return nil, err
	}
	return decodeValidators(b)
}

// AccountPrefix is the key prefix of accounts, for tests that sum balances
// by walking state.
const AccountPrefix = prefAccount

// DecodeAccountValue reads an account's stored value.
func DecodeAccountValue(b []byte) Account { return readAccount(b) }

// ReadParams reads the chain parameters from committed state.
func ReadParams(r Reader) (Params, error) {
	b, err := r.Get(ParamsKey(CoreParams))
	if err != nil {
		return Params{}, err
	}
	if b == nil {
		return Params{}, errs.E(errs.NotFound, "no chain parameters in state yet")
	}
	p, err := decodeParamSet(b, func() ParamSet { return &Params{} })
	if err != nil {
		return Params{}, errs.E(errs.Internal, "state holds corrupt chain parameters: %v", err)
	}
	return *p.(*Params), nil
}

// NewQueryContext returns a context over committed state r as of time t, for
// queries that run module logic (such as settling a lease up to now) to show
// what a transaction at t would see. Its writes go nowhere.
func (m *Machine) NewQueryContext(r Reader, chainID string, height int64, t time.Time) (*Context, error) {
	return m.newContext(r, Header{ChainID: chainID, Height: height, Time: t}, true)
}
