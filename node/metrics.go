package node

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
)

// maxScannedLeases bounds the leases the metrics read after a block. A
// chain with more leases in state (closed ones stay until retention prunes
// them) gets counts and settlement over the first maxScannedLeases by id,
// and stratus_market_leases_complete says so.
const maxScannedLeases = 10_000

// metricLeaseStates are the values of the state label, fixed so that a lease
// state that has no leases still shows as 0.
var metricLeaseStates = []string{market.LeasePending, market.LeaseActive, market.LeaseGrace, market.LeaseClosed}

// domainMetrics are the series about what the chain holds and does, as
// opposed to how the node serves it. Bucket values are read from committed
// state at scrape time; the rest is observed once per committed block, from
// the block's events and a bounded scan of the leases.
//
// The scan runs on its own goroutine, off Commit, because CometBFT holds the
// mempool lock during Commit; when blocks come faster than scans, the scan
// skips to the latest block and its settlement covers the blocks between.
type domainMetrics struct {
	n *Node

	blocks chan abci.CommitInfo // the latest block not yet scanned
	quit   chan struct{}
	done   sync.WaitGroup

	buckets *prometheus.Desc
	supply  *prometheus.Desc

	gasUsed        prometheus.Gauge
	gasTotal       prometheus.Counter
	auditSize      prometheus.Gauge
	leases         *prometheus.GaugeVec
	leasesComplete prometheus.Gauge
	settledBlock   prometheus.Gauge
	settledTotal   prometheus.Counter
	proofs         *prometheus.CounterVec
	objects        *prometheus.CounterVec
	objectBytes    *prometheus.CounterVec
	fnCalls        prometheus.Counter
	fnCharged      prometheus.Counter

	// settled is each scanned lease's Settled after the last scan; nil
	// before the first, so a node's first scan does not count the whole
	// history as one block's settlement. complete is whether that scan
	// saw every lease: only then is a lease it did not see new.
	settled  map[uint64]uint64
	complete bool
}

func newDomainMetrics(n *Node, reg prometheus.Registerer) *domainMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &domainMetrics{
		n:              n,
		blocks:         make(chan abci.CommitInfo, 1),
		quit:           make(chan struct{}),
		buckets:        prometheus.NewDesc("stratus_ledger_bucket_ustr", "Value held in each bucket of the ledger (escrow, collateral, balances, ...), in ustr.", []string{"bucket"}, nil),
		supply:         prometheus.NewDesc("stratus_ledger_supply_ustr", "Total value in existence, in ustr; equals the sum of the buckets.", nil, nil),
		gasUsed:        g("stratus_ledger_block_gas_used", "Gas used by the transactions of the last committed block."),
		gasTotal:       c("stratus_ledger_gas_used_total", "Gas used by the transactions of the blocks this node committed since it started."),
		auditSize:      g("stratus_audit_log_size", "Leaves in the audit log after the last committed block."),
		leases:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stratus_market_leases", Help: "Leases in state after the last committed block, by state (at most the first 10000 by id)."}, []string{"state"}),
		leasesComplete: g("stratus_market_leases_complete", "1 if stratus_market_leases counted every lease in state, 0 if it stopped at its cap."),
		settledBlock:   g("stratus_market_settlement_last_block_ustr", "Ustr paid out of lease escrow in the last committed block."),
		settledTotal:   c("stratus_market_settled_ustr_total", "Ustr paid out of lease escrow in the blocks this node committed since it started."),
		proofs:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_storage_proofs_total", Help: "Storage proofs judged since the node started, by result (passed, missed)."}, []string{"result"}),
		objects:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_objects_total", Help: "Objects committed or dropped (removed or expired) since the node started, by event."}, []string{"event"}),
		objectBytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_objects_bytes_total", Help: "Bytes of the objects committed or dropped since the node started, by event."}, []string{"event"}),
		fnCalls:        c("stratus_function_calls_total", "Function calls that providers reported and the ledger charged, since the node started."),
		fnCharged:      c("stratus_function_charged_ustr_total", "Ustr charged to function deployments for reported usage, since the node started."),
	}
	for _, s := range metricLeaseStates {
		m.leases.WithLabelValues(s)
	}
	for _, r := range []string{"passed", "missed"} {
		m.proofs.WithLabelValues(r)
	}
	for _, e := range []string{"committed", "dropped"} {
		m.objects.WithLabelValues(e)
		m.objectBytes.WithLabelValues(e)
	}
	reg.MustRegister(m, m.gasUsed, m.gasTotal, m.auditSize, m.leases, m.leasesComplete, m.settledBlock, m.settledTotal,
		m.proofs, m.objects, m.objectBytes, m.fnCalls, m.fnCharged)
	m.done.Add(1)
	go m.scanBlocks()
	return m
}

