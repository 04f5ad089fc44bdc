package market

import (
	"encoding/binary"

	"github.com/stratus-cloud/stratus/ledger"
)

// Retention. Records that only grow are pruned from state once they are
// old enough, while the events that carried their figures stay in the
// audit log: a closed lease (lease.closed) and a judged window (sla.judged)
// RetentionSeconds after the close or the judgement, a probe report's
// per-epoch counts (the probe_report transaction) ProbeRetentionSeconds
// after its epoch, a reference price (price.reference)
// PriceHistoryRetentionSeconds after its epoch. EndBlock prunes at most
// MaxPrunePerBlock records a block, oldest first, and carries the rest.
// Closed leases and windows wait in a time-ordered queue; probe counts and
// prices are keyed by epoch first, so they are their own queue. Nothing
// walks all leases.

// Kinds of entries in the retention queue.
// A lease's windows are judged before it closes, so they go before it.
const (
	pruneWindow byte = 1 // id, index: one judged window
	pruneLease  byte = 2 // id: the lease record and its index entries
)

// queuePrune schedules a record to be pruned at ms.
func (s *store) queuePrune(at int64, kind byte, ids ...uint64) {
	k := append(u64key(prefPrune, at), kind)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, id)
	}
	s.kv.Set(k, []byte{})
}

// prune removes what has outlived its retention, at most MaxPrunePerBlock
// records.
func (s *store) prune() error {
	p := s.params()
	now := s.nowMs()
	budget := int(p.MaxPrunePerBlock)
	var due [][]byte
	err := s.kv.Iterate([]byte(prefPrune), func(k, _ []byte) error {
		if int64(binary.BigEndian.Uint64(k[len(prefPrune):])) > now || len(due) == budget {
			return ledger.ErrStop
		}
		due = append(due, append([]byte(nil), k[len(prefPrune):]...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range due {
		s.kv.Delete(append([]byte(prefPrune), k...))
		switch rest := k[8:]; rest[0] {
		case pruneLease:
			id := binary.BigEndian.Uint64(rest[1:])
			var l Lease
			if ok, err := s.getJSON(u64key(prefLease, id), &l); err != nil || !ok {
				continue
			}
			s.kv.Delete(u64key(prefLease, id))
			s.kv.Delete(u64key(prefByCons, l.Consumer, id))
			s.kv.Delete(u64key(prefByProv, l.Provider, id))
			s.kv.Delete(u64key(prefWinBase, id))
		case pruneWindow:
			s.kv.Delete(u64key(prefWindow, binary.BigEndian.Uint64(rest[1:]), binary.BigEndian.Uint64(rest[9:])))
		}
	}
	budget -= len(due)
	ep := p.EpochSeconds * msPerSecond
	// Probe counts: keys begin with their epoch.
	if budget > 0 {
		horizon := (now - p.ProbeRetentionSeconds*msPerSecond) / ep
		budget -= s.pruneBelow([]byte(prefProbe), horizon, budget)
	}
	// Price history: one run of epochs per class.
	for _, c := range Classes {
		if budget <= 0 {
			break
		}
		horizon := (now - p.PriceHistoryRetentionSeconds*msPerSecond) / ep
		budget -= s.pruneBelow(u64key(prefRefHist, c), horizon, budget)
	}
	return nil
}

// pruneBelow deletes up to max keys under prefix whose next 8 bytes, an
// epoch, are below horizon, and returns how many it deleted.
func (s *store) pruneBelow(prefix []byte, horizon int64, max int) int {
	var keys [][]byte
	s.kv.Iterate(prefix, func(k, _ []byte) error {
		if len(keys) == max || int64(binary.BigEndian.Uint64(k[len(prefix):])) >= horizon {
			return ledger.ErrStop
		}
		keys = append(keys, append([]byte(nil), k...))
		return nil
	})
	for _, k := range keys {
		s.kv.Delete(k)
	}
	return len(keys)
}
