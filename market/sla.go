package market

import (
	"encoding/binary"
	"sort"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Judging a window must not cost in proportion to its length: a 30-day
// window of 60-second epochs is 43,200 epochs. So each validator's reports
// on a provider are kept as a running tally (every probe it has reported,
// and its last few epochs one by one), and each lease keeps, from when its
// window began, the tallies as they were then. A window's counts for a
// validator are the tally at its end less the tally at its start: a window
// reads O(validators) records whatever its length.

// tallyRecent is how many of a validator's latest reported epochs its tally
// keeps one by one. Reports are taken for the current and the previous
// epoch only, so those two are always among them; the others let a window
// be judged a couple of epochs late without reading per-epoch records.
const tallyRecent = 4

// epochCount is one validator's counts for one epoch.
type epochCount struct {
	epoch     int64
	ok, total uint32
}

// tally is one validator's reports on one provider: the sums over every
// epoch it reported, and its latest reported epochs, newest first.
type tally struct {
	ok, total uint64
	recent    []epochCount
}

func (t *tally) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, t.ok)
	b = binary.BigEndian.AppendUint64(b, t.total)
	for _, r := range t.recent {
		b = binary.BigEndian.AppendUint64(b, uint64(r.epoch))
		b = binary.BigEndian.AppendUint32(b, r.ok)
		b = binary.BigEndian.AppendUint32(b, r.total)
	}
	return b
}

func decodeTally(b []byte) (tally, bool) {
	var t tally
	if len(b) < 16 || (len(b)-16)%16 != 0 || (len(b)-16)/16 > tallyRecent {
		return t, false
	}
	t.ok, t.total = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	for b = b[16:]; len(b) > 0; b = b[16:] {
		t.recent = append(t.recent, epochCount{epoch: int64(binary.BigEndian.Uint64(b)),
			ok: binary.BigEndian.Uint32(b[8:]), total: binary.BigEndian.Uint32(b[12:])})
	}
	return t, true
}

func probeKey(epoch int64, provider, validator identity.Address) []byte {
	return u64key(prefProbe, epoch, provider, validator)
}

func (s *store) tally(provider, validator identity.Address) (tally, error) {
	b := s.kv.Get(u64key(prefTally, provider, validator))
	if b == nil {
		return tally{}, nil
	}
	t, ok := decodeTally(b)
	if !ok {
		return t, errs.E(errs.Internal, "market: corrupt probe tally for %s by %s", provider, validator)
	}
	return t, nil
}

// countsBefore is what the validator had reported of the provider for the
// epochs before x, from its tally t: the sums less the recent epochs at or
// after x. Only when x is more than a few reported epochs back (a window
// judged late) does it read the per-epoch records between.
func (s *store) countsBefore(provider, validator identity.Address, t tally, x int64) (ok, total uint64) {
	ok, total = t.ok, t.total
	for _, r := range t.recent {
		if r.epoch >= x {
			ok -= uint64(r.ok)
			total -= uint64(r.total)
		}
	}
	if n := len(t.recent); n == tallyRecent && t.recent[n-1].epoch > x {
		for e := x; e < t.recent[n-1].epoch; e++ {
			if b := s.kv.Get(probeKey(e, provider, validator)); len(b) == 8 {
				ok -= uint64(binary.BigEndian.Uint32(b))
				total -= uint64(binary.BigEndian.Uint32(b[4:]))
			}
		}
	}
	return ok, total
}

// probeReport records a validator's probe counts for an epoch. Only the
// operator of a validator may report; a report must be for the current or
// the previous epoch, and a later report for an epoch must count more
// probes than the one it replaces, so a duplicate changes nothing.
func probeReport(ctx *ledger.Context, signer identity.Address, m *ProbeReport) error {
	s := newStore(ctx)
	isValidator := false
	for _, v := range ctx.Validators() {
		if v.Operator == signer {
			isValidator = true
		}
	}
	if !isValidator {
		return errs.E(errs.Unauthorized, "%s is not a validator's operator: only validators report probes", signer)
	}
	cur := s.nowMs() / (s.params().EpochSeconds * msPerSecond)
	if m.Epoch != cur && m.Epoch != cur-1 {
		return errs.E(errs.Invalid, "probe report for epoch %d, but the chain is in epoch %d: report the current or previous epoch", m.Epoch, cur)
	}
	for _, r := range m.Results {
		if _, err := s.provider(r.Provider); err != nil {
			return err
		}
		t, err := s.tally(r.Provider, signer)
		if err != nil {
			return err
		}
		// The two epochs a report may be for are the newest two a tally
		// can hold, so an earlier report for this one is among them.
		i := 0
		for i < len(t.recent) && t.recent[i].epoch > m.Epoch {
			i++
		}
		if i < len(t.recent) && t.recent[i].epoch == m.Epoch {
			old := t.recent[i]
			if old.total >= r.Total {
				return errs.E(errs.Conflict, "a report for %s in epoch %d already counts %d probes: a later one must count more", r.Provider, m.Epoch, old.total)
			}
			t.ok, t.total = t.ok-uint64(old.ok), t.total-uint64(old.total)
			t.recent[i] = epochCount{epoch: m.Epoch, ok: r.OK, total: r.Total}
		} else {
			t.recent = append(t.recent[:i], append([]epochCount{{epoch: m.Epoch, ok: r.OK, total: r.Total}}, t.recent[i:]...)...)
			if len(t.recent) > tallyRecent {
				t.recent = t.recent[:tallyRecent]
			}
		}
		t.ok += uint64(r.OK)
		t.total += uint64(r.Total)
		s.kv.Set(u64key(prefTally, r.Provider, signer), t.encode())
		v := binary.BigEndian.AppendUint32(nil, r.OK)
		s.kv.Set(probeKey(m.Epoch, r.Provider, signer), binary.BigEndian.AppendUint32(v, r.Total))
	}
	return nil
}