// stop ends the lease scans and waits for the one running.
func (m *domainMetrics) stop() {
	close(m.quit)
	m.done.Wait()
}

func (m *domainMetrics) scanBlocks() {
	defer m.done.Done()
	for {
		select {
		case <-m.quit:
			return
		case c := <-m.blocks:
			m.scanLeases(c)
		}
	}
}

// Describe sends the descriptions of the series read at scrape time.
func (m *domainMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.buckets
	ch <- m.supply
}

// Collect reads the buckets and the supply from the latest committed state.
func (m *domainMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.n.store == nil {
		return
	}
	st := m.n.store.Snapshot()
	defer st.Close()
	total, err := ledger.ReadSupply(st)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.supply, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(m.supply, prometheus.GaugeValue, float64(total))
	for _, name := range m.n.app.Machine().Buckets() {
		v, err := ledger.ReadBucket(st, name)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(m.buckets, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(m.buckets, prometheus.GaugeValue, float64(v), name)
	}
}

// observe takes in a committed block, from Commit after the block is
// persisted, and hands it to the lease scan.
func (m *domainMetrics) observe(c abci.CommitInfo) {
	m.gasUsed.Set(float64(c.GasUsed))
	m.gasTotal.Add(float64(c.GasUsed))
	m.auditSize.Set(float64(c.AuditSize))
	for _, e := range c.Events {
		switch e.Type {
		case objects.EventProofPassed:
			m.proofs.WithLabelValues("passed").Inc()
		case objects.EventProofMissed:
			m.proofs.WithLabelValues("missed").Inc()
		case objects.EventCommitted:
			m.objects.WithLabelValues("committed").Inc()
			m.objectBytes.WithLabelValues("committed").Add(attrFloat(e, objects.AttrSize))
		case objects.EventRemoved, objects.EventExpired:
			m.objects.WithLabelValues("dropped").Inc()
			m.objectBytes.WithLabelValues("dropped").Add(attrFloat(e, objects.AttrSize))
		case functions.EventCharged:
			m.fnCalls.Add(attrFloat(e, "calls"))
			m.fnCharged.Add(attrFloat(e, "amount"))
		}
	}
	// Replace a block still waiting for its scan: the latest one counts.
	select {
	case <-m.blocks:
	default:
	}
	m.blocks <- c
}

// scanLeases counts the leases by state and what they settled since the
// last scan: the growth of each lease's Settled. A lease opened and settled
// since then counts in full, unless the last scan stopped at its cap and so
// cannot tell a new lease from one it did not reach.
func (m *domainMetrics) scanLeases(c abci.CommitInfo) {
	snap := m.n.store.Snapshot()
	defer snap.Close()
	ctx, err := m.n.app.Machine().NewQueryContext(snap, c.ChainID, c.Height, c.Time)
	if err != nil {
		return
	}
	counts := map[string]int{}
	settled := make(map[uint64]uint64, len(m.settled))
	var paid uint64
	complete, err := market.EachLease(ctx, maxScannedLeases, func(l *market.Lease) {
		counts[l.State]++
		settled[l.ID] = l.Settled
		paid += settledSince(m.settled, m.complete, l.ID, l.Settled)
	})
	if err != nil {
		return
	}
	for _, s := range metricLeaseStates {
		m.leases.WithLabelValues(s).Set(float64(counts[s]))
	}
	if complete {
		m.leasesComplete.Set(1)
	} else {
		m.leasesComplete.Set(0)
	}
	if m.settled != nil {
		m.settledBlock.Set(float64(paid))
		m.settledTotal.Add(float64(paid))
	}
	m.settled, m.complete = settled, complete
}

// settledSince is what lease id paid out since the scan that left before:
// the growth of its Settled. A lease that scan did not see counts in full
// if the scan was complete (the lease is new), and not at all if it stopped
// at its cap (the lease may be old, and its history is not this block's).
func settledSince(before map[uint64]uint64, complete bool, id, settled uint64) uint64 {
	b, seen := before[id]
	if (!seen && !complete) || settled <= b {
		return 0
	}
	return settled - b
}

func attrFloat(e ledger.Event, key string) float64 {
	v, err := strconv.ParseUint(e.Get(key), 10, 64)
	if err != nil {
		return 0
	}
	return float64(v)
}
