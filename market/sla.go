package market

import (
	"encoding/binary"
	"sort"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

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
		key := u64key(prefProbe, r.Provider, m.Epoch, signer)
		if old := s.kv.Get(key); len(old) == 8 && binary.BigEndian.Uint32(old[4:]) >= r.Total {
			return errs.E(errs.Conflict, "a report for %s in epoch %d already counts %d probes: a later one must count more", r.Provider, m.Epoch, binary.BigEndian.Uint32(old[4:]))
		}
		v := binary.BigEndian.AppendUint32(nil, r.OK)
		s.kv.Set(key, binary.BigEndian.AppendUint32(v, r.Total))
	}
	return nil
}

// availability is what the validators saw of a provider over [from, to):
// each validator's share of successful probes, and then the highest value
// that validators holding more than two thirds of the voting power report
// at least. Validators holding less than a third can neither lift it above
// every honest report nor push it below. Without reports from more than two
// thirds of the power there is no quorum.
func (s *store) availability(provider identity.Address, fromMs, toMs int64) (uint64, bool) {
	ep := s.params().EpochSeconds * msPerSecond
	type vote struct {
		avail uint64
		power int64
	}
	var votes []vote
	var total int64
	for _, v := range s.ctx.Validators() {
		total += v.Power
		var ok, all uint64
		for e := fromMs / ep; e < toMs/ep; e++ {
			b := s.kv.Get(u64key(prefProbe, provider, e, v.Operator))
			if len(b) == 8 {
				ok += uint64(binary.BigEndian.Uint32(b))
				all += uint64(binary.BigEndian.Uint32(b[4:]))
			}
		}
		if all > 0 {
			votes = append(votes, vote{avail: ok * 10_000 / all, power: v.Power})
		}
	}
	sort.Slice(votes, func(i, j int) bool { return votes[i].avail > votes[j].avail })
	var acc int64
	for _, v := range votes {
		acc += v.power
		if 3*acc > 2*total {
			return v.avail, true
		}
	}
	return 0, false
}

// endWindow closes a lease's current SLA window: it measures availability,
// refunds the consumer from the provider's collateral on a breach, and
// closes the lease for migration after too many breaches in a row.
func (s *store) endWindow(l *Lease) error {
	p := s.params()
	end := l.WindowStartMs + l.SLA.WindowSeconds*msPerSecond
	w := Window{Index: l.WindowCount, StartMs: l.WindowStartMs, EndMs: end, Charges: l.WindowCharges}
	w.AvailabilityBps, w.Quorum = s.availability(l.Provider, l.WindowStartMs, end)
	prov, err := s.provider(l.Provider)
	if err != nil {
		return err
	}
	if w.Quorum && w.AvailabilityBps < l.SLA.TargetBps {
		w.Breach = true
		points := (l.SLA.TargetBps - w.AvailabilityBps + 99) / 100
		share := min(points*p.RefundBpsPerPoint, 10_000)
		refund, _, err := money.MulDiv(w.Charges, share, 10_000)
		if err != nil {
			return err
		}
		refund = min(refund, prov.Collateral)
		if refund > 0 {
			if err := s.ctx.Credit(BucketCollateral, l.Consumer, refund); err != nil {
				return err
			}
			prov.Collateral -= refund
			l.SLARefunded += refund
		}
		w.Refund = refund
		l.ConsecutiveBreaches++
		prov.Breaches++
		prov.Score -= min(prov.Score, 1000)
		s.ctx.Emit("sla.breach", attrID(l.ID), ledger.Attr{Key: "provider", Value: l.Provider.String()},
			ledger.Attr{Key: "availability_bps", Value: ledger.FormatInt(w.AvailabilityBps)},
			ledger.Attr{Key: "target_bps", Value: ledger.FormatInt(l.SLA.TargetBps)},
			ledger.Attr{Key: "refund", Value: ledger.FormatInt(refund)})
	} else if w.Quorum {
		l.ConsecutiveBreaches = 0
		prov.Score = min(prov.Score+100, 10_000)
	}
	s.putProvider(prov)
	s.putJSON(u64key(prefWindow, l.ID, w.Index), w)
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
		s.ctx.Emit("lease.migrate", attrID(l.ID), ledger.Attr{Key: "provider", Value: l.Provider.String()},
			ledger.Attr{Key: "consumer", Value: l.Consumer.String()}, ledger.Attr{Key: "class", Value: l.Class},
			ledger.Attr{Key: "quantity", Value: ledger.FormatInt(l.Quantity)})
	}
	return nil
}
