package node

import (
	"net/http"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// mountPrivate adds the routes of private objects: their grants, and the
// question providers ask before they serve a shard.
func (n *Node) mountPrivate() {
	a := n.api
	a.HandleJSON("GET /v1/objects/{id}/grants", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		gs, err := objects.Grants(ctx, r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return struct {
			Grants []objects.GrantRecord `json:"grants"`
		}{gs}, nil
	}))
	a.HandleJSON("GET /v1/objects/{id}/grants/{grantee}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		g, err := identity.ParseDID(r.PathValue("grantee"))
		if err != nil {
			return nil, err
		}
		return objects.GrantOf(ctx, r.PathValue("id"), g)
	}))
	a.HandleJSON("GET /v1/providers/{did}/shards/{hash}/readers/{reader}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		p, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		h, err := shardstore.ParseHash(r.PathValue("hash"))
		if err != nil {
			return nil, err
		}
		var reader identity.Address
		if s := r.PathValue("reader"); s != objects.AnonymousReader {
			if reader, err = identity.ParseDID(s); err != nil {
				return nil, err
			}
		}
		// A grant ends at its time, not at the first block after it: the
		// answer is not consensus, so the node's clock may end it.
		now := max(ctx.Time.UnixMilli(), time.Now().UnixMilli())
		private, allowed, err := objects.CanRead(ctx, p, storage.Hash(h), reader, now)
		if err != nil {
			return nil, err
		}
		out := objects.ReadAccess{Provider: p.String(), Hash: h.String(), Private: private, Allowed: allowed}
		if reader != (identity.Address{}) {
			out.Reader = reader.String()
		}
		return out, nil
	}))
}
