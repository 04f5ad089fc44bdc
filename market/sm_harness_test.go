package market_test

// The harness for the market's state-machine tests (sm_*_test.go): a chain
// over memory, driven block by block with block times the test chooses, and
// after every block a check of conservation and of every lease's and
// provider's books.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

const smChainID = "market-sm"

// smT0 is genesis time; it falls on an epoch boundary.
var smT0 = ledgertest.T0

// State layout the tests read (market/state.go, ledger/bank.go).
const (
	smLeasePrefix  = "market/lease/"
	smProvPrefix   = "market/prov/"
	smDuePrefix    = "market/due/"
	smWindowPrefix = "market/window/"
	smPico         = 1_000_000_000_000
	smGiB          = 1 << 30
	smSTR          = money.UstrPerSTR
)

const smSeed = "stratus-market-sm"

func smKey(name string) *identity.Key { return ledgertest.Key(smSeed, name) }

// smOpts shapes a test chain; zero values give defaults.
type smOpts struct {
	consumers int     // funded consumer keys "consumer<i>"; default 3
	providers int     // funded provider keys "provider<i>"; default 4
	powers    []int64 // one validator each, operators "op<i>"; default 4 x 1
	balance   uint64  // each funded key; default 1,000,000 STR
	params    *market.Params
	refs      map[string]uint64
	// genesis registers these providers; Operator is filled from
	// provider<i> when zero.
	genesis  []market.GenesisProvider
	feeEpoch uint64 // ledger FeeEpochBlocks; default 1e9 (never)
}

// smChain is a ledgertest chain with the market module, whose check after
// every block also checks every lease's and provider's books.
type smChain struct {
	*ledgertest.Chain
	mp market.Params

	consumers []*identity.Key
	providers []*identity.Key
	creator   *identity.Key // an app creator, payee of splits
	stranger  *identity.Key // funded, but no part in anything

	// prev is every lease as the previous block left it, prevProv every
	// provider.
	prev     map[uint64]market.Lease
	prevProv map[identity.Address]market.Provider
}

func smDefaultParams() market.Params { return market.DefaultParams() }

func newSMChain(t testing.TB, o smOpts) *smChain {
	t.Helper()
	if o.consumers == 0 {
		o.consumers = 3
	}
	if o.providers == 0 {
		o.providers = 4
	}
	if o.powers == nil {
		o.powers = []int64{1, 1, 1, 1}
	}
	mp := smDefaultParams()
	if o.params != nil {
		mp = *o.params
	}
	lp := ledger.DefaultParams()
	lp.FeeEpochBlocks = 1_000_000_000
	if o.feeEpoch != 0 {
		lp.FeeEpochBlocks = o.feeEpoch
	}
	c := &smChain{mp: mp, creator: smKey("creator"), stranger: smKey("stranger")}
	var funded []string
	for i := range o.consumers {
		funded = append(funded, fmt.Sprintf("consumer%d", i))
		c.consumers = append(c.consumers, smKey(funded[len(funded)-1]))
	}
	for i := range o.providers {
		funded = append(funded, fmt.Sprintf("provider%d", i))
		c.providers = append(c.providers, smKey(funded[len(funded)-1]))
	}
	mg := market.Genesis{Params: mp, ReferencePrices: o.refs}
	if mg.ReferencePrices == nil {
		mg.ReferencePrices = market.DefaultReferencePrices()
	}
	for i, gp := range o.genesis {
		if gp.Operator.IsZero() {
			gp.Operator = c.providers[i].Address()
		}
		mg.Providers = append(mg.Providers, gp)
	}
	c.Chain = ledgertest.New(t, ledgertest.Options{
		ChainID: smChainID, Registry: ledger.DefaultRegistry(market.Module{}), Params: &lp, Seed: smSeed,
		Funded: append(funded, "creator", "stranger"), Balance: o.balance, Powers: o.powers, FundOperators: true,
		Genesis: map[string]any{"market": mg}, GenesisEvents: len(mg.Providers), HashTag: "sm-block", Gas: ledgertest.LateGas,
	})
	c.AddCheck(c.check)
	return c
}

