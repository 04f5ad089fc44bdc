// Package storeclient is the client side of Stratus object storage: it puts
// a file on the storage providers (erasure-coded, one storage lease per
// provider, the manifest committed on the ledger), gets it back verified
// from any k healthy providers, and lists, describes and removes objects.
//
// It talks to a node's REST API for the ledger (package client) and to the
// providers' shard APIs directly (package shardserver); the coding and the
// verification are package storage's.
package storeclient

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/shardserver"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// Client puts and gets objects. It is safe for concurrent use.
type Client struct {
	api    *client.Client
	shards *shardserver.Client
	log    *slog.Logger

	mu    sync.Mutex
	speed map[string]float64 // provider endpoint -> EWMA bytes per second of shard reads
	lat   float64            // EWMA seconds of a shard read, any provider
}

// New returns a Client that reaches the ledger through api.
func New(api *client.Client) *Client {
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}
	return &Client{api: api, shards: &shardserver.Client{HTTP: hc}, log: slog.New(slog.DiscardHandler), speed: map[string]float64{}}
}

// SetLogger sends the client's warnings (a provider routed around, say) to l.
func (c *Client) SetLogger(l *slog.Logger) { c.log = l }

// API returns the ledger client.
func (c *Client) API() *client.Client { return c.api }

// Placement is what one provider holds of an object.
type Placement struct {
	Provider string `json:"provider"`
	Endpoint string `json:"endpoint"`
	Shards   int    `json:"shards"`
	Bytes    int64  `json:"bytes"`
}

// LeaseInfo is one of the storage leases that pay for an object.
type LeaseInfo struct {
	ID       uint64 `json:"id,string"`
	Provider string `json:"provider"`
	State    string `json:"state"`
	Quantity uint64 `json:"quantity,string"`
	// Bytes of the lease this object uses.
	Bytes uint64 `json:"bytes,string"`
	// Price in nano-ustr per GiB-second and Rate in nano-ustr per second.
	Price     uint64 `json:"price,string"`
	Rate      uint64 `json:"rate,string"`
	Deposited uint64 `json:"deposited,string"`
	Escrow    uint64 `json:"escrow,string"`
	// Paid is what has left escrow for the provider so far.
	Paid        uint64 `json:"paid,string"`
	Refunded    uint64 `json:"refunded,string"`
	SecondsLeft int64  `json:"seconds_left"`
}

// Info describes an object: its record, who holds it, and what it costs.
type Info struct {
	ID        string         `json:"id"`
	Owner     string         `json:"owner"`
	Size      int64          `json:"size"`
	Params    storage.Params `json:"params"`
	Segments  int            `json:"segments"`
	Public    bool           `json:"public"`
	CreatedMs int64          `json:"created_ms"`
	ExpiresMs int64          `json:"expires_ms,omitempty"`
	// PaidUntilMs is when the first of the object's leases runs out of
	// escrow at its current rate (objects.ObjectView.PaidUntilMs): the
	// ledger drops the object then unless it is renewed. 0 for the empty
	// object, which has no leases.
	PaidUntilMs int64            `json:"paid_until_ms"`
	Placement   []Placement      `json:"placement"`
	Leases      []LeaseInfo      `json:"leases"`
	Rate        uint64           `json:"rate,string"` // nano-ustr per second, all leases
	Paid        uint64           `json:"paid,string"` // ustr, all leases
	Escrow      uint64           `json:"escrow,string"`
	Manifest    storage.Manifest `json:"-"`
}

// Object fetches an object's record and decodes and checks its manifest: it
// must hash to the ID asked for, so a node cannot substitute another object.
func (c *Client) Object(ctx context.Context, id string) (*objects.ObjectView, *storage.Manifest, error) {
	want, err := storage.ParseID(id)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.api.Object(ctx, want.String())
	if err != nil {
		return nil, nil, err
	}
	m, err := storage.DecodeManifest(v.Manifest)
	if err != nil {
		return nil, nil, errs.E(errs.Internal, "the node returned a manifest for %s that does not decode: %v", id, err)
	}
	if m.ID() != want {
		return nil, nil, errs.E(errs.Internal, "the node returned a manifest that hashes to %s, not %s: use another node", m.ID(), want)
	}
	return &v, m, nil
}

// endpoints maps provider DIDs to their shard API URLs.
func (c *Client) endpoints(ctx context.Context) (map[string]market.Provider, error) {
	ps, err := c.api.Providers(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]market.Provider, len(ps))
	for _, p := range ps {
		out[p.Operator.String()] = p
	}
	return out, nil
}

// Info describes object id.
func (c *Client) Info(ctx context.Context, id string) (*Info, error) {
	v, m, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	eps, err := c.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	in := &Info{
		ID: v.ID, Owner: v.Owner.String(), Size: v.Size, Params: m.Params, Segments: len(m.Segments),
		Public: v.Public, CreatedMs: v.CreatedMs, ExpiresMs: v.ExpiresMs, PaidUntilMs: v.PaidUntilMs, Manifest: *m,
		Placement: []Placement{}, Leases: []LeaseInfo{},
	}
	byProv := map[string]*Placement{}
	for _, seg := range m.Segments {
		for _, sh := range seg.Shards {
			p := byProv[sh.Provider]
			if p == nil {
				p = &Placement{Provider: sh.Provider, Endpoint: eps[sh.Provider].Endpoint}
				byProv[sh.Provider] = p
			}
			p.Shards++
			p.Bytes += sh.Size
		}
	}
	for _, p := range byProv {
		in.Placement = append(in.Placement, *p)
	}
	sort.Slice(in.Placement, func(i, j int) bool { return in.Placement[i].Provider < in.Placement[j].Provider })
	for _, sh := range v.Leases {
		l, err := c.api.Lease(ctx, sh.Lease)
		if err != nil {
			return nil, err
		}
		li := LeaseInfo{
			ID: l.ID, Provider: l.Provider.String(), State: l.State, Quantity: l.Quantity, Bytes: sh.Bytes,
			Price: l.Price, Rate: l.Rate, Deposited: l.Deposited, Escrow: l.Escrow, Paid: l.Settled,
			Refunded: l.Refunded + l.SLARefunded, SecondsLeft: l.SecondsLeft,
		}
		in.Leases = append(in.Leases, li)
		if l.State != market.LeaseClosed {
			in.Rate += l.Rate
		}
		in.Paid += l.Settled
		in.Escrow += l.Escrow
	}
	return in, nil
}

