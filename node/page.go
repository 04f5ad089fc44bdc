package node

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// maxLeaseScan bounds the leases one page of GET /v1/leases reads while
// its filters skip them, so that a filter that matches little still costs
// a bounded amount; the page then ends early with a next cursor.
const maxLeaseScan = 10 * api.MaxPageLimit

func badCursor(after, what string) error {
	return errs.E(errs.Invalid, "after %q is not %s: pass the next cursor of the previous page", after, what)
}

func listProviders(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	var from *identity.Address
	if after != "" {
		a, err := identity.ParseDID(after)
		if err != nil {
			return nil, badCursor(after, "a provider's did:key")
		}
		from = &a
	}
	ps, more, err := market.ProvidersAfter(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[market.Provider]{Items: ps}
	if more && len(ps) > 0 {
		page.Next = ps[len(ps)-1].Operator.String()
	}
	return page, nil
}

// leaseStates are the values of GET /v1/leases?state=: a lease state, or
// "open" for pending, active and grace.
var leaseStates = map[string][]string{
	client.StateOpen:    {market.LeasePending, market.LeaseActive, market.LeaseGrace},
	market.LeasePending: {market.LeasePending},
	market.LeaseActive:  {market.LeaseActive},
	market.LeaseGrace:   {market.LeaseGrace},
	market.LeaseClosed:  {market.LeaseClosed},
}

// listLeases answers GET /v1/leases: the leases of ?consumer= or
// ?provider= (both: the consumer's with that provider), optionally only
// those in ?state= and of ?class=, by id, without their SLA windows (GET
// /v1/leases/{id} has them).
func listLeases(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var consumer, provider *identity.Address
	for name, p := range map[string]**identity.Address{"consumer": &consumer, "provider": &provider} {
		if v := q.Get(name); v != "" {
			a, err := identity.ParseDID(v)
			if err != nil {
				return nil, err
			}
			*p = &a
		}
	}
	if consumer == nil && provider == nil {
		return nil, errs.E(errs.Invalid, "list leases with ?consumer=DID or ?provider=DID (or both)")
	}
	var states []string
	if s := q.Get("state"); s != "" {
		if states = leaseStates[s]; states == nil {
			return nil, errs.E(errs.Invalid, "state %q is not one of open, pending, active, grace and closed", s)
		}
	}
	class := q.Get("class")
	if class != "" && class != market.ClassStorage && class != market.ClassCompute {
		return nil, errs.E(errs.Invalid, "class %q is not storage or compute", class)
	}
	var cursor uint64
	if after != "" {
		if cursor, err = strconv.ParseUint(after, 10, 64); err != nil {
			return nil, badCursor(after, "a lease id")
		}
	}
	who, asProvider := consumer, false
	if who == nil {
		who, asProvider = provider, true
	}
	page := api.Page[*market.LeaseView]{Items: []*market.LeaseView{}}
	scanned, more := 0, true
	for len(page.Items) < limit && scanned < maxLeaseScan && more {
		var ids []uint64
		// Ids come a full page at a time whatever the limit: reading
		// the index is cheap, and each batch walks it from its start.
		ids, more, err = market.LeaseIDsAfter(ctx, *who, asProvider, cursor, api.MaxPageLimit)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			l, err := market.GetLease(ctx, id)
			if err != nil {
				return nil, err
			}
			cursor, scanned = id, scanned+1
			if (provider != nil && l.Provider != *provider) || (states != nil && !slices.Contains(states, l.State)) || (class != "" && l.Class != class) {
				continue
			}
			l.Windows = nil
			page.Items = append(page.Items, l)
			if len(page.Items) == limit {
				more = more || i < len(ids)-1
				break
			}
		}
	}
	if more {
		page.Next = strconv.FormatUint(cursor, 10)
	}
	return page, nil
}

func listObjects(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	owner := r.URL.Query().Get("owner")
	if owner == "" {
		return nil, errs.E(errs.Invalid, "list objects with ?owner=DID")
	}
	addr, err := identity.ParseDID(owner)
	if err != nil {
		return nil, err
	}
	var from *storage.ID
	if after != "" {
		id, err := storage.ParseID(after)
		if err != nil {
			return nil, badCursor(after, "an object ID")
		}
		from = &id
	}
	os, more, err := objects.ObjectsAfter(ctx, addr, from, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[objects.ObjectView]{Items: os}
	if more && len(os) > 0 {
		page.Next = os[len(os)-1].ID
	}
	return page, nil
}

func listDeployments(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	owner := r.URL.Query().Get("owner")
	if owner == "" {
		return nil, errs.E(errs.Invalid, "list deployments with ?owner=DID")
	}
	addr, err := identity.ParseDID(owner)
	if err != nil {
		return nil, err
	}
	var from uint64
	if after != "" {
		if from, err = strconv.ParseUint(after, 10, 64); err != nil {
			return nil, badCursor(after, "a deployment id")
		}
	}
	ds, more, err := functions.DeploymentsAfter(ctx, addr, from, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[functions.Deployment]{Items: ds}
	if more && len(ds) > 0 {
		page.Next = strconv.FormatUint(ds[len(ds)-1].ID, 10)
	}
	return page, nil
}

// listReplicas answers GET /v1/providers/{did}/replicas: the replicas the
// provider holds now (bounded by its capacity), by deployment then lease;
// the cursor is "DEPLOYMENT-LEASE".
func listReplicas(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	addr, err := identity.ParseDID(r.PathValue("did"))
	if err != nil {
		return nil, err
	}
	var dep, lease uint64
	if after != "" {
		d, l, ok := strings.Cut(after, "-")
		var err1, err2 error
		dep, err1 = strconv.ParseUint(d, 10, 64)
		lease, err2 = strconv.ParseUint(l, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, badCursor(after, "DEPLOYMENT-LEASE")
		}
	}
	all, err := functions.ReplicasOf(ctx, addr)
	if err != nil {
		return nil, err
	}
	i := 0
	if after != "" {
		i = len(all)
		for j, a := range all {
			if a.Deployment > dep || a.Deployment == dep && a.Lease > lease {
				i = j
				break
			}
		}
	}
	end := min(i+limit, len(all))
	page := api.Page[functions.Assignment]{Items: all[i:end]}
	if end < len(all) {
		last := all[end-1]
		page.Next = strconv.FormatUint(last.Deployment, 10) + "-" + strconv.FormatUint(last.Lease, 10)
	}
	return page, nil
}

// listPriceHistory answers GET /v1/prices/history?class=: without
// ?after=, the latest limit epochs (the last page; next is empty); with
// ?after=EPOCH, the epochs after it, oldest first.
func listPriceHistory(ctx *ledger.Context, r *http.Request) (any, error) {
	limit, after, err := api.PageParams(r)
	if err != nil {
		return nil, err
	}
	class := r.URL.Query().Get("class")
	if class != market.ClassStorage && class != market.ClassCompute {
		return nil, errs.E(errs.Invalid, "pass ?class=storage or ?class=compute")
	}
	if after == "" {
		return api.Page[market.PricePoint]{Items: market.PriceHistory(ctx, class, limit)}, nil
	}
	from, err := strconv.ParseInt(after, 10, 64)
	if err != nil || from < 0 {
		return nil, badCursor(after, "an epoch")
	}
	ps, more, err := market.PriceHistoryAfter(ctx, class, from, limit)
	if err != nil {
		return nil, err
	}
	page := api.Page[market.PricePoint]{Items: ps}
	if more && len(ps) > 0 {
		page.Next = strconv.FormatInt(ps[len(ps)-1].Epoch, 10)
	}
	return page, nil
}
