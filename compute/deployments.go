package compute

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/fnspec"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/wagi"
)

// Bounds on fetching a module.
const (
	fetchTimeout = 2 * time.Minute
	// fetchRetry is how long a failed fetch is remembered before a call
	// tries again; a module that does not compile is remembered until the
	// spec names another.
	fetchRetry = 5 * time.Second
	// missSync is how often a call for an unknown deployment may refresh
	// the assignments.
	missSync = 250 * time.Millisecond
)

// deployment is what the service keeps of one deployment it serves, or
// served until recently (assigned false): its spec, its compiled module,
// its meter and its log.
type deployment struct {
	id    uint64
	log   *logRing
	meter meter

	mu       sync.Mutex
	a        functions.Assignment
	assigned bool
	mod      *wagi.Module
	modID    string        // the object ID mod was compiled from
	loading  chan struct{} // closed when the running load ends
	loadErr  error         // the last load's failure, for loadErrID
	loadID   string
	loadAt   time.Time

	// modErr is why the current module cannot run, for the ledger
	// (UsageReport.ModuleError); modErrSent is what the last committed
	// report said.
	modErr, modErrSent string

	// cronBusy is set while a goroutine serves the cron runs.
	cronBusy bool

	payMu  sync.Mutex // guards payErr and payAt; held while asking
	payErr error      // Payable's last answer
	payAt  time.Time
}

func (d *deployment) assignment() (functions.Assignment, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.a, d.assigned
}

// needsLoad reports whether d's module should be loaded ahead of a call:
// it is not loaded nor loading, and did not just fail (a module that does
// not compile is not tried again until the spec names another). d.mu is
// held.
func (d *deployment) needsLoad() bool {
	id := d.a.Spec.Module
	if d.modID == id || d.loading != nil {
		return false
	}
	return !d.failedFor(id)
}

// failedFor reports whether the last load of id failed recently enough, or
// for good, that it is not tried again yet. d.mu is held.
func (d *deployment) failedFor(id string) bool {
	return d.loadErr != nil && d.loadID == id && (errors.Is(d.loadErr, wagi.ErrInvalidModule) || time.Since(d.loadAt) < fetchRetry)
}

// sync refreshes the assignments and starts loading the modules that are
// new or changed.
func (s *Service) sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	read := time.Now()
	as, err := s.cfg.Ledger.Assignments(ctx, s.addr)
	if err != nil {
		return err
	}
	now := map[uint64]functions.Assignment{}
	for _, a := range as {
		if a.State != functions.StateRemoved {
			now[a.Deployment] = a
		}
	}
	s.mu.Lock()
	s.lastSync, s.lastRead = time.Now(), read
	var load, cron []*deployment
	for id, a := range now {
		d := s.deps[id]
		if d == nil {
			d = &deployment{id: id, log: newLogRing(LogBytes)}
			s.deps[id] = d
		}
		d.mu.Lock()
		d.a, d.assigned = a, true
		if d.needsLoad() {
			load = append(load, d)
		}
		if len(a.Cron) > 0 {
			cron = append(cron, d)
		}
		d.mu.Unlock()
	}
	for id, d := range s.deps {
		if _, ok := now[id]; !ok {
			d.mu.Lock()
			if d.assigned {
				s.log.Info("replica no longer held", "deployment", id)
			}
			d.assigned = false
			d.mu.Unlock()
		}
	}
	s.mu.Unlock()
	for _, d := range cron {
		s.startCron(d)
	}
	// Compile ahead of the first call, off the request path.
	for _, d := range load {
		go func() {
			if _, err := s.module(s.ctx, d); err != nil && s.ctx.Err() == nil {
				s.log.Warn("cannot load a deployment's module", "deployment", d.id, "err", err)
			}
		}()
	}
	return nil
}

// lookup returns the deployment id if this provider holds a replica of it,
// refreshing the assignments first when it does not know it (at most every
// missSync: a call waits that long rather than be refused).
func (s *Service) lookup(ctx context.Context, id uint64) *deployment {
	get := func() *deployment {
		s.mu.Lock()
		defer s.mu.Unlock()
		if d := s.deps[id]; d != nil {
			if _, ok := d.assignment(); ok {
				return d
			}
		}
		return nil
	}
	if d := get(); d != nil {
		return d
	}
	// A replica acknowledged a moment ago must not get a 404.
	if !s.resync(ctx, func() bool { return get() != nil }) {
		return nil
	}
	return get()
}

// resync refreshes the assignments for a call that found them out of
// date, waiting first if the last refresh was less than missSync ago. It
// skips the refresh when done reports that the wait was enough, or when
// another refresh read the ledger after this call arrived: many calls that
// find the same thing missing make one refresh, not one each. It returns
// false if ctx ended first.
func (s *Service) resync(ctx context.Context, done func() bool) bool {
	arrived := time.Now()
	s.mu.Lock()
	wait := missSync - arrived.Sub(s.lastSync)
	s.mu.Unlock()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
		if done() {
			return true
		}
	}
	s.syncMu.Lock() // wait for a refresh in progress, then look
	s.mu.Lock()
	fresh := s.lastRead.After(arrived)
	s.mu.Unlock()
	s.syncMu.Unlock()
	if fresh {
		return true
	}
	if err := s.sync(ctx); err != nil {
		s.log.Warn("refreshing replicas failed", "err", err)
	}
	return true
}

