package compute

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
)

// The REST ledger against a stand-in for the node's routes.
func TestRESTLedger(t *testing.T) {
	prov := newKey(t).Address()
	blockTime := time.UnixMilli(1_700_000_123_456).UTC()
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v1/providers/{did}/replicas", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("did") != prov.String() {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, api.Page[functions.Assignment]{Items: []functions.Assignment{{Deployment: 7, Lease: 3, Spec: testSpec("/")}}})
	})
	mux.HandleFunc("GET /v1/functions/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, functions.DeploymentView{Deployment: functions.Deployment{ID: 7, State: functions.StateActive}})
	})
	mux.HandleFunc("GET /v1/functions/{id}/payable", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "7" {
			writeJSON(w, map[string]bool{"payable": true})
			return
		}
		w.Header().Set("Content-Type", api.ProblemContentType)
		w.WriteHeader(http.StatusPaymentRequired)
		json.NewEncoder(w).Encode(api.Problem{Status: 402, Kind: string(errs.Insufficient), Detail: "deployment 8 has no escrow left"})
	})
	mux.HandleFunc("GET /v1/functions/params", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, functions.DefaultParams())
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, api.Status{LatestBlockTime: blockTime})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	l := NewRESTLedger(client.New(srv.URL))
	ctx := context.Background()

	as, err := l.Assignments(ctx, prov)
	if err != nil || len(as) != 1 || as[0].Deployment != 7 {
		t.Errorf("Assignments = %+v, %v", as, err)
	}
	if v, err := l.Deployment(ctx, 7); err != nil || v.ID != 7 {
		t.Errorf("Deployment = %+v, %v", v, err)
	}
	if err := l.Payable(ctx, 7); err != nil {
		t.Errorf("Payable(7) = %v", err)
	}
	if err := l.Payable(ctx, 8); !errs.Is(err, errs.Insufficient) {
		t.Errorf("Payable(8) = %v, want kind Insufficient", err)
	}
	s := &Service{cfg: Config{Ledger: l}}
	if got, want := s.epoch(ctx), blockTime.UnixMilli()/60_000; got != want {
		t.Errorf("epoch = %d, want %d", got, want)
	}
}
