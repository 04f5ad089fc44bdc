package compute

import (
	"context"
	"strconv"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
)

// NewRESTLedger returns a Ledger, and a Clock, that reads a node's REST API
// through c:
//
//	GET /v1/providers/{did}/replicas   Assignments
//	GET /v1/functions/{id}             Deployment
//	GET /v1/functions/{id}/payable     Payable: 200, or a 402 problem
//	GET /v1/status, /v1/functions/params   the Clock
//
// and sends reports with client.Send, which waits for the commit.
func NewRESTLedger(c *client.Client) Ledger { return &restLedger{c: c} }

type restLedger struct{ c *client.Client }

var _ Clock = (*restLedger)(nil)

func (l *restLedger) Assignments(ctx context.Context, provider identity.Address) ([]functions.Assignment, error) {
	return l.c.Replicas(ctx, provider.String())
}

func (l *restLedger) Deployment(ctx context.Context, id uint64) (*functions.DeploymentView, error) {
	var v functions.DeploymentView
	if err := l.c.Get(ctx, "/v1/functions/"+strconv.FormatUint(id, 10), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (l *restLedger) Payable(ctx context.Context, id uint64) error {
	return l.c.Get(ctx, "/v1/functions/"+strconv.FormatUint(id, 10)+"/payable", nil)
}

func (l *restLedger) Report(ctx context.Context, key *identity.Key, r *functions.UsageReport) error {
	_, err := l.c.Send(ctx, key, r, client.SendOptions{})
	return err
}

func (l *restLedger) BlockTime(ctx context.Context) (time.Time, error) {
	st, err := l.c.Status(ctx)
	return st.LatestBlockTime, err
}

func (l *restLedger) Params(ctx context.Context) (functions.Params, error) {
	var p functions.Params
	return p, l.c.Get(ctx, "/v1/functions/params", &p)
}
