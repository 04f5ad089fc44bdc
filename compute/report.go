package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
)

// maxRefusals is how many windows in a row a numbered report may be refused
// as Invalid or Unauthorized (a lease not acknowledged yet, an epoch ahead
// of the chain) before its usage is given up.
const maxRefusals = 10

// depState is what is persisted per deployment: enough that a restart
// never reuses a sequence and resends a report whose fate is unknown.
type depState struct {
	LastSequence uint64 `json:"last_sequence,string"`
	// LastEpoch is the epoch of the last report known to be committed; an
	// epoch may not go back.
	LastEpoch int64 `json:"last_epoch"`
	// Active is set when the last report showed calls or concurrency, so
	// that one more report, idle, tells the autoscaler the load is gone.
	Active bool `json:"active,omitempty"`
	// Pending is a numbered report not known to be committed. It is resent
	// with the same sequence and counts until it is committed or refused
	// as a duplicate.
	Pending  *functions.UsageReport `json:"pending,omitempty"`
	Refusals int                    `json:"refusals,omitempty"`
	// CarryCalls and CarryMiBMs are usage metered before a Close but not
	// yet in a numbered report: the next report after a restart adds them.
	CarryCalls uint64 `json:"carry_calls,omitempty,string"`
	CarryMiBMs uint64 `json:"carry_mib_ms,omitempty,string"`
	// CronNext is the first cron run not claimed yet: runs below it were
	// served, or were being served when the provider stopped.
	CronNext uint64 `json:"cron_next,omitempty,string"`
}

// stateFile is Dir/state.json.
type stateFile struct {
	path string
	mu   sync.Mutex
	deps map[uint64]*depState
}

type stateJSON struct {
	Deployments map[uint64]*depState `json:"deployments"`
}

func loadState(path string) (*stateFile, error) {
	st := &stateFile{path: path, deps: map[uint64]*depState{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, errs.E(errs.Internal, "read %s: %v", path, err)
	}
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, errs.E(errs.Internal, "%s is corrupt: %v; it holds the usage report sequences, so restore it rather than delete it", path, err)
	}
	for id, d := range j.Deployments {
		if d != nil {
			st.deps[id] = d
		}
	}
	return st, nil
}

// get returns id's state, creating it. st.mu is held.
func (st *stateFile) get(id uint64) *depState {
	d := st.deps[id]
	if d == nil {
		d = &depState{}
		st.deps[id] = d
	}
	return d
}

// claimCron records that run of deployment id is being served, durably,
// and reports whether it was not claimed before.
func (st *stateFile) claimCron(id, run uint64) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.get(id)
	if run < d.CronNext {
		return false, nil
	}
	d.CronNext = run + 1
	return true, st.save()
}

// save writes the state atomically and durably: a temporary file, fsync,
// rename, fsync of the folder. st.mu is held.
func (st *stateFile) save() error {
	b, err := json.MarshalIndent(stateJSON{Deployments: st.deps}, "", "  ")
	if err != nil {
		return errs.E(errs.Internal, "encode report state: %v", err)
	}
	return writeFileAtomic(st.path, b)
}