// smProvider is a genesis provider offering one class at a fixed price.
func smProvider(class string, capacity, price uint64) market.GenesisProvider {
	return market.GenesisProvider{RegisterProvider: market.RegisterProvider{
		Endpoint: "https://provider.example", Region: "eu",
		Offers:     []market.Offer{{Class: class, Capacity: capacity, Pricing: market.Rule{Kind: "fixed", Price: price}}},
		Collateral: 1000 * smSTR,
	}}
}

// fork copies the chain, so one history can be continued two ways.
func (c *smChain) fork() *smChain {
	d := *c
	d.Chain = c.Chain.Fork()
	d.Checks = []ledgertest.Check{d.check}
	d.prev = maps.Clone(c.prev)
	d.prevProv = maps.Clone(c.prevProv)
	return &d
}

// open opens a lease in its own block and returns its id.
func (c *smChain) open(dt time.Duration, k *identity.Key, m *market.OpenLease) uint64 {
	c.T.Helper()
	res := c.OKAfter(dt, c.Tx(k, m))
	ev := ledgertest.Find(res[0].Events, "lease.opened")
	if ev == nil {
		c.T.Fatalf("open: no lease.opened event in %v", res[0].Events)
	}
	return ledgertest.AttrU64(c.T, *ev, "lease")
}

// --- reading state ---

func smLeaseKey(id uint64) string {
	return string(binary.BigEndian.AppendUint64([]byte(smLeasePrefix), id))
}

func (c *smChain) lease(id uint64) market.Lease {
	c.T.Helper()
	v, ok := c.St[smLeaseKey(id)]
	if !ok {
		c.T.Fatalf("no lease %d in state", id)
	}
	var l market.Lease
	if err := json.Unmarshal(v, &l); err != nil {
		c.T.Fatalf("lease %d: %v", id, err)
	}
	return l
}

func (c *smChain) provider(a identity.Address) (market.Provider, bool) {
	c.T.Helper()
	v, ok := c.St[smProvPrefix+string(a[:])]
	if !ok {
		return market.Provider{}, false
	}
	var p market.Provider
	if err := json.Unmarshal(v, &p); err != nil {
		c.T.Fatalf("provider %s: %v", a, err)
	}
	return p, true
}

func (c *smChain) mustProvider(a identity.Address) market.Provider {
	c.T.Helper()
	p, ok := c.provider(a)
	if !ok {
		c.T.Fatalf("provider %s is not in state", a)
	}
	return p
}

func smOfferOf(p market.Provider, class string) market.Offer {
	for _, o := range p.Offers {
		if o.Class == class {
			return o
		}
	}
	return market.Offer{}
}

func (c *smChain) window(id, index uint64) (market.Window, bool) {
	c.T.Helper()
	k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte(smWindowPrefix), id), index)
	v, ok := c.St[string(k)]
	if !ok {
		return market.Window{}, false
	}
	var w market.Window
	if err := json.Unmarshal(v, &w); err != nil {
		c.T.Fatalf("window %d/%d: %v", id, index, err)
	}
	return w, true
}

// ref is a class's reference price.
func (c *smChain) ref(class string) uint64 {
	c.T.Helper()
	v := c.St["market/ref/"+class+"/"]
	if len(v) != 8 {
		c.T.Fatalf("no %s reference price in state", class)
	}
	return binary.BigEndian.Uint64(v)
}