// List returns an owner's objects.
func (c *Client) List(ctx context.Context, owner string) ([]objects.ObjectView, error) {
	if _, err := identity.ParseDID(owner); err != nil {
		return nil, err
	}
	return c.api.Objects(ctx, owner)
}

// RemoveResult says what Remove did.
type RemoveResult struct {
	ID      string   `json:"id"`
	Tx      string   `json:"tx"`
	Height  int64    `json:"height"`
	Closed  []string `json:"closed_leases"`
	Deleted int      `json:"shards_deleted"`
	// Kept are shards another of the owner's objects still uses (a
	// provider keeps an owner's copy for the owner's own objects only);
	// Deferred are shards whose provider could not be reached, which its
	// garbage collector deletes.
	Kept     int `json:"shards_kept"`
	Deferred int `json:"shards_deferred"`
}

// Remove forgets object id: the objects/remove transaction releases its
// leases (those no other object uses close, and their remaining escrow is
// refunded), then the providers are asked to delete its shards.
func (c *Client) Remove(ctx context.Context, key *identity.Key, id string) (*RemoveResult, error) {
	v, m, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Owner != key.Address() {
		return nil, errs.E(errs.Unauthorized, "object %s is %s's, not %s's: remove it with the owner's key", v.ID, v.Owner, key.Address())
	}
	res, err := c.api.Send(ctx, key, &objects.Remove{ID: v.ID}, client.SendOptions{})
	if err != nil {
		return nil, err
	}
	out := &RemoveResult{ID: v.ID, Tx: res.Hash, Height: res.Height, Closed: []string{}}
	for _, ev := range res.Events {
		if k := objects.Events.Removed; ev.Type == k.Type {
			if s := ev.Attrs[k.Key(objects.AttrClosed)]; s != "" {
				out.Closed = strings.Split(s, ",")
			}
		}
	}
	eps, err := c.endpoints(ctx)
	if err != nil {
		out.Deferred = m.ShardCount()
		return out, nil
	}
	var shards []shardAt
	for _, seg := range m.Segments {
		for _, sh := range seg.Shards {
			shards = append(shards, shardAt{eps[sh.Provider].Endpoint, shardstore.Hash(sh.Hash)})
		}
	}
	out.Deleted, out.Kept, out.Deferred = c.deleteShards(key, shards)
	return out, nil
}

// RenewResult says what Renew did.
type RenewResult struct {
	ID      string `json:"id"`
	Seconds uint64 `json:"seconds,string"`
	// Amount is what the leases were topped up with, in ustr, all
	// together; Leases are the leases topped up.
	Amount      uint64   `json:"amount,string"`
	Leases      []uint64 `json:"leases"`
	PaidUntilMs int64    `json:"paid_until_ms"`
	Tx          string   `json:"tx"`
	Height      int64    `json:"height"`
	// Fee is what the transaction paid, in ustr.
	Fee string `json:"fee"`
	// Result is the transaction's, with its gas and fee (or, with
	// SendOptions.DryRun, the simulation's).
	Result api.TxResult `json:"-"`
}

// Renew pays for object id for d more: one objects/renew transaction, signed
// by key (any account may pay for any object), tops up each of the object's
// leases with its rate × d, rounded up to whole ustr (objects.RenewCost). It
// fails with Invalid for d under a second, NotFound for an unknown object,
// and Insufficient if key cannot pay.
func (c *Client) Renew(ctx context.Context, key *identity.Key, id string, d time.Duration, o client.SendOptions) (*RenewResult, error) {
	if d < time.Second {
		return nil, errs.E(errs.Invalid, "renew for at least a second, not %s", d)
	}
	v, _, err := c.Object(ctx, id)
	if err != nil {
		return nil, err
	}
	msg := &objects.Renew{ID: v.ID, Seconds: uint64(d / time.Second)}
	res, err := c.api.Send(ctx, key, msg, o)
	if err != nil {
		return nil, err
	}
	out := &RenewResult{ID: v.ID, Seconds: msg.Seconds, Leases: []uint64{}, Tx: res.Hash, Height: res.Height, Fee: res.Fee, Result: res}
	for _, sh := range v.Leases {
		out.Leases = append(out.Leases, sh.Lease)
	}
	for _, ev := range res.Events {
		if k := objects.Events.Renewed; ev.Type == k.Type {
			out.Amount, _ = strconv.ParseUint(ev.Attrs[k.Key(objects.AttrAmount)], 10, 64)
			until, _ := strconv.ParseUint(ev.Attrs[k.Key(objects.AttrPaidUntil)], 10, 64)
			out.PaidUntilMs = int64(until)
		}
	}
	return out, nil
}
