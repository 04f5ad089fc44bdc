package functions

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// processDue evaluates the deployments due by the block's time, earliest
// first, at most Params.BlockEvaluations; the rest stay due for the next
// blocks.
func (s *store) processDue() error {
	now := s.nowMs()
	limit := s.params().blockEvaluations()
	var ids []uint64
	err := s.kv.Iterate([]byte(prefDue), func(k, _ []byte) error {
		k = k[len(prefDue):]
		if int64(binary.BigEndian.Uint64(k[:8])) > now || len(ids) == limit {
			return ledger.ErrStop
		}
		ids = append(ids, binary.BigEndian.Uint64(k[8:16]))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		d, err := s.deployment(id)
		if err != nil {
			return err
		}
		if err := s.evaluate(d); err != nil {
			return err
		}
		s.putDeployment(d)
	}
	return nil
}

// Concurrency is the deployment's load for scaling: the sum of
// avg_concurrency in each replica's latest report no older than the
// window.
func (d *Deployment) Concurrency(nowMs, windowMs int64) uint64 {
	var total uint64
	for _, r := range d.Replicas {
		if r.ReportMs != 0 && nowMs-r.ReportMs <= windowMs {
			total += uint64(r.AvgConcurrency)
		}
	}
	return total
}

// evaluate applies d's scaling rule (see the package doc) and schedules
// the next evaluation.
func (s *store) evaluate(d *Deployment) error {
	p := s.params()
	now := s.nowMs()
	if err := s.releaseReserve(d); err != nil {
		return err
	}
	if d.State == StateSuspended && d.Reserved == 0 {
		// The reserve released may be what it lacked.
		if room, _ := d.room(); room > 0 && d.available() >= p.ReplicaDeposit {
			s.resume(d)
			return nil
		}
	}
	if d.State == StateRemoved || d.State == StateSuspended {
		// Evaluated only to release a reserve; nothing else to do.
		s.schedule(d, 0)
		if d.Reserved > 0 {
			s.schedule(d, d.ReservedUntilMs)
		}
		return nil
	}
	s.schedule(d, now+p.EvalSeconds*msPerSecond)
	lostProv := map[identity.Address]bool{}
	var lost []string
	for _, r := range append([]Replica(nil), d.Replicas...) {
		l, err := s.leaseState(r.Lease)
		if err != nil {
			return err
		}
		if l.State != market.LeaseClosed {
			continue
		}
		if err := s.loseReplica(d, r, l); err != nil {
			return err
		}
		lostProv[r.Provider] = true
		lost = append(lost, fmt.Sprintf("lease %d (%s)", r.Lease, l.CloseReason))
	}
	if len(d.Replicas) == 0 {
		// Nothing runs, and nothing can be opened: stop costing blocks.
		switch {
		case d.State == StateExhausted:
			s.suspend(d, "exhausted ("+d.ExhaustedReason+"): top it up or raise spend_limit")
			return nil
		case d.available() < p.ReplicaDeposit:
			s.suspend(d, fmt.Sprintf("the escrow, %s, is short of a replica's lease deposit, %s: top it up",
				money.Format(d.available()), money.Format(p.ReplicaDeposit)))
			return nil
		}
	}
	sc := d.Spec.Scaling
	n := len(d.Replicas)
	target := uint64(sc.TargetConcurrency)
	switch {
	case n < int(sc.Min):
		reason := fmt.Sprintf("%d replicas < min %d", n, sc.Min)
		if len(lost) > 0 {
			reason = "replacing " + strings.Join(lost, ", ")
		}
		for len(d.Replicas) < int(sc.Min) && s.scaleOut(d, lostProv, reason) {
		}
		d.LowSinceMs = 0
	case n > int(sc.Max):
		for len(d.Replicas) > int(sc.Max) {
			if err := s.scaleIn(d, fmt.Sprintf("%d replicas > max %d", len(d.Replicas), sc.Max)); err != nil {
				return err
			}
		}
		d.LowSinceMs = 0
	default:
		total := d.Concurrency(now, p.WindowSeconds*msPerSecond)
		switch {
		case total > target*uint64(n) && n < int(sc.Max):
			s.scaleOut(d, lostProv, fmt.Sprintf("concurrency %d > %d x %d", total, n, target))
			d.LowSinceMs = 0
		case n > int(sc.Min) && total <= target*uint64(n-1):
			if d.LowSinceMs == 0 {
				d.LowSinceMs = now
			}
			if low := now - d.LowSinceMs; low >= sc.CooldownSeconds*msPerSecond {
				if err := s.scaleIn(d, fmt.Sprintf("concurrency %d <= %d x %d for %ds", total, n-1, target, low/msPerSecond)); err != nil {
					return err
				}
				d.LowSinceMs = 0
			}
		default:
			d.LowSinceMs = 0
		}
	}
	return nil
}

// scaleOut opens one replica and emits function.scaled, or, when it
// cannot, function.scale_blocked (once per reason). It reports success.
func (s *store) scaleOut(d *Deployment, exclude map[identity.Address]bool, reason string) bool {
	from := len(d.Replicas)
	if d.State == StateExhausted {
		s.blocked(d, from+1, reason, "the deployment is exhausted ("+d.ExhaustedReason+"): top it up or raise spend_limit")
		return false
	}
	r, err := s.openReplica(d, exclude)
	if err != nil {
		s.blocked(d, from+1, reason, err.Error())
		return false
	}
	d.Blocked = ""
	Events.Scaled.Emit(s.ctx, depID(d), itoa(from), itoa(from+1), reason, ledger.FormatInt(r.Lease), r.Provider.String())
	return true
}

func (s *store) blocked(d *Deployment, want int, reason, why string) {
	if d.Blocked == why {
		return
	}
	d.Blocked = why
	Events.ScaleBlocked.Emit(s.ctx, depID(d), itoa(len(d.Replicas)), itoa(want), reason, why)
}

// scaleIn closes the newest replica's lease and emits function.scaled. The
// usage its provider served before the close stays billable (noteClosed).
func (s *store) scaleIn(d *Deployment, reason string) error {
	from := len(d.Replicas)
	r := d.Replicas[from-1]
	if _, err := s.closeReplica(d, r); err != nil {
		return err
	}
	d.Blocked = ""
	Events.Scaled.Emit(s.ctx, depID(d), itoa(from), itoa(from-1), reason, ledger.FormatInt(r.Lease), r.Provider.String())
	return nil
}
