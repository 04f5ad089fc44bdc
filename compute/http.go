package compute

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/wagi"
)

// LogsPath is the path, below /fn/{deployment}, of a deployment's log.
const LogsPath = "/_logs"

// SpecHeader carries, from a gateway to the provider, the spec_hash of the
// deployment as of the block the gateway read. It is not passed to the
// function.
const SpecHeader = "X-Stratus-Spec"

func (s *Service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("/fn/{id}", s.serveFn)
	mux.HandleFunc("/fn/{id}/{path...}", s.serveFn)
	return mux
}

func (s *Service) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := 0
	for _, d := range s.deps {
		if _, ok := d.assignment(); ok {
			n++
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"status": "ok", "role": "compute", "name": s.cfg.Name, "provider": s.addr.String(), "deployments": n,
	})
}

// writeProblem answers err as an RFC 9457 problem, with status when it is
// not 0, else the kind's.
func writeProblem(w http.ResponseWriter, status int, err error) {
	p := api.ProblemFor(err)
	if status != 0 {
		p.Status, p.Title = status, http.StatusText(status)
	}
	w.Header().Set("Content-Type", api.ProblemContentType)
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func (s *Service) serveFn(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == 0 {
		writeProblem(w, 0, errs.E(errs.NotFound, "%q is not a deployment id: call /fn/{id}/... with a positive integer (see `stratus fn ls`)", raw))
		return
	}
	script := "/fn/" + raw
	path := strings.TrimPrefix(r.URL.Path, script)
	if path == "" {
		path = "/"
	}
	d := s.lookup(r.Context(), id)
	if d == nil {
		writeProblem(w, 0, errs.E(errs.NotFound, "provider %s holds no replica of deployment %d: call it through a node's gateway, /fn/%d/, which finds one", s.addr, id, id))
		return
	}
	// The gateway names the spec it read from the last block: one this
	// provider has not seen yet (an update just committed) is fetched
	// before the call, so a caller never meets the old spec after the new
	// one was committed.
	want := r.Header.Get(SpecHeader)
	r.Header.Del(SpecHeader)
	a, _ := d.assignment()
	if want != "" && want != a.Spec.SpecHash {
		s.resync(r.Context(), func() bool { a, _ = d.assignment(); return a.Spec.SpecHash == want })
		a, _ = d.assignment()
	}
	if path == LogsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.serveLogs(w, r, d, a)
		return
	}
	route, ok := matchRoute(a.Spec.Routes, path)
	if !ok {
		writeProblem(w, 0, errs.E(errs.NotFound, "deployment %d has no route for %s: its routes are %s", id, path, strings.Join(a.Spec.Routes, ", ")))
		return
	}
	s.serveCall(w, r, d, a, script, route)
}

// serveCall runs one call of d's function (r's path below script, which
// matched route) with the spec's env and limits, unless the deployment
// cannot pay for it.
func (s *Service) serveCall(w http.ResponseWriter, r *http.Request, d *deployment, a functions.Assignment, script, route string) {
	id := d.id
	if err := s.payable(r.Context(), d); err != nil {
		if errs.Is(err, errs.Insufficient) {
			writeProblem(w, http.StatusPaymentRequired, errs.E(errs.Insufficient,
				"deployment %d cannot take calls: the deployment's escrow or spend limit is used up: top it up with `stratus fn topup %d --amount AMOUNT`, or raise spend_limit with `stratus fn update %d SPEC` (%v)", id, id, id, err))
			return
		}
		if errs.Is(err, errs.Conflict) || errs.Is(err, errs.NotFound) {
			writeProblem(w, http.StatusNotFound, errs.E(errs.NotFound, "deployment %d cannot be called: %v", id, err))
			return
		}
	}
	// In flight from here, the wait for an instance included: demand, not
	// only what the slots let through, is what the autoscaler must see.
	d.meter.enter()
	defer d.meter.leave()
	mod, err := s.module(r.Context(), d)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errs.Is(err, errs.Invalid) || errs.Is(err, errs.TooLarge) {
			status = http.StatusBadGateway
		}
		writeProblem(w, status, err)
		return
	}
	limits := limitsOf(a.Spec)
	h := &wagi.Handler{
		Module:       mod,
		ScriptName:   script,
		MatchedRoute: route,
		Env:          a.Spec.Env,
		Log:          d.log,
		Limits:       limits,
		// A call that ran is billed, failed or not; one refused before
		// an instance ran (busy, body too large) is not.
		OnCall: func(u wagi.Usage, _ error) { d.meter.record(u, limits.MemoryBytes, limits.Timeout) },
	}
	h.ServeHTTP(w, r)
}

// matchRoute returns the route of routes that path matches: an exact route
// first, else the longest prefix route, "/" (everything) or "/p/..." (/p
// and everything under /p/).
func matchRoute(routes []string, path string) (string, bool) {
	best, bestLen := "", -1
	for _, r := range routes {
		if r == path {
			return r, true
		}
		var prefix string
		switch {
		case r == "/":
			prefix = ""
		case strings.HasSuffix(r, "/..."):
			prefix = strings.TrimSuffix(r, "/...")
			if path != prefix && !strings.HasPrefix(path, prefix+"/") {
				continue
			}
		default:
			continue
		}
		if len(prefix) > bestLen {
			best, bestLen = r, len(prefix)
		}
	}
	return best, bestLen >= 0
}

// serveLogs answers GET /fn/{id}/_logs[?follow=1] with the deployment's
// log, to its owner only: the request must carry the owner's httpsig
// signature. With follow, new bytes are streamed until the client goes
// away or the service closes.
func (s *Service) serveLogs(w http.ResponseWriter, r *http.Request, d *deployment, a functions.Assignment) {
	// Only the owner's requests use up a nonce, so strangers cannot fill
	// the replay cache.
	_, err := s.verify.Verify(r, time.Now(), func(signer identity.Address) error {
		if signer != a.Owner {
			return errs.E(errs.Unauthorized, "%s is not the owner of deployment %d: only its owner may read its log", signer, d.id)
		}
		return nil
	})
	if err != nil {
		writeProblem(w, http.StatusUnauthorized, errs.E(errs.Unauthorized,
			"deployment %d's log is its owner's: sign the request with the owner's key (`stratus fn logs %d`): %v", d.id, d.id, err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	data, off, next := d.log.since(0)
	follow := r.URL.Query().Get("follow")
	if follow != "1" && follow != "true" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
		return
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-next:
		}
		data, off, next = d.log.since(off)
		if _, err := w.Write(data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
