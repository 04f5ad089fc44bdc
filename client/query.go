package client

import (
	"context"
	"net/url"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/auditindex"
)

// AuditQuery chooses leaves of the audit log (GET /v1/audit/events). Set
// fields AND together; From (inclusive) and To (exclusive) are block
// heights or RFC 3339 times.
type AuditQuery struct {
	Account  string // did:key
	Resource string // lease:ID, deployment:ID or object:ID
	Kind     string // an event type (bank.transfer), or tx
	From, To string
}

func (q AuditQuery) path() string {
	v := url.Values{}
	for k, s := range map[string]string{"account": q.Account, "resource": q.Resource, "kind": q.Kind, "from": q.From, "to": q.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return "/v1/audit/events"
	}
	return "/v1/audit/events?" + v.Encode()
}

// AuditEventsPage returns one page of the leaves q chooses, in log order.
// It fails with Invalid for a malformed filter or cursor.
func (c *Client) AuditEventsPage(ctx context.Context, q AuditQuery, o PageOptions) (api.Page[auditindex.Item], error) {
	return getPage[auditindex.Item](ctx, c, q.path(), o)
}

// AuditEvents returns every leaf q chooses, following the pages.
func (c *Client) AuditEvents(ctx context.Context, q AuditQuery) ([]auditindex.Item, error) {
	return getAll[auditindex.Item](ctx, c, q.path())
}

func accountTxsPath(did string) string { return "/v1/accounts/" + url.PathEscape(did) + "/txs" }

// AccountTxsPage returns one page of an account's history, newest first:
// the transactions it signed or whose events name it, with their memos.
// It fails with Invalid for a malformed did:key or cursor.
func (c *Client) AccountTxsPage(ctx context.Context, did string, o PageOptions) (api.Page[auditindex.AccountTx], error) {
	return getPage[auditindex.AccountTx](ctx, c, accountTxsPath(did), o)
}

// AccountTxs returns an account's whole history, newest first.
func (c *Client) AccountTxs(ctx context.Context, did string) ([]auditindex.AccountTx, error) {
	return getAll[auditindex.AccountTx](ctx, c, accountTxsPath(did))
}
