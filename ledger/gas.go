package ledger

import (
	"fmt"

	"github.com/stratus-cloud/stratus/errs"
)

// GasTable is what each unit of work costs, in gas. One gas stands for about
// 100 ns of a validator's core; what every validator keeps for good (block
// bytes, state bytes, audit log entries) costs more than the time it takes,
// since every validator pays for it until it is pruned. docs/ledger.md gives
// the reasoning behind each figure. They are chain parameters.
type GasTable struct {
	// TxBase is charged to every transaction before it runs: decoding,
	// the signature check (about 50 us), the nonce and fee, and its entry
	// in the audit log.
	TxBase uint64 `json:"tx_base"`
	// TxByte is per byte of the transaction: gossiped to and stored by
	// every validator for good.
	TxByte uint64 `json:"tx_byte"`
	// ReadFlat and ReadByte are per state read and per byte of its key
	// and value.
	ReadFlat uint64 `json:"read_flat"`
	ReadByte uint64 `json:"read_byte"`
	// WriteFlat and WriteByte are per state write (or delete) and per byte
	// of its key and value.
	WriteFlat uint64 `json:"write_flat"`
	WriteByte uint64 `json:"write_byte"`
	// IterStep is per key a walk over state visits, plus ReadByte per byte.
	IterStep uint64 `json:"iter_step"`
	// EventFlat and EventByte are per event and per byte of it: each one
	// is an entry in the audit log, kept for good.
	EventFlat uint64 `json:"event_flat"`
	EventByte uint64 `json:"event_byte"`
}

// DefaultGasTable is the gas table of a new devnet or testnet.
func DefaultGasTable() GasTable {
	return GasTable{
		TxBase: 600, TxByte: 2,
		ReadFlat: 20, ReadByte: 1,
		WriteFlat: 100, WriteByte: 5,
		IterStep:  20,
		EventFlat: 50, EventByte: 2,
	}
}

// maxGasFigure bounds each figure of the table, so that a figure times any
// length a transaction can have stays far from overflow.
const maxGasFigure = 1 << 30

// Validate checks that every figure is at most 2^30.
func (g GasTable) Validate() error {
	for _, f := range g.pointers() {
		if *f > maxGasFigure {
			return errs.E(errs.Invalid, "gas table figure %d is over %d", *f, uint64(maxGasFigure))
		}
	}
	return nil
}

func (g *GasTable) pointers() []*uint64 {
	return []*uint64{&g.TxBase, &g.TxByte, &g.ReadFlat, &g.ReadByte, &g.WriteFlat, &g.WriteByte, &g.IterStep, &g.EventFlat, &g.EventByte}
}

// Intrinsic is the gas a transaction of size bytes uses before its message
// runs.
func (g GasTable) Intrinsic(size int) uint64 { return g.TxBase + g.TxByte*uint64(size) }

// ConsumeGas charges the running transaction n gas for work that state
// reads and writes do not show (validating a schedule, verifying a proof,
// judging SLA windows). what names the work in the out-of-gas error.
// Outside a transaction (EndBlock, queries) nothing is metered and it does
// nothing: that work is bounded per block instead.
//
// When the transaction's gas limit is exceeded it panics with an
// out-of-gas value that the executor recovers: the transaction fails with
// nothing changed but its fee.
func (c *Context) ConsumeGas(n uint64, what string) {
	if c.cache.gas != nil {
		c.cache.gas.consume(n, what)
	}
}

// GasUsed is the gas the running transaction has used so far, or 0 outside
// one.
func (c *Context) GasUsed() uint64 {
	if c.cache.gas == nil {
		return 0
	}
	return c.cache.gas.used
}

// GasMeter counts the gas a transaction uses against its limit.
type GasMeter struct {
	limit, used uint64
	table       *GasTable
}

// outOfGas is the panic value of a meter that ran out.
type outOfGas struct {
	what  string
	limit uint64
}

func (g *GasMeter) consume(n uint64, what string) {
	if n > g.limit-g.used {
		g.used = g.limit
		panic(outOfGas{what: what, limit: g.limit})
	}
	g.used += n
}

func (g *GasMeter) read(k string, v []byte) {
	g.consume(g.table.ReadFlat+g.table.ReadByte*uint64(len(k)+len(v)), "reading state")
}

func (g *GasMeter) step(k, v []byte) {
	g.consume(g.table.IterStep+g.table.ReadByte*uint64(len(k)+len(v)), "walking state")
}

func (g *GasMeter) write(k string, v []byte) {
	g.consume(g.table.WriteFlat+g.table.WriteByte*uint64(len(k)+len(v)), "writing state")
}

func (g *GasMeter) event(e *Event) {
	n := len(e.Type)
	for _, a := range e.Attrs {
		n += len(a.Key) + len(a.Value)
	}
	g.consume(g.table.EventFlat+g.table.EventByte*uint64(n), "emitting events")
}

// ErrOutOfGas is what a transaction that ran out of gas fails with.
var ErrOutOfGas = errs.E(errs.Insufficient, "out of gas")

// metered runs f with the cache metering into g, and turns running out of
// gas into an error.
func metered(c *Cache, g *GasMeter, f func() error) (err error) {
	c.gas = g
	defer func() {
		c.gas = nil
		if r := recover(); r != nil {
			oog, ok := r.(outOfGas)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%w: the gas limit of %d ran out while %s; estimate the gas again (a simulation) and allow a margin", ErrOutOfGas, oog.limit, oog.what)
		}
	}()
	return f()
}