// module returns the compiled module of d's current spec, fetching and
// compiling it once per (deployment, module); callers that arrive during a
// load wait for it. A spec with a new module replaces the old one, whose
// calls in flight finish on it.
func (s *Service) module(ctx context.Context, d *deployment) (*wagi.Module, error) {
	d.mu.Lock()
	for {
		id := d.a.Spec.Module
		switch {
		case d.mod != nil && d.modID == id:
			m := d.mod
			d.mu.Unlock()
			return m, nil
		case d.failedFor(id):
			err := d.loadErr
			d.mu.Unlock()
			return nil, err
		case d.loading != nil:
			ch := d.loading
			d.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, errs.E(errs.Unavailable, "deployment %d: waiting for its module to load: %w", d.id, ctx.Err())
			}
			d.mu.Lock()
			continue
		}
		ch := make(chan struct{})
		d.loading = ch
		limits, env := limitsOf(d.a.Spec), d.a.Spec.Env
		d.mu.Unlock()

		// The service's context, not the caller's: a caller that goes away
		// must not fail the load for the others.
		m, err := s.load(d.id, id, limits, env)

		d.mu.Lock()
		d.loading = nil
		close(ch)
		if err != nil {
			if d.loadErr == nil || d.loadErr.Error() != err.Error() || d.loadID != id {
				// Where its owner looks: `stratus fn logs`, and through
				// the next report, `stratus fn info`.
				fmt.Fprintf(d.log, "stratus: %v\n", err)
				d.modErr = moduleError(err)
			}
			d.loadErr, d.loadID, d.loadAt = err, id, time.Now()
			continue
		}
		old := d.mod
		d.mod, d.modID, d.loadErr, d.modErr, d.modErrSent = m, id, nil, "", ""
		if old != nil {
			old.Close(context.Background())
		}
		s.log.Info("module ready", "deployment", d.id, "module", id, "hash", m.Hash(), "reusable", m.Reusable())
	}
}

// moduleError is err as one line of at most functions.MaxModuleError
// bytes of printable text, as a usage report carries it.
func moduleError(err error) string {
	var b strings.Builder
	for _, r := range err.Error() {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > functions.MaxModuleError {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// pendingModErr returns the module error the ledger has not been told.
func (d *deployment) pendingModErr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.modErr != d.modErrSent {
		return d.modErr
	}
	return ""
}

// load fetches and compiles a module, and starts an instance ahead of the
// first call if it is reusable.
func (s *Service) load(dep uint64, objectID string, limits wagi.Limits, env map[string]string) (*wagi.Module, error) {
	s.loadsMu.Lock()
	if s.loadsClosed {
		s.loadsMu.Unlock()
		return nil, errs.E(errs.Unavailable, "compute provider %s is closing", s.cfg.Name)
	}
	s.loads.Add(1)
	s.loadsMu.Unlock()
	defer s.loads.Done()
	ctx, cancel := context.WithTimeout(s.ctx, fetchTimeout)
	defer cancel()
	wasm, err := s.cfg.Fetch(ctx, objectID)
	if err != nil {
		return nil, errs.E(errs.KindOf(err), "deployment %d: cannot fetch its module %s from storage: %w", dep, objectID, err)
	}
	m, err := s.rt.Compile(ctx, wasm)
	if err != nil {
		return nil, errs.E(errs.KindOf(err), "deployment %d: its module %s cannot run: %w", dep, objectID, err)
	}
	if m.Reusable() {
		pctx, cancel := context.WithTimeout(s.ctx, max(limits.Timeout, wagi.DefaultLimits.Timeout))
		if err := m.Prewarm(pctx, 1, &wagi.Request{DeploymentEnv: env}, limits); err != nil {
			s.log.Warn("prewarming a reusable module failed", "deployment", dep, "err", err)
		}
		cancel()
	}
	return m, nil
}

// payable is Ledger.Payable, answered from a cache for SyncEvery. When the
// ledger cannot be reached the last answer stands (at first: payable), so
// that a node's hiccup does not stop every function.
func (s *Service) payable(ctx context.Context, d *deployment) error {
	d.payMu.Lock()
	defer d.payMu.Unlock()
	if !d.payAt.IsZero() && time.Since(d.payAt) < s.cfg.SyncEvery {
		return d.payErr
	}
	err := s.cfg.Ledger.Payable(ctx, d.id)
	switch {
	case err == nil, errs.Is(err, errs.Insufficient), errs.Is(err, errs.NotFound), errs.Is(err, errs.Conflict):
		d.payErr, d.payAt = err, time.Now()
	default:
		s.log.Warn("cannot ask the ledger whether a deployment is payable; using the last answer", "deployment", d.id, "err", err)
		d.payAt = time.Now()
	}
	return d.payErr
}

// limitsOf turns a spec's limits into the runtime's.
func limitsOf(spec functions.Spec) wagi.Limits {
	mem := spec.MemoryBytes
	if mem == 0 {
		mem = wagi.DefaultLimits.MemoryBytes // a valid spec has one; billing needs one
	}
	// Specs made by hand may leave the body limits out: the spec file's
	// defaults apply, as they would have.
	req, resp := spec.MaxRequestBytes, spec.MaxResponseBytes
	if req == 0 {
		req = fnspec.DefaultMaxRequest
	}
	if resp == 0 {
		resp = fnspec.DefaultMaxResponse
	}
	return wagi.Limits{
		MemoryBytes:      mem,
		Timeout:          time.Duration(spec.TimeoutMs) * time.Millisecond,
		MaxRequestBytes:  int64(req),
		MaxResponseBytes: int64(resp),
		MaxConcurrency:   int(functions.Instances(spec)),
	}
}
