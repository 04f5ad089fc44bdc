package node

import (
	"net/http"

	"github.com/stratus-cloud/stratus/ledger"
)

// mountEventKinds serves the declaration of every event kind the state
// machine emits (ledger.EventKind): its type, its attributes in emission
// order, and what each attribute's value names (an account, a lease, an
// object, a deployment, an amount).
func (n *Node) mountEventKinds() {
	n.api.HandleJSON("GET /v1/events/kinds", func(*http.Request) (any, error) {
		return map[string]any{"kinds": ledger.EventKinds()}, nil
	})
}
