package node

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// The functions module's REST routes, read from committed state like the
// market's, and the function gateway (fn_gateway.go) under /fn/.

func deploymentID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, errs.E(errs.Invalid, "%q is not a deployment id: deployment ids are positive integers (see `stratus fn ls`)", s)
	}
	return id, nil
}

// gatewayMethods are the methods the function gateway forwards; GET
// covers HEAD.
var gatewayMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// mountFunctions adds the functions module's routes and the function
// gateway to the API. /v1/functions/params is a literal segment, which
// net/http's mux prefers over /v1/functions/{id}: a deployment id is a
// number, so none is shadowed.
func (n *Node) mountFunctions() {
	a := n.api
	a.HandleJSON("GET /v1/functions/params", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		return functions.GetParams(ctx), nil
	}))
	a.HandleJSON("GET /v1/functions", n.query(listDeployments))
	a.HandleJSON("GET /v1/functions/{id}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		id, err := deploymentID(r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return functions.GetDeployment(ctx, id)
	}))
	a.HandleJSON("GET /v1/functions/by-name/{owner}/{name}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		addr, err := identity.ParseDID(r.PathValue("owner"))
		if err != nil {
			return nil, err
		}
		return functions.DeploymentByName(ctx, addr, r.PathValue("name"))
	}))
	a.Mount("GET /v1/functions/{id}/payable", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := deploymentID(r.PathValue("id"))
		if err == nil {
			err = n.payable(id)
		}
		if err != nil {
			n.failPayment(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"payable":true}` + "\n"))
	}))
	a.HandleJSON("GET /v1/providers/{did}/replicas", n.query(listReplicas))

	gw := newFnGateway(n)
	for _, m := range gatewayMethods {
		a.Mount(m+" /fn/{id}", gw)
		a.Mount(m+" /fn/{id}/{path...}", gw)
	}
}

// payable is functions.Payable on committed state.
func (n *Node) payable(id uint64) error {
	ctx, snap, err := n.queryContext()
	if err != nil {
		return err
	}
	defer snap.Close()
	return functions.Payable(ctx, id)
}

// failPayment writes err as a problem, an Insufficient one with status 402
// Payment Required: errs maps that kind to a status for the ledger's own
// refusals, but a call a deployment cannot pay for is the caller's to
// settle with the deployment's owner.
func (n *Node) failPayment(w http.ResponseWriter, r *http.Request, err error) {
	if !errs.Is(err, errs.Insufficient) {
		n.api.Fail(w, r, err)
		return
	}
	p := api.ProblemFor(err)
	p.Status, p.Title = http.StatusPaymentRequired, "Payment required"
	w.Header().Set("Content-Type", api.ProblemContentType)
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
