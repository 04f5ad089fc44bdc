package node

import (
	"net/http"

	"github.com/stratus-cloud/stratus/ledger"
)

// mountParams serves every set of parameters the chain runs with: the
// core's ("ledger") and each module's, as stored under params/<name> and
// changed only by genesis (and governance).
func (n *Node) mountParams() {
	n.api.HandleJSON("GET /v1/params", n.query(func(ctx *ledger.Context, _ *http.Request) (any, error) {
		return ctx.AllParams(), nil
	}))
}