// refHist is a class's recorded reference price for an epoch.
func (c *smChain) refHist(class string, epoch int64) (uint64, bool) {
	v, ok := c.St[string(binary.BigEndian.AppendUint64([]byte("market/refhist/"+class+"/"), uint64(epoch)))]
	if !ok || len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// capIndex is the market's record of a class's capacity and use.
func (c *smChain) capIndex(class string) market.Capacity {
	c.T.Helper()
	var cp market.Capacity
	if v, ok := c.St["market/cap/"+class+"/"]; ok {
		if err := json.Unmarshal(v, &cp); err != nil {
			c.T.Fatal(err)
		}
	}
	return cp
}

func (c *smChain) epochMs() int64 { return c.mp.EpochSeconds * 1000 }

// epoch is the chain's current epoch.
func (c *smChain) epoch() int64 { return c.Now.UnixMilli() / c.epochMs() }

// epochStart is the time an epoch begins.
func (c *smChain) epochStart(e int64) time.Time { return time.UnixMilli(e * c.epochMs()).UTC() }

func (c *smChain) leases() []market.Lease {
	var out []market.Lease
	for k, v := range c.St {
		if strings.HasPrefix(k, smLeasePrefix) {
			var l market.Lease
			if err := json.Unmarshal(v, &l); err != nil {
				c.T.Fatalf("lease record %q: %v", k, err)
			}
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (c *smChain) allProviders() []market.Provider {
	var out []market.Provider
	for k, v := range c.St {
		if strings.HasPrefix(k, smProvPrefix) {
			var p market.Provider
			if err := json.Unmarshal(v, &p); err != nil {
				c.T.Fatalf("provider record %q: %v", k, err)
			}
			if string(p.Operator[:]) != k[len(smProvPrefix):] {
				c.T.Fatalf("provider record %q holds operator %s", k, p.Operator)
			}
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Operator[:], out[j].Operator[:]) < 0 })
	return out
}

// nonAudit is committed state without the audit log, which every block
// changes.
func (c *smChain) nonAudit() map[string]string {
	return c.State(func(k string) bool { return strings.HasPrefix(k, ledgertest.AuditPrefix) })
}

// --- events ---

// leaseEvent finds an event of type typ about lease id in the last block.
func (c *smChain) leaseEvent(typ string, id uint64) *ledger.Event {
	evs := c.Events()
	for i := range evs {
		if evs[i].Type == typ && evs[i].Get("lease") == strconv.FormatUint(id, 10) {
			return &evs[i]
		}
	}
	return nil
}

// --- arithmetic, written out independently with math/big ---

func smBig(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

// smMulDiv is floor(a*b/c).
func smMulDiv(a, b, c uint64) uint64 {
	x := new(big.Int).Mul(smBig(a), smBig(b))
	return x.Quo(x, smBig(c)).Uint64()
}

// smAccrued is what a lease at rate (nano-ustr/s) has paid after ms of
// activity: whole ustr, and the carried pico-ustr.
func smAccrued(rate uint64, ms int64) (ustr, pico uint64) {
	x := new(big.Int).Mul(smBig(rate), big.NewInt(ms))
	q, r := new(big.Int).QuoRem(x, big.NewInt(smPico), new(big.Int))
	return q.Uint64(), r.Uint64()
}

// smCeilMs is the least ms at which rate x ms reaches ustr whole ustr.
func smCeilMs(rate, ustr uint64) int64 {
	x := new(big.Int).Mul(smBig(ustr), big.NewInt(smPico))
	x.Add(x, smBig(rate-1))
	return x.Quo(x, smBig(rate)).Int64()
}

// smRate is price x quantity / unit, rounded down.
func smRate(price, quantity uint64, class string) uint64 {
	unit := uint64(1)
	if class == market.ClassStorage {
		unit = smGiB
	}
	return smMulDiv(price, quantity, unit)
}

// --- invariants ---

// check runs after genesis and every block: the books of every lease and
// provider.
func (c *smChain) check(t testing.TB, _ *ledgertest.Chain) {
	t.Helper()
	// The ledger's conservation is checked by the chain; the market's
	// buckets must be among those it checks.
	listed := map[string]bool{}
	for _, b := range c.M.Buckets() {
		listed[b] = true
	}
	for _, b := range []string{market.BucketEscrow, market.BucketCollateral, market.BucketPayouts} {
		if !listed[b] {
			t.Fatalf("Machine.Buckets() %v lacks the market's %q", c.M.Buckets(), b)
		}
	}

	// Leases.
	var escrow, pending uint64
	type use struct {
		open uint32
		used map[string]uint64
	}
	uses := map[identity.Address]*use{}
	dues := map[string]bool{}
	for k := range c.St {
		if strings.HasPrefix(k, smDuePrefix) {
			dues[k] = true
		}
	}
	leases := c.leases()
	for _, l := range leases {
		escrow += l.Escrow
		pending += l.Pending
		if l.Deposited != l.Escrow+l.Settled+l.Refunded {
			t.Fatalf("height %d lease %d: deposited %d != escrow %d + settled %d + refunded %d", c.Height, l.ID, l.Deposited, l.Escrow, l.Settled, l.Refunded)
		}
		var paid, bps uint64
		for _, p := range l.Split {
			paid += p.Paid
			bps += p.Bps
		}
		if l.Settled != paid+l.Pending {
			t.Fatalf("height %d lease %d: settled %d != paid %d + pending %d", c.Height, l.ID, l.Settled, paid, l.Pending)
		}
		if bps != 10_000 {
			t.Fatalf("height %d lease %d: split adds up to %d bps", c.Height, l.ID, bps)
		}
		if l.Rate != smRate(l.Price, l.Quantity, l.Class) {
			t.Fatalf("height %d lease %d: rate %d, price %d x %d %s gives %d", c.Height, l.ID, l.Rate, l.Price, l.Quantity, l.Class, smRate(l.Price, l.Quantity, l.Class))
		}
		if l.AccruedPico >= smPico {
			t.Fatalf("height %d lease %d: carried %d pico, a whole ustr or more", c.Height, l.ID, l.AccruedPico)
		}
		dueKey := string(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte(smDuePrefix), uint64(l.DueMs)), l.ID))
		// Each payee's cumulative floor; at close the first takes the rest.
		for i, p := range l.Split {
			want := smMulDiv(l.Settled, p.Bps, 10_000)
			if p.Paid != want && !(i == 0 && l.State == market.LeaseClosed) {
				t.Fatalf("height %d lease %d payee %s: paid %d, want floor(%d x %d / 10000) = %d", c.Height, l.ID, p.To, p.Paid, l.Settled, p.Bps, want)
			}
		}
		switch l.State {
		case market.LeasePending:
			if l.Settled != 0 || l.Refunded != 0 || l.AccruedPico != 0 {
				t.Fatalf("height %d pending lease %d has moved money: %+v", c.Height, l.ID, l)
			}
			if l.DueMs != l.OpenedMs+c.mp.AckTimeoutSeconds*1000 || !dues[dueKey] {
				t.Fatalf("height %d pending lease %d: due at %d (queued %v), want its ack timeout %d", c.Height, l.ID, l.DueMs, dues[dueKey], l.OpenedMs+c.mp.AckTimeoutSeconds*1000)
			}
			delete(dues, dueKey)
		case market.LeaseActive, market.LeaseGrace:
			// Nothing is rounded away: whole ustr paid plus the carry are
			// exactly rate x active time up to the last settlement (a
			// floating lease's rate changes; see the per-block check below).
			if !l.Float {
				want := new(big.Int).Mul(smBig(l.Rate), big.NewInt(l.SettledMs-l.ActivatedMs))
				if got := smPaidPico(l); got.Cmp(want) != 0 {
					t.Fatalf("height %d lease %d: settled %d ustr + %d pico, but rate %d x %d ms = %v pico", c.Height, l.ID, l.Settled, l.AccruedPico, l.Rate, l.SettledMs-l.ActivatedMs, want)
				}
			}
			if l.Escrow == 0 || l.Pending >= uint64(len(l.Split)) || l.SettledMs > c.Now.UnixMilli() {
				t.Fatalf("height %d open lease %d: escrow %d, pending %d, settled at %d (now %d)", c.Height, l.ID, l.Escrow, l.Pending, l.SettledMs, c.Now.UnixMilli())
			}
			// No due entry only when the escrow outlasts 64 bits of
			// milliseconds and there is no SLA window to judge.
			// A due entry in the past is one EndBlock carried to the next
			// block, having reached max_judgements_per_block.
			overdue := l.DueMs <= c.Now.UnixMilli() && ledgertest.Find(c.EndEvents, market.EventDueCarried) == nil
			if l.DueMs != 0 && (overdue || !dues[dueKey]) || l.DueMs == 0 && l.SLA.TargetBps > 0 {
				t.Fatalf("height %d open lease %d: due at %d (queued %v), now %d", c.Height, l.ID, l.DueMs, dues[dueKey], c.Now.UnixMilli())
			}
			if l.State == market.LeaseGrace && !l.Float && l.Escrow >= smMulDiv(l.Rate, uint64(c.mp.GraceSeconds), 1e9) {
				// Grace is left only by a top-up; the escrow only shrinks
				// otherwise, so a lease in grace covers less than the period.
				t.Fatalf("height %d lease %d in grace with escrow %d covering the grace period", c.Height, l.ID, l.Escrow)
			}
			delete(dues, dueKey)
		case market.LeaseClosed:
			if l.Escrow != 0 || l.Pending != 0 || l.DueMs != 0 || l.CloseReason == "" || l.AccruedPico != 0 {
				t.Fatalf("height %d closed lease %d: escrow %d pending %d due %d reason %q carry %d", c.Height, l.ID, l.Escrow, l.Pending, l.DueMs, l.CloseReason, l.AccruedPico)
			}
			// Every close of an active lease settles it to the moment it
			// closes (the provider is paid up to then), whatever the reason.
			if l.ActivatedMs != 0 && l.SettledMs != l.ClosedMs {
				t.Fatalf("height %d lease %d closed (%s) at %d but settled to %d", c.Height, l.ID, l.CloseReason, l.ClosedMs, l.SettledMs)
			}
			switch l.CloseReason {
			case "unacknowledged":
				if l.Settled != 0 || l.Refunded != l.Deposited || l.ActivatedMs != 0 {
					t.Fatalf("height %d unacknowledged lease %d: %+v", c.Height, l.ID, l)
				}
			case "escrow":
				// All of it was paid, and (checked per block below) no more
				// than accrued.
				if l.Settled != l.Deposited || l.Refunded != 0 {
					t.Fatalf("height %d lease %d closed for escrow: %+v", c.Height, l.ID, l)
				}
			}
		default:
			t.Fatalf("height %d lease %d in state %q", c.Height, l.ID, l.State)
		}
		c.checkAccrual(l)
		if l.State != market.LeaseClosed {
			u := uses[l.Provider]
			if u == nil {
				u = &use{used: map[string]uint64{}}
				uses[l.Provider] = u
			}
			u.open++
			u.used[l.Class] += l.Quantity
		}
	}
	// A lease leaves state only when it is pruned: closed, the retention
	// period after its close.
	present := map[uint64]bool{}
	for _, l := range leases {
		present[l.ID] = true
	}
	for id, p := range c.prev {
		if !present[id] && (p.State != market.LeaseClosed || p.ClosedMs+c.mp.RetentionSeconds*1000 > c.Now.UnixMilli()) {
			t.Fatalf("height %d: lease %d (%s, closed at %d) left state before its retention ran out", c.Height, id, p.State, p.ClosedMs)
		}
	}
	c.checkJudged(leases)
	c.prev = make(map[uint64]market.Lease, len(leases))
	for _, l := range leases {
		c.prev[l.ID] = l
	}
	if len(dues) != 0 {
		t.Fatalf("height %d: due entries for no open lease: %v", c.Height, slicesOfKeys(dues))
	}
	if b := c.Bucket(market.BucketEscrow); b != escrow {
		t.Fatalf("height %d: leases hold %d in escrow, the bucket %d", c.Height, escrow, b)
	}
	if b := c.Bucket(market.BucketPayouts); b != pending {
		t.Fatalf("height %d: leases have %d pending, the payouts bucket %d", c.Height, pending, b)
	}

	// Providers.
	var collateral uint64
	capIdx := map[string]market.Capacity{}
	for _, p := range c.allProviders() {
		collateral += p.Collateral
		u := uses[p.Operator]
		delete(uses, p.Operator)
		if u == nil {
			u = &use{used: map[string]uint64{}}
		}
		if p.OpenLeases != u.open {
			t.Fatalf("height %d provider %s: open_leases %d, but %d leases are open", c.Height, p.Operator, p.OpenLeases, u.open)
		}
		for _, o := range p.Offers {
			if o.Used != u.used[o.Class] || o.Used > o.Capacity {
				t.Fatalf("height %d provider %s %s: used %d of %d, but open leases hold %d", c.Height, p.Operator, o.Class, o.Used, o.Capacity, u.used[o.Class])
			}
			if p.State == market.ProviderActive {
				ci := capIdx[o.Class]
				ci.Capacity += o.Capacity
				ci.Used += o.Used
				capIdx[o.Class] = ci
			}
		}
		if p.Score > 10_000 {
			t.Fatalf("height %d provider %s: score %d", c.Height, p.Operator, p.Score)
		}
	}
	if len(uses) != 0 {
		t.Fatalf("height %d: open leases of unknown providers: %v", c.Height, uses)
	}
	// The offer index (market/index/<class>/<rule><bound><operator>) has a
	// key for each offer of each active provider, and no other.
	index := map[string]bool{}
	for k := range c.St {
		if strings.HasPrefix(k, "market/index/") {
			index[k] = true
		}
	}
	for _, p := range c.allProviders() {
		if p.State != market.ProviderActive {
			continue
		}
		for _, o := range p.Offers {
			bound := o.Pricing.Price
			if o.Pricing.Kind == "reference" {
				bound = o.Pricing.MultiplierBps
			}
			k := binary.BigEndian.AppendUint64([]byte("market/index/"+o.Class+"/"+o.Pricing.Kind[:1]), bound)
			k = append(k, p.Operator[:]...)
			if !index[string(k)] {
				t.Fatalf("height %d: provider %s's %s offer is not in the offer index", c.Height, p.Operator, o.Class)
			}
			delete(index, string(k))
		}
	}
	if len(index) != 0 {
		t.Fatalf("height %d: offer index keys for no active offer: %v", c.Height, slicesOfKeys(index))
	}
	if b := c.Bucket(market.BucketCollateral); b != collateral {
		t.Fatalf("height %d: providers hold %d collateral, the bucket %d", c.Height, collateral, b)
	}
	// market/cap/<class>/ is the capacity and use of the active providers
	// (a retiring provider takes both out; see TestSMCapacityIndexAfterRetire).
	for _, class := range market.Classes {
		if got := c.capIndex(class); got != capIdx[class] {
			t.Fatalf("height %d: market/cap/%s/ = %+v, but the active providers offer %+v", c.Height, class, got, capIdx[class])
		}
	}
}

func slicesOfKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%x", k))
	}
	sort.Strings(out)
	return out
}

