package compute

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/wagi"
)

// cronStale is how late a cron run may still be served. A provider that
// was down longer does not fire a burst of old runs when it comes back;
// it logs them as skipped.
const cronStale = 10 * time.Minute

// startCron serves, in the background, the cron runs the ledger gave to
// d's replica on this provider that it has not served yet, oldest first.
// One runner works per deployment; runs that arrive meanwhile wait for the
// next sync.
func (s *Service) startCron(d *deployment) {
	d.mu.Lock()
	a := d.a
	if len(a.Cron) == 0 || d.cronBusy || !d.assigned {
		d.mu.Unlock()
		return
	}
	d.cronBusy = true
	d.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			d.mu.Lock()
			d.cronBusy = false
			d.mu.Unlock()
		}()
		for _, run := range a.Cron {
			if s.ctx.Err() != nil {
				return
			}
			// Claimed before it runs, and durably: a run is served at
			// most once, even across a crash in the middle of it.
			ok, err := s.state.claimCron(d.id, run.Run)
			if err != nil {
				s.log.Error("cannot record a cron run; not serving it", "deployment", d.id, "run", run.Run, "err", err)
				return
			}
			if ok {
				s.runCron(d, a, run)
			}
		}
	}()
}

// runCron calls d's function for one cron run, as an HTTP call to the
// job's path would (a POST of its body, or a GET without one), metered and
// billed like any call, and writes the outcome to the deployment's log.
func (s *Service) runCron(d *deployment, a functions.Assignment, run functions.CronAssigned) {
	if run.Index < 0 || run.Index >= len(a.Spec.Cron) {
		fmt.Fprintf(d.log, "stratus: cron run %d names job %d, which the spec does not have; skipped\n", run.Run, run.Index)
		return
	}
	job := a.Spec.Cron[run.Index]
	due := time.UnixMilli(run.DueMs).UTC()
	if late := time.Since(due); late > cronStale {
		fmt.Fprintf(d.log, "stratus: cron run %d (%s %s) was due at %s, %s ago; skipped\n",
			run.Run, job.Schedule, job.Path, due.Format(time.RFC3339), late.Round(time.Second))
		return
	}
	method := http.MethodGet
	if job.Body != "" {
		method = http.MethodPost
	}
	script := "/fn/" + strconv.FormatUint(d.id, 10)
	timeout := limitsOf(a.Spec).Timeout + 5*time.Second
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+script+job.Path, strings.NewReader(job.Body))
	if err != nil {
		fmt.Fprintf(d.log, "stratus: cron run %d (%s %s): %v\n", run.Run, job.Schedule, job.Path, err)
		return
	}
	req.RemoteAddr = "127.0.0.1:0" // the provider itself
	route, ok := matchRoute(a.Spec.Routes, job.Path)
	if !ok {
		// A job's path need not be one of the routes: routes say what
		// callers may reach, and a job is the owner's own.
		route = job.Path
	}
	w := &cronResponse{header: http.Header{}}
	start := time.Now()
	s.serveCall(w, req, d, a, script, route)
	outcome := fmt.Sprintf("%d %s", w.status, http.StatusText(w.status))
	switch reason := w.header.Get(wagi.ErrorHeader); {
	case reason != "":
		outcome += ": " + reason
	case w.status >= 400:
		outcome += ": " + strings.TrimSpace(string(w.head))
	}
	fmt.Fprintf(d.log, "stratus: cron run %d (%s %s %s, due %s): %s in %s\n", run.Run, job.Schedule, method, job.Path,
		due.Format(time.RFC3339), outcome, time.Since(start).Round(time.Millisecond))
}

// cronResponse takes a cron call's response: its status, its reason and
// the start of its body are logged, the rest dropped (a job has no caller
// to read it).
type cronResponse struct {
	header http.Header
	status int
	head   []byte // the body's first cronHead bytes
}

const cronHead = 300

func (w *cronResponse) Header() http.Header { return w.header }

func (w *cronResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *cronResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if n := cronHead - len(w.head); n > 0 {
		w.head = append(w.head, b[:min(n, len(b))]...)
	}
	return len(b), nil
}
