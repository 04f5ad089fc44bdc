package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
)

// anchorEvery is how often a provider agent looks for finished epochs of
// its access log to anchor: a few queries a minute, against epochs of a
// minute or more.
const anchorEvery = 5 * time.Second

// anchorer anchors one storage provider's access log, from its agent's
// ticks (roles.provide).
type anchorer struct {
	next time.Time
}

// anchorAccess anchors every finished epoch of provider name's access log
// that has records and no anchor yet (provider.AccessLog.AnchorDue), at
// most once every anchorEvery. It does nothing for a provider this node
// does not run as a storage provider.
func (r *roles) anchorAccess(ctx context.Context, a *anchorer, name string, key *identity.Key, log *slog.Logger) {
	now := time.Now()
	if now.Before(a.next) {
		return
	}
	a.next = now.Add(anchorEvery)
	svc := r.n.storageService(name)
	if svc == nil || svc.AccessLog() == nil {
		return
	}
	n, err := svc.AccessLog().AnchorDue(ctx, func(ctx context.Context, m *objects.Anchor) error {
		_, err := r.c.Send(ctx, key, m, client.SendOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		log.Warn("cannot anchor the access log", "err", err)
	}
	if n > 0 {
		log.Info("access log anchored", "epochs", n)
	}
}