func smPaidPico(l market.Lease) *big.Int {
	return new(big.Int).Add(new(big.Int).Mul(smBig(l.Settled), big.NewInt(smPico)), smBig(l.AccruedPico))
}

// checkAccrual checks a lease's settlement since the previous block: what
// it paid (whole ustr and carry) grew by exactly the rate it had then times
// the time settled, or by less only when the escrow ran out. A lease that
// closed drops its carry (a fraction of a ustr that can no longer be
// paid): its whole ustr are exactly the whole ustr that accrued. Within a
// block a lease is settled in pieces (to its SLA windows' ends, then to the
// block's time), which add up to the same; and a floating lease is re-rated
// only after, so the previous block's rate paid for the whole interval,
// whatever rate it has now.
func (c *smChain) checkAccrual(l market.Lease) {
	t := c.T
	t.Helper()
	p, ok := c.prev[l.ID]
	if !ok || p.State == market.LeasePending {
		if l.ActivatedMs != 0 && (l.Settled != 0 || l.AccruedPico != 0 || l.SettledMs != l.ActivatedMs) {
			t.Fatalf("height %d lease %d, acknowledged in this block, has paid %d (+%d pico) by %d", c.Height, l.ID, l.Settled, l.AccruedPico, l.SettledMs)
		}
		return
	}
	if p.State == market.LeaseClosed {
		if l.Settled != p.Settled || l.Refunded != p.Refunded || l.SLARefunded != p.SLARefunded || l.AccruedPico != p.AccruedPico || l.State != market.LeaseClosed {
			t.Fatalf("height %d closed lease %d changed: %+v -> %+v", c.Height, l.ID, p, l)
		}
		return
	}
	if l.SettledMs < p.SettledMs {
		t.Fatalf("height %d lease %d settled at %d, before %d", c.Height, l.ID, l.SettledMs, p.SettledMs)
	}
	want := new(big.Int).Add(smPaidPico(p), new(big.Int).Mul(smBig(p.Rate), big.NewInt(l.SettledMs-p.SettledMs)))
	got := smPaidPico(l)
	if l.State == market.LeaseClosed && l.Settled == l.Deposited && l.Refunded == 0 && (l.CloseReason == "escrow" || l.CloseReason == "sla") {
		// Whatever accrued beyond the escrow is forgiven: the lease paid
		// all it had, and no more than accrued. (A lease closed for "sla"
		// is first settled to now, and after a chain's long stop that may
		// take all its escrow too.)
		if new(big.Int).Mul(smBig(l.Settled), big.NewInt(smPico)).Cmp(want) > 0 {
			t.Fatalf("height %d lease %d paid %d, more than the %v pico accrued", c.Height, l.ID, l.Settled, want)
		}
		return
	}
	if l.State == market.LeaseClosed {
		if whole := new(big.Int).Quo(want, big.NewInt(smPico)); l.AccruedPico != 0 || !whole.IsUint64() || l.Settled != whole.Uint64() {
			t.Fatalf("height %d lease %d closed having paid %d ustr + %d pico, want floor(%v / 10^12) = %v and no carry (%v before, rate %d for %d ms)",
				c.Height, l.ID, l.Settled, l.AccruedPico, want, whole, smPaidPico(p), p.Rate, l.SettledMs-p.SettledMs)
		}
		return
	}
	if got.Cmp(want) != 0 {
		t.Fatalf("height %d lease %d: paid %v pico, want %v (%v before, rate %d for %d ms)", c.Height, l.ID, got, want, smPaidPico(p), p.Rate, l.SettledMs-p.SettledMs)
	}
}

