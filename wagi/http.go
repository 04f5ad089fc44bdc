package wagi

import (
	"io"
	"net/http"
	"strconv"
)

// Handler serves one deployment's function over HTTP. Requests must arrive
// with their path under ScriptName (the gateway's "/fn/{deployment}").
type Handler struct {
	Module       *Module
	ScriptName   string
	MatchedRoute string
	Env          map[string]string
	Log          io.Writer // the deployment's log sink for stderr
	Limits       Limits
	// OnCall, when set, receives every call's usage and error (nil on
	// success), for metering.
	OnCall func(Usage, error)
}

// ServeHTTP runs the function and writes its CGI response, or the 4xx/5xx of
// a failed call with the reason in X-Stratus-Function-Error.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := NewRequest(r, h.ScriptName, h.MatchedRoute)
	req.DeploymentEnv = h.Env
	req.Log = h.Log
	resp, err := h.Module.Serve(r.Context(), req, h.Limits)
	if h.OnCall != nil && resp != nil {
		h.OnCall(resp.Usage, err)
	}
	if resp == nil {
		WriteError(w, err)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}