func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return errs.E(errs.Internal, "write %s: %v", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return errs.E(errs.Internal, "write %s: %v", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// epoch returns the current usage-report epoch as the ledger computes it:
// block time / epoch_seconds, from the Ledger's Clock when it has one.
func (s *Service) epoch(ctx context.Context) int64 {
	if c, ok := s.cfg.Ledger.(Clock); ok {
		t, err := c.BlockTime(ctx)
		if err == nil {
			var p functions.Params
			if p, err = c.Params(ctx); err == nil && p.EpochSeconds > 0 {
				return t.UnixMilli() / (p.EpochSeconds * 1000)
			}
		}
		s.log.Warn("cannot read the chain's time; using the local clock for the report epoch", "err", err)
	}
	return time.Now().Add(-5*time.Second).UnixMilli() / (functions.DefaultParams().EpochSeconds * 1000)
}

// reportAll runs one report cycle: a report per deployment with usage, a
// resend of every pending one. Reports go one at a time, since each is a
// transaction from the same account. Deployments no longer assigned are
// forgotten once nothing of theirs is left to report.
func (s *Service) reportAll(ctx context.Context) {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	s.mu.Lock()
	deps := map[uint64]*deployment{}
	for id, d := range s.deps {
		deps[id] = d
	}
	s.mu.Unlock()
	s.state.mu.Lock()
	ids := make([]uint64, 0, len(deps))
	for id := range deps {
		ids = append(ids, id)
	}
	for id, st := range s.state.deps {
		if st.Pending != nil && deps[id] == nil {
			ids = append(ids, id)
		}
	}
	s.state.mu.Unlock()
	slices.Sort(ids)
	if len(ids) == 0 {
		return
	}
	epoch := s.epoch(ctx)
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		s.reportOne(ctx, id, deps[id], epoch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	for id, d := range s.deps {
		if _, assigned := d.assignment(); assigned || s.state.get(id).Pending != nil {
			continue
		}
		delete(s.deps, id)
		d.mu.Lock()
		if d.mod != nil {
			d.mod.Close(context.Background())
			d.mod, d.modID = nil, ""
		}
		d.mu.Unlock()
	}
}

// carryOver saves the usage metered but not reported yet, every
// PersistEvery and at Close, so that the next start reports it: a crash
// loses at most PersistEvery of usage.
func (s *Service) carryOver() {
	s.mu.Lock()
	deps := make([]*deployment, 0, len(s.deps))
	for _, d := range s.deps {
		deps = append(deps, d)
	}
	s.mu.Unlock()
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	saved := false
	type taken struct {
		d            *deployment
		calls, mibMs uint64
	}
	var took []taken
	for _, d := range deps {
		calls, mibMs := d.meter.takeCounts()
		if calls == 0 && mibMs == 0 {
			continue
		}
		st := s.state.get(d.id)
		st.CarryCalls += calls
		st.CarryMiBMs += mibMs
		took = append(took, taken{d, calls, mibMs})
		saved = true
	}
	if !saved {
		return
	}
	if err := s.state.save(); err != nil {
		// Back to the meters: the next report, or the next save, has them.
		for _, t := range took {
			st := s.state.get(t.d.id)
			st.CarryCalls -= t.calls
			st.CarryMiBMs -= t.mibMs
			t.d.meter.putBack(window{calls: t.calls, mibMs: t.mibMs})
		}
		s.log.Error("cannot save the usage not reported yet; kept in memory", "err", err)
	}
}

// reportOne numbers and sends deployment id's report, or resends its
// pending one. d is nil for a deployment known only from the state file.
func (s *Service) reportOne(ctx context.Context, id uint64, d *deployment, epoch int64) {
	s.state.mu.Lock()
	st := s.state.get(id)
	epoch = max(epoch, st.LastEpoch)
	if st.Pending == nil {
		if d == nil {
			s.state.mu.Unlock()
			return
		}
		w := d.meter.take(true)
		w.calls += st.CarryCalls
		w.mibMs += st.CarryMiBMs
		merr := d.pendingModErr()
		if w.idle() && !st.Active && merr == "" {
			s.state.mu.Unlock()
			return
		}
		w.peak, w.avg = capConcurrency(d, w.peak), capConcurrency(d, w.avg)
		st.Pending = &functions.UsageReport{
			Deployment: id, Sequence: st.LastSequence + 1, Epoch: epoch,
			Calls: w.calls, MiBMs: w.mibMs, PeakConcurrency: w.peak, AvgConcurrency: w.avg,
			ModuleError: merr,
		}
		st.LastSequence++
		carryCalls, carryMiBMs := st.CarryCalls, st.CarryMiBMs
		st.CarryCalls, st.CarryMiBMs = 0, 0
		// Numbered on disk before it leaves: a crash after sending never
		// leads to a second report with the same sequence.
		if err := s.state.save(); err != nil {
			st.Pending, st.LastSequence = nil, st.LastSequence-1
			st.CarryCalls, st.CarryMiBMs = carryCalls, carryMiBMs
			s.state.mu.Unlock()
			w.calls -= carryCalls
			w.mibMs -= carryMiBMs
			d.meter.putBack(w)
			s.log.Error("cannot save the report state; usage kept for the next window", "deployment", id, "err", err)
			return
		}
	} else if d != nil {
		// A resend keeps its sequence and counts (what is charged) but
		// carries the latest concurrency and epoch, which are not.
		w := d.meter.take(false)
		st.Pending.PeakConcurrency, st.Pending.AvgConcurrency = capConcurrency(d, w.peak), capConcurrency(d, w.avg)
		st.Pending.Epoch = epoch
	} else {
		st.Pending.Epoch = epoch
	}
	r := *st.Pending
	s.state.mu.Unlock()

	err := s.cfg.Ledger.Report(ctx, s.cfg.Key, &r)
	done, committed := false, false
	switch {
	case err == nil:
		done, committed = true, true
		s.log.Debug("usage reported", "deployment", id, "sequence", r.Sequence, "calls", r.Calls, "mib_ms", r.MiBMs)
	case errs.Is(err, errs.Conflict):
		if done = s.resolveConflict(ctx, id, &r, err); !done {
			s.state.mu.Lock()
			st.Refusals++
			done = st.Refusals >= maxRefusals
			s.state.mu.Unlock()
			if done {
				s.log.Error("usage report refused: its usage is dropped", "deployment", id, "sequence", r.Sequence, "err", err)
			}
		}
	case errs.Is(err, errs.NotFound):
		done = true
		s.log.Warn("deployment gone: its usage is dropped", "deployment", id, "sequence", r.Sequence, "err", err)
	case errs.Is(err, errs.Invalid), errs.Is(err, errs.Unauthorized):
		s.state.mu.Lock()
		st.Refusals++
		n := st.Refusals
		s.state.mu.Unlock()
		assigned := false
		if d != nil {
			_, assigned = d.assignment()
		}
		if n >= maxRefusals || !assigned {
			done = true
			s.log.Error("usage report refused: its usage is dropped", "deployment", id, "sequence", r.Sequence, "refusals", n, "err", err)
		} else {
			s.log.Warn("usage report refused; resending next window", "deployment", id, "sequence", r.Sequence, "err", err)
		}
	default:
		s.log.Warn("usage report not confirmed; resending it next window", "deployment", id, "sequence", r.Sequence, "err", err)
	}
	if !done {
		return
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	st.Pending, st.Refusals = nil, 0
	if committed {
		st.LastEpoch = max(st.LastEpoch, r.Epoch)
		st.Active = r.Calls > 0 || r.PeakConcurrency > 0
		if d != nil && r.ModuleError != "" {
			d.mu.Lock()
			d.modErrSent = r.ModuleError
			d.mu.Unlock()
		}
	}
	if err := s.state.save(); err != nil {
		// The sequence on disk is still the pending one's: it is resent
		// after a restart and refused as a duplicate, no harm done.
		s.log.Error("cannot save the report state", "err", err)
	}
}

// capConcurrency caps a concurrency at what the ledger accepts from one
// replica of d: its instances and as many calls waiting.
func capConcurrency(d *deployment, c uint32) uint32 {
	a, _ := d.assignment()
	if a.Spec.MemoryBytes == 0 {
		return c // not known yet; the ledger judges
	}
	return uint32(min(uint64(c), functions.ConcurrencyLimit(a.Spec)))
}

// resolveConflict handles a report refused as a conflict: the deployment
// was removed (its usage can no longer be reported), or the ledger already
// has this sequence or a later one from us, which means this very report
// was committed by an earlier send whose answer was lost (the sequence was
// on disk before any send). It returns whether the report is settled.
func (s *Service) resolveConflict(ctx context.Context, id uint64, r *functions.UsageReport, cause error) bool {
	v, err := s.cfg.Ledger.Deployment(ctx, id)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return true
		}
		s.log.Warn("usage report refused as a conflict, and the deployment cannot be read; resending next window", "deployment", id, "err", cause)
		return false
	}
	if v.State == functions.StateRemoved {
		s.log.Info("deployment removed: its last usage is dropped", "deployment", id, "sequence", r.Sequence)
		return true
	}
	var seq uint64
	var epoch int64
	for _, u := range v.Usage {
		if u.Provider == s.addr {
			seq, epoch = u.Sequence, u.Epoch
		}
	}
	s.state.mu.Lock()
	st := s.state.get(id)
	st.LastSequence = max(st.LastSequence, seq)
	st.LastEpoch = max(st.LastEpoch, epoch)
	s.state.mu.Unlock()
	if seq >= r.Sequence {
		s.log.Info("usage report already committed", "deployment", id, "sequence", r.Sequence, "ledger_sequence", seq)
		return true
	}
	// The ledger's sequence is below ours, so the conflict is something
	// else; keep the report.
	s.log.Warn("usage report refused as a conflict; resending next window", "deployment", id, "sequence", r.Sequence, "err", cause)
	return false
}
