package node

import (
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/pebblestore"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// queryContext returns a read-only ledger context over a snapshot of
// committed state, as of the last block's time. Close the snapshot.
func (n *Node) queryContext() (*ledger.Context, *pebblestore.Snapshot, error) {
	snap := n.store.Snapshot()
	h := snap.Height()
	meta := n.comet.BlockStore().LoadBlockMeta(h)
	t := n.comet.GenesisDoc().GenesisTime
	if meta != nil {
		t = meta.Header.Time
	}
	ctx, err := n.app.Machine().NewQueryContext(snap, n.comet.GenesisDoc().ChainID, h, t)
	if err != nil {
		snap.Close()
		return nil, nil, err
	}
	return ctx, snap, nil
}

func (n *Node) query(f func(ctx *ledger.Context, r *http.Request) (any, error)) func(*http.Request) (any, error) {
	return func(r *http.Request) (any, error) {
		ctx, snap, err := n.queryContext()
		if err != nil {
			return nil, err
		}
		defer snap.Close()
		return f(ctx, r)
	}
}

func leaseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, errs.E(errs.Invalid, "%q is not a lease id: lease ids are positive integers", s)
	}
	return id, nil
}

// mountMarket adds the market's routes to the API.
func (n *Node) mountMarket() {
	a := n.api
	a.HandleJSON("GET /v1/providers", n.query(listProviders))
	n.mountAudit()
	n.mountEventKinds()
	n.mountParams()
	n.mountTokens()
	n.mountGov()
	n.mountProofs()
	a.HandleJSON("GET /v1/providers/{did}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		addr, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		p, err := market.GetProviderView(ctx, addr)
		if err != nil {
			return nil, err
		}
		ids, err := market.LeasesOf(ctx, addr, true)
		if err != nil {
			return nil, err
		}
		proofs, err := objects.ProofStatsOf(ctx, addr)
		if err != nil {
			return nil, err
		}
		return struct {
			*market.ProviderView
			Leases []string           `json:"leases"`
			Proofs objects.ProofStats `json:"proofs"`
		}{p, idStrings(ids), proofs}, nil
	}))
	a.HandleJSON("GET /v1/leases", n.query(listLeases))
	a.HandleJSON("GET /v1/leases/{id}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		id, err := leaseID(r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return market.GetLease(ctx, id)
	}))
	a.HandleJSON("GET /v1/objects/{id}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		return objects.GetObject(ctx, r.PathValue("id"))
	}))
	gw := &gateway{n: n}
	a.Mount("GET /v1/objects/{id}/content", http.HandlerFunc(gw.serve))
	a.HandleJSON("GET /v1/objects", n.query(listObjects))
	a.HandleJSON("GET /v1/providers/{did}/shards/{hash}", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		p, err := identity.ParseDID(r.PathValue("did"))
		if err != nil {
			return nil, err
		}
		h, err := shardstore.ParseHash(r.PathValue("hash"))
		if err != nil {
			return nil, err
		}
		if o := r.URL.Query().Get("owner"); o != "" {
			owner, err := identity.ParseDID(o)
			if err != nil {
				return nil, err
			}
			return objects.ShardUse{Provider: p.String(), Hash: h.String(), Owner: owner.String(),
				Refs: objects.ShardRefsOf(ctx, p, storage.Hash(h), owner)}, nil
		}
		return objects.ShardUse{Provider: p.String(), Hash: h.String(), Refs: objects.ShardRefs(ctx, p, storage.Hash(h))}, nil
	}))
	n.mountPrivate()
	a.HandleJSON("GET /v1/prices", n.query(func(ctx *ledger.Context, r *http.Request) (any, error) {
		return market.Prices(ctx), nil
	}))
	a.HandleJSON("GET /v1/prices/history", n.query(listPriceHistory))
	n.mountAccess()
}

func idStrings(ids []uint64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatUint(id, 10)
	}
	return out
}
