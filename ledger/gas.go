package ledger

// ConsumeGas charges the running transaction n gas for work that state
// reads and writes do not show (a signature check, validating a schedule,
// verifying a proof, judging SLA windows). what names the work in the
// out-of-gas error. Outside a transaction (EndBlock, queries) nothing is
// metered and it does nothing: that work is bounded per block instead.
//
// When the transaction's gas limit is exceeded it panics with an
// out-of-gas value that the executor recovers: the transaction fails with
// nothing changed but its fee.
func (c *Context) ConsumeGas(n uint64, what string) {
	if c.gas != nil {
		c.gas.consume(n, what)
	}
}

// GasMeter counts the gas a transaction uses against its limit.
type GasMeter struct {
	limit, used uint64
}

type outOfGas struct {
	what        string
	used, limit uint64
}

func (g *GasMeter) consume(n uint64, what string) {
	if n > g.limit-g.used || g.used > g.limit {
		g.used = g.limit
		panic(outOfGas{what: what, used: g.used, limit: g.limit})
	}
	g.used += n
}
