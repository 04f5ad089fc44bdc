package node

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
)

// mountAudit adds the audit log's routes: entries, inclusion and consistency
// proofs, and roots, all read from committed state (package audit). A client
// checks the proofs with transparency-dev/merkle against a root it trusts;
// the roots served here are for convenience, not trust (docs/audit.md).
func (n *Node) mountAudit() {
	a := n.api
	a.HandleJSON("GET /v1/audit/entries/{index}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		idx, err := auditNumber("index", r.PathValue("index"))
		if err != nil {
			return nil, err
		}
		leaf, err := audit.Entry(ctx.AuditLog(), idx)
		if err != nil {
			return nil, err
		}
		return audit.Record{Index: idx, Leaf: leaf}, nil
	}))
	a.HandleJSON("GET /v1/audit/proof/inclusion", n.query(n.auditInclusion))
	a.HandleJSON("GET /v1/audit/proof/consistency", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		kv := ctx.AuditLog()
		from, err := auditNumber("from", r.URL.Query().Get("from"))
		if err != nil {
			return nil, err
		}
		to, err := auditSize(kv, r.URL.Query().Get("to"))
		if err != nil {
			return nil, err
		}
		return audit.ConsistencyProof(kv, from, to)
	}))
	a.HandleJSON("GET /v1/audit/checkpoint", n.checkpoint)
	a.HandleJSON("GET /v1/audit/root", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		kv := ctx.AuditLog()
		size, err := auditSize(kv, r.URL.Query().Get("size"))
		if err != nil {
			return nil, err
		}
		root, err := audit.Root(kv, size)
		if err != nil {
			return nil, err
		}
		return audit.Head{Size: size, Root: root}, nil
	}))
}

// auditInclusion serves ?index=N&size=S, or ?tx=HASH at the latest
// checkpoint's size, so the proof checks against a root the validators
// signed (GET /v1/audit/checkpoint).
func (n *Node) auditInclusion(ctx *ledger.Context, r *http.Request) (any, error) {
	kv := ctx.AuditLog()
	q := r.URL.Query()
	var idx uint64
	switch tx, index := q.Get("tx"), q.Get("index"); {
	case tx != "" && index != "":
		return nil, errs.E(errs.Invalid, "give either tx or index, not both")
	case tx != "":
		if q.Get("size") != "" {
			return nil, errs.E(errs.Invalid, "a proof by tx hash is to the latest checkpoint's size: leave size out, or ask by index")
		}
		h, err := hex.DecodeString(tx)
		if err != nil || len(h) != 32 {
			return nil, errs.E(errs.Invalid, "%q is not a transaction hash: it should be 64 hex characters", tx)
		}
		if idx, err = audit.TxIndex(kv, h); err != nil {
			return nil, err
		}
		size, err := n.checkpointSize()
		if err != nil {
			return nil, err
		}
		if cur, err := audit.CurrentSize(kv); err != nil {
			return nil, err
		} else if size > cur {
			// Blocks committed since this answer's snapshot was taken.
			return nil, errs.E(errs.Unavailable, "the node committed blocks while answering: try again")
		}
		if idx >= size {
			return nil, errs.E(errs.Conflict, "transaction %s is entry %d of the audit log, and the latest checkpoint covers %d entries: it is not in a checkpoint yet; try again after the next block", tx, idx, size)
		}
		return audit.InclusionProof(kv, idx, size)
	case index != "":
		var err error
		if idx, err = auditNumber("index", index); err != nil {
			return nil, err
		}
	default:
		return nil, errs.E(errs.Invalid, "say which entry to prove: ?index=N or ?tx=HASH")
	}
	size, err := auditSize(kv, q.Get("size"))
	if err != nil {
		return nil, err
	}
	return audit.InclusionProof(kv, idx, size)
}

// auditSize parses a tree size; empty is the log's current size.
func auditSize(kv audit.KV, s string) (uint64, error) {
	if s == "" {
		return audit.CurrentSize(kv)
	}
	return auditNumber("size", s)
}

func auditNumber(name, s string) (uint64, error) {
	if s == "" {
		return 0, errs.E(errs.Invalid, "%s is required: a non-negative integer", name)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, errs.E(errs.Invalid, "%s %q is not a non-negative integer", name, s)
	}
	return v, nil
}