// checkJudged checks the SLA books of the windows judged in the last block
// against the leases and providers: each new window's refund and shortfall
// are the schedule's share of its charges, and they add up to what the
// lease's sla_refunded and sla_shortfall grew by; each provider's breaches,
// shortfall and collateral moved by exactly its leases' new windows (and
// the collateral it added).
func (c *smChain) checkJudged(leases []market.Lease) {
	t := c.T
	t.Helper()
	type delta struct{ refund, shortfall, breaches uint64 }
	byProv := map[identity.Address]*delta{}
	// Windows judged in EndBlock, after every transaction of the block:
	// their availability must be what the reports in state say.
	inEnd := map[[2]uint64]bool{}
	for _, ev := range c.EndEvents {
		if ev.Type == market.EventSLAJudged {
			inEnd[[2]uint64{ledgertest.AttrU64(t, ev, "lease"), ledgertest.AttrU64(t, ev, "window")}] = true
		}
	}
	for _, l := range leases {
		p := c.prev[l.ID]
		from := uint64(0)
		if _, ok := c.prev[l.ID]; ok {
			from = p.WindowCount
		}
		var d delta
		for i := from; i < l.WindowCount; i++ {
			w, ok := c.window(l.ID, i)
			if !ok && l.WindowCount-from <= 1440 {
				t.Fatalf("height %d lease %d: window %d judged in this block is not in state", c.Height, l.ID, i)
			}
			if !ok {
				continue // skipped unjudged after a long stop (maxJudgedWindows)
			}
			if w.Breach != (w.Quorum && w.AvailabilityBps < l.SLA.TargetBps) || w.EndMs <= w.StartMs && !w.ProRata || w.EndMs > c.Now.UnixMilli() {
				t.Fatalf("height %d lease %d: window %+v (target %d)", c.Height, l.ID, w, l.SLA.TargetBps)
			}
			if inEnd[[2]uint64{l.ID, i}] {
				end := w.EndMs / c.epochMs()
				if w.ProRata {
					end = c.Now.UnixMilli()/c.epochMs() + 1
				}
				if avail, quorum := c.availability(l.Provider, w.StartMs/c.epochMs(), end); avail != w.AvailabilityBps || quorum != w.Quorum {
					t.Fatalf("height %d lease %d: window %+v, but the reports in state for epochs [%d, %d) give availability %d, quorum %v",
						c.Height, l.ID, w, w.StartMs/c.epochMs(), end, avail, quorum)
				}
			}
			due := uint64(0)
			if w.Breach {
				points := (l.SLA.TargetBps - w.AvailabilityBps + 99) / 100
				due = smMulDiv(w.Charges, min(points*c.mp.RefundBpsPerPoint, 10_000), 10_000)
				d.breaches++
			}
			if w.Refund+w.Shortfall != due {
				t.Fatalf("height %d lease %d: window %+v refunds %d + %d short, the schedule says %d", c.Height, l.ID, w, w.Refund, w.Shortfall, due)
			}
			if w.ProRata && (l.State != market.LeaseClosed || w.EndMs != l.ClosedMs || i != l.WindowCount-1) {
				t.Fatalf("height %d lease %d: pro-rata window %+v of a lease %s at %d", c.Height, l.ID, w, l.State, l.ClosedMs)
			}
			d.refund += w.Refund
			d.shortfall += w.Shortfall
		}
		if l.SLARefunded-p.SLARefunded != d.refund || l.SLAShortfall-p.SLAShortfall != d.shortfall {
			t.Fatalf("height %d lease %d: sla_refunded %d -> %d and sla_shortfall %d -> %d, but its new windows refund %d and fall short %d",
				c.Height, l.ID, p.SLARefunded, l.SLARefunded, p.SLAShortfall, l.SLAShortfall, d.refund, d.shortfall)
		}
		// A lease with an SLA that closed while it ran had its open window
		// judged, pro rata, at the close.
		if l.State == market.LeaseClosed && p.State != market.LeaseClosed && (p.State == market.LeaseActive || p.State == market.LeaseGrace) &&
			l.SLA.TargetBps > 0 && l.WindowStartMs != l.ClosedMs {
			t.Fatalf("height %d lease %d closed (%s) at %d with its window from %d unjudged", c.Height, l.ID, l.CloseReason, l.ClosedMs, l.WindowStartMs)
		}
		pd := byProv[l.Provider]
		if pd == nil {
			pd = &delta{}
			byProv[l.Provider] = pd
		}
		pd.refund += d.refund
		pd.shortfall += d.shortfall
		pd.breaches += d.breaches
	}
	added := map[identity.Address]uint64{}
	for _, ev := range c.Events() {
		switch ev.Type {
		case "provider.registered":
			a, _ := identity.ParseDID(ev.Get("provider"))
			added[a] += ledgertest.AttrU64(t, ev, "collateral")
		case "provider.updated":
			a, _ := identity.ParseDID(ev.Get("provider"))
			added[a] += ledgertest.AttrU64(t, ev, "add_collateral")
		}
	}
	provs := c.allProviders()
	for _, p := range provs {
		if c.Height == 0 {
			break // genesis: no events to read what was added
		}
		d := byProv[p.Operator]
		if d == nil {
			d = &delta{}
		}
		old := c.prevProv[p.Operator] // zero if registered in this block
		if p.Breaches-old.Breaches != d.breaches || p.RefundShortfall-old.RefundShortfall != d.shortfall ||
			p.Collateral+d.refund != old.Collateral+added[p.Operator] {
			t.Fatalf("height %d provider %s: breaches %d -> %d, shortfall %d -> %d, collateral %d -> %d (+%d added); its leases' new windows: %+v",
				c.Height, p.Operator, old.Breaches, p.Breaches, old.RefundShortfall, p.RefundShortfall, old.Collateral, p.Collateral, added[p.Operator], *d)
		}
	}
	c.prevProv = make(map[identity.Address]market.Provider, len(provs))
	for _, p := range provs {
		c.prevProv[p.Operator] = p
	}
}

// availability is the SLA rule computed the long way, from every epoch's
// probe counts in state: each validator's successful probes over its
// probes for epochs [from, to), then the highest value that validators
// with more than two thirds of the power report at least.
func (c *smChain) availability(prov identity.Address, from, to int64) (uint64, bool) {
	type vote struct {
		avail uint64
		power int64
	}
	var votes []vote
	var total int64
	for i, op := range c.Ops {
		total += c.Powers[i]
		var ok, all uint64
		for e := from; e < to; e++ {
			k := append(binary.BigEndian.AppendUint64([]byte("market/probe/"), uint64(e)), prov[:]...)
			a := op.Address()
			if v := c.St[string(append(k, a[:]...))]; len(v) == 8 {
				ok += uint64(binary.BigEndian.Uint32(v))
				all += uint64(binary.BigEndian.Uint32(v[4:]))
			}
		}
		if all > 0 {
			votes = append(votes, vote{ok * 10_000 / all, c.Powers[i]})
		}
	}
	sort.SliceStable(votes, func(i, j int) bool { return votes[i].avail > votes[j].avail })
	var acc int64
	for _, v := range votes {
		acc += v.power
		if 3*acc > 2*total {
			return v.avail, true
		}
	}
	return 0, false
}