// windowBase is what the validators had reported of a lease's provider when
// the lease's current window began: for each validator, its counts for the
// epochs before Epoch. Epoch is the window's first epoch, or the one before
// it when that one could still take reports (a lease acknowledged in the
// epoch's first moments); the counts of the epochs from Epoch to the
// window's start are then taken off when the window is judged.
type windowBase struct {
	Epoch   int64       `json:"epoch"`
	Tallies []baseTally `json:"tallies"`
}

type baseTally struct {
	Validator identity.Address `json:"validator"`
	OK        uint64           `json:"ok,string"`
	Total     uint64           `json:"total,string"`
}

// startWindow records the base of the lease's window that begins at
// l.WindowStartMs.
func (s *store) startWindow(l *Lease) error {
	ep := s.params().EpochSeconds * msPerSecond
	cur := s.nowMs() / ep
	// Reports for the epoch before the current one are still taken, so the
	// counts before it are the latest that are final.
	base := windowBase{Epoch: min(l.WindowStartMs/ep, cur-1)}
	for _, v := range s.ctx.Validators() {
		t, err := s.tally(l.Provider, v.Operator)
		if err != nil {
			return err
		}
		ok, total := s.countsBefore(l.Provider, v.Operator, t, base.Epoch)
		base.Tallies = append(base.Tallies, baseTally{Validator: v.Operator, OK: ok, Total: total})
	}
	s.putJSON(u64key(prefWinBase, l.ID), base)
	return nil
}

// availability is what the validators saw of a lease's provider over its
// current window, from its start to the epoch endEpoch (exclusive): each
// validator's share of successful probes, and then the highest value that
// validators holding more than two thirds of the voting power report at
// least. Validators holding less than a third can neither lift it above
// every honest report nor push it below. Without reports from more than two
// thirds of the power there is no quorum.
func (s *store) availability(l *Lease, endEpoch int64) (uint64, bool, error) {
	ep := s.params().EpochSeconds * msPerSecond
	start := l.WindowStartMs / ep
	var base windowBase
	ok, err := s.getJSON(u64key(prefWinBase, l.ID), &base)
	if err != nil || !ok {
		return 0, false, err
	}
	type vote struct {
		avail uint64
		power int64
	}
	var votes []vote
	var total int64
	for _, v := range s.ctx.Validators() {
		total += v.Power
		t, err := s.tally(l.Provider, v.Operator)
		if err != nil {
			return 0, false, err
		}
		okN, all := s.countsBefore(l.Provider, v.Operator, t, endEpoch)
		for _, b := range base.Tallies {
			if b.Validator == v.Operator {
				okN, all = okN-min(okN, b.OK), all-min(all, b.Total)
			}
		}
		for e := base.Epoch; e < start; e++ {
			if b := s.kv.Get(probeKey(e, l.Provider, v.Operator)); len(b) == 8 {
				okN -= min(okN, uint64(binary.BigEndian.Uint32(b)))
				all -= min(all, uint64(binary.BigEndian.Uint32(b[4:])))
			}
		}
		if all > 0 {
			votes = append(votes, vote{avail: okN * 10_000 / all, power: v.Power})
		}
	}
	sort.SliceStable(votes, func(i, j int) bool { return votes[i].avail > votes[j].avail })
	var acc int64
	for _, v := range votes {
		acc += v.power
		if 3*acc > 2*total {
			return v.avail, true, nil
		}
	}
	return 0, false, nil
}

