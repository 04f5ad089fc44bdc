package node

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
)

// The node's background roles: the prober, run by validators, and the
// provider agent, run for each provider key the node holds. Both act
// through the node's own REST API with signed transactions, like any other
// client, so everything they do is on the ledger.

// probeTimeout bounds one health probe; a slower answer counts as down.
const probeTimeout = 2 * time.Second

// roles runs the background roles until ctx ends.
type roles struct {
	n      *Node
	log    *slog.Logger
	c      *client.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startRoles starts the roles, acting through the API at apiURL: the node's
// own, or for a storage home the validator's.
func (n *Node) startRoles(apiURL, passphrase string) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &roles{n: n, log: n.log.With("component", "roles"), c: client.New(apiURL), cancel: cancel}
	n.roles = r
	ks := identity.OpenKeystore(KeysDir(n.Home))
	if n.Config.Prober.Enabled && n.app != nil {
		key, err := ks.Load(n.Config.Prober.Key, passphrase)
		if err != nil {
			r.log.Warn("prober disabled: cannot load its key", "key", n.Config.Prober.Key, "err", err)
		} else {
			r.wg.Add(1)
			go r.probe(ctx, key)
		}
	}
	for _, name := range n.Config.Providers {
		key, err := ks.Load(name, passphrase)
		if err != nil {
			r.log.Warn("provider agent disabled: cannot load its key", "key", name, "err", err)
			continue
		}
		r.wg.Add(1)
		go r.provide(ctx, name, key)
	}
}

func (r *roles) stop() {
	r.cancel()
	r.wg.Wait()
}

// tick calls f every d until ctx ends.
func tick(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// provide is a provider's agent: it acknowledges the leases the market
// assigns to the provider, and keeps the provider's registered endpoint
// pointing at this node. For a storage provider it also runs the prover
// and the repair worker (proofs.go, repair.go).
func (r *roles) provide(ctx context.Context, name string, key *identity.Key) {
	defer r.wg.Done()
	log := r.log.With("provider", name)
	addr := key.Address()
	snd := &sender{c: r.c, key: key}
	endpointChecked := false
	var anchors anchorer
	// A put waits for its leases to be acknowledged before it can commit
	// its object: on a validator, where the check is a read of local
	// state, look every block interval; over the API, every second.
	every := time.Second
	if r.n.app != nil {
		every = min(every, max(time.Duration(r.n.Config.Consensus.TimeoutCommit), 100*time.Millisecond))
	}
	if r.n.runsStorage(name) {
		r.startStorageAgents(ctx, name, addr, snd, log, every)
	}
	tick(ctx, every, func() {
		if !endpointChecked {
			want := r.n.ProviderEndpoint(name)
			if p, err := r.c.Provider(ctx, addr.String()); err == nil && p.Endpoint != want {
				if _, err := snd.send(ctx, &market.UpdateProvider{Endpoint: want}); err != nil {
					log.Warn("cannot update the provider's endpoint", "err", err)
					return
				}
				log.Info("provider endpoint updated", "endpoint", want)
			}
			endpointChecked = true
		}
		r.anchorAccess(ctx, &anchors, name, key, log)
		ids, err := r.pendingLeases(ctx, addr)
		if err != nil {
			log.Warn("cannot list pending leases", "err", err)
			return
		}
		for _, id := range ids {
			if _, err := snd.send(ctx, &market.AckLease{ID: id}); err != nil {
				if ctx.Err() == nil {
					log.Warn("cannot acknowledge lease", "lease", id, "err", err)
				}
				return
			}
			log.Info("lease acknowledged", "lease", id)
		}
	})
}

// pendingLeases returns the provider's leases that wait for its
// acknowledgement: from the node's state on a validator, else over the API.
func (r *roles) pendingLeases(ctx context.Context, a identity.Address) ([]uint64, error) {
	if r.n.app != nil {
		return r.n.pendingLeases(a)
	}
	ls, err := r.c.Leases(ctx, a.String(), true)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, l := range ls {
		if l.State == market.LeasePending {
			ids = append(ids, l.ID)
		}
	}
	return ids, nil
}

func (n *Node) pendingLeases(a identity.Address) ([]uint64, error) {
	ctx, snap, err := n.queryContext()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	return market.PendingFor(ctx, a)
}

// ProviderEndpoint is the URL a provider run by this node is reached at:
// a storage provider's shard API, a compute provider's function server, or
// else a health route on the node's API.
func (n *Node) ProviderEndpoint(name string) string {
	if u := n.StorageURL(name); u != "" {
		return u
	}
	if u := n.ComputeURL(name); u != "" {
		return u
	}
	return n.apiURL + "/providers/" + name
}

// probe is the validator's prober: it checks every provider's health
// endpoint several times an epoch and reports the counts on the ledger, the
// current epoch as it goes and each finished epoch once more at its end.
func (r *roles) probe(ctx context.Context, key *identity.Key) {
	defer r.wg.Done()
	log := r.log.With("role", "prober")
	hc := &http.Client{Timeout: probeTimeout}
	type counts struct{ ok, total uint32 }
	var (
		epoch    int64 = -1
		tally          = map[identity.Address]*counts{}
		rounds   int
		reported int
	)
	// A report must count more probes than the last one for its epoch.
	report := func(e int64) {
		if len(tally) == 0 || rounds == reported {
			return
		}
		reported = rounds
		rep := &market.ProbeReport{Epoch: e}
		for p, c := range tally {
			rep.Results = append(rep.Results, market.ProbeRow{Provider: p, OK: c.ok, Total: c.total})
		}
		if _, err := r.c.Send(ctx, key, rep, client.SendOptions{}); err != nil && ctx.Err() == nil {
			log.Warn("probe report refused", "epoch", e, "err", err)
		}
	}
	interval := time.Duration(0)
	for ctx.Err() == nil {
		qctx, snap, err := r.n.queryContext()
		if err != nil {
			log.Warn("cannot read the chain", "err", err)
			time.Sleep(time.Second)
			continue
		}
		params := market.GetParams(qctx)
		now := market.EpochOf(qctx, qctx.Time.UnixMilli())
		provs, err := market.Providers(qctx)
		snap.Close()
		if err != nil {
			log.Warn("cannot list providers", "err", err)
		}
		if interval == 0 {
			interval = max(time.Duration(params.EpochSeconds)*time.Second/6, time.Second)
		}
		if now != epoch {
			if epoch >= 0 {
				report(epoch) // the finished epoch's final counts
			}
			epoch, tally, rounds, reported = now, map[identity.Address]*counts{}, 0, 0
		}
		for _, p := range provs {
			c := tally[p.Operator]
			if c == nil {
				c = &counts{}
				tally[p.Operator] = c
			}
			c.total++
			if healthy(ctx, hc, p.Endpoint) {
				c.ok++
			}
		}
		rounds++
		if rounds%2 == 0 {
			report(epoch)
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

func healthy(ctx context.Context, hc *http.Client, endpoint string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