// judge measures the lease's current window from its start to endMs on
// the validators' reports, and on a breach refunds the consumer from the
// provider's collateral: the schedule's share of the window's charges,
// which are what the lease paid over the part of the window judged. A
// window cut short by a close (proRata) is judged the same way on what it
// ran and paid. It records the window and counts the verdict, but does not
// move the lease to its next window.
func (s *store) judge(l *Lease, endMs int64, proRata bool) (*Window, error) {
	p := s.params()
	ep := p.EpochSeconds * msPerSecond
	w := &Window{Index: l.WindowCount, StartMs: l.WindowStartMs, EndMs: endMs, Charges: l.WindowCharges, ProRata: proRata}
	endEpoch := endMs / ep
	if proRata {
		// Every report so far, the current epoch's included.
		endEpoch = s.nowMs()/ep + 1
	}
	var err error
	if w.AvailabilityBps, w.Quorum, err = s.availability(l, endEpoch); err != nil {
		return nil, err
	}
	s.judged++
	prov, err := s.provider(l.Provider)
	if err != nil {
		return nil, err
	}
	if w.Quorum && w.AvailabilityBps < l.SLA.TargetBps {
		w.Breach = true
		points := (l.SLA.TargetBps - w.AvailabilityBps + 99) / 100
		share := min(points*p.RefundBpsPerPoint, 10_000)
		due, _, err := money.MulDiv(w.Charges, share, 10_000)
		if err != nil {
			return nil, err
		}
		refund := min(due, prov.Collateral)
		if refund > 0 {
			if err := s.ctx.Credit(BucketCollateral, l.Consumer, refund); err != nil {
				return nil, err
			}
			prov.Collateral -= refund
			l.SLARefunded += refund
		}
		w.Refund, w.Shortfall = refund, due-refund
		l.SLAShortfall += w.Shortfall
		prov.RefundShortfall += w.Shortfall
		l.ConsecutiveBreaches++
		prov.Breaches++
		prov.Score -= min(prov.Score, 1000)
		Events.SLABreach.Emit(s.ctx, ledger.FormatInt(l.ID), l.Provider.String(), ledger.FormatInt(w.AvailabilityBps),
			ledger.FormatInt(l.SLA.TargetBps), ledger.FormatInt(refund), ledger.FormatInt(w.Shortfall), boolAttr(proRata))
	} else if w.Quorum {
		l.ConsecutiveBreaches = 0
		prov.Score = min(prov.Score+100, 10_000)
	}
	s.putProvider(prov)
	s.putJSON(u64key(prefWindow, l.ID, w.Index), w)
	s.queuePrune(s.nowMs()+p.RetentionSeconds*msPerSecond, pruneWindow, l.ID, w.Index)
	Events.SLAJudged.Emit(s.ctx, ledger.FormatInt(l.ID), ledger.FormatInt(w.Index), ledger.FormatInt(uint64(w.StartMs)),
		ledger.FormatInt(uint64(w.EndMs)), ledger.FormatInt(w.AvailabilityBps), boolAttr(w.Quorum),
		ledger.FormatInt(w.Charges), boolAttr(w.Breach), ledger.FormatInt(w.Refund), boolAttr(proRata))
	return w, nil
}

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// endWindow closes a lease's current SLA window: it judges it, moves the
// lease to the next window, and closes the lease for migration after too
// many breaches in a row.
func (s *store) endWindow(l *Lease) error {
	p := s.params()
	end := l.WindowStartMs + l.SLA.WindowSeconds*msPerSecond
	if _, err := s.judge(l, end, false); err != nil {
		return err
	}
	l.WindowCount++
	l.WindowStartMs = end
	l.WindowCharges, l.LateCharges = l.LateCharges, 0
	if l.ConsecutiveBreaches >= p.MaxConsecutiveBreaches {
		// The provider is paid up to now, then the lease ends.
		if err := s.settleTo(l, s.nowMs()); err != nil {
			return err
		}
		if err := s.close(l, "sla"); err != nil {
			return err
		}
		Events.LeaseMigrate.Emit(s.ctx, ledger.FormatInt(l.ID), l.Provider.String(), l.Consumer.String(), l.Class, ledger.FormatInt(l.Quantity))
		return nil
	}
	return s.startWindow(l)
}

// judgeOnClose judges what a closing lease has left unjudged: every SLA
// window that has ended, and then the open one pro rata, on the reports in
// so far. So a provider cannot escape a refund by closing the lease before
// its window is judged. The lease has been settled up to now.
func (s *store) judgeOnClose(l *Lease) error {
	if l.SLA.TargetBps == 0 || (l.State != LeaseActive && l.State != LeaseGrace) {
		return nil
	}
	now := s.nowMs()
	win := l.SLA.WindowSeconds * msPerSecond
	for judged := 0; l.WindowStartMs+win <= now && judged < maxJudgedWindows; judged++ {
		end := l.WindowStartMs + win
		if _, err := s.judge(l, end, false); err != nil {
			return err
		}
		l.WindowCount++
		l.WindowStartMs = end
		l.WindowCharges, l.LateCharges = l.LateCharges, 0
		if err := s.startWindow(l); err != nil {
			return err
		}
	}
	if l.WindowStartMs < now && l.WindowStartMs+win > now {
		if _, err := s.judge(l, now, true); err != nil {
			return err
		}
		l.WindowCount++
		l.WindowStartMs = now
		l.WindowCharges, l.LateCharges = 0, 0
	}
	return nil
}

// Event kinds the SLA emits.
const (
	// EventSLAJudged is emitted for every judged window, with its figures
	// (lease, window, start_ms, end_ms, availability_bps, quorum, charges,
	// breach, refund, pro_rata), so the audit log keeps them after the
	// window's record is pruned from state.
	EventSLAJudged = "sla.judged"
	// EventSLABreach is emitted for a window that missed its target
	// (lease, provider, availability_bps, target_bps, refund, shortfall,
	// pro_rata). shortfall is the part of the refund due that the
	// provider's collateral could not pay.
	EventSLABreach = "sla.breach"
)
