package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/errs"
)

// AuditQuery chooses leaves of the audit log (GET /v1/audit/events). Set
// fields AND together; From (inclusive) and To (exclusive) are block
// heights or RFC 3339 times.
type AuditQuery struct {
	Account  string `json:"account,omitempty"`  // did:key
	Resource string `json:"resource,omitempty"` // lease:ID, deployment:ID or object:ID
	Kind     string `json:"kind,omitempty"`     // an event type (bank.transfer), or tx
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
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

// ProvenRecord is one leaf of an audit export: the query's item, the exact
// leaf bytes, and the inclusion proof of the leaf in the export's
// checkpoint, already checked.
type ProvenRecord struct {
	auditindex.Item
	Leaf  []byte   `json:"leaf"`
	Proof [][]byte `json:"proof"`
}

// ExportAudit walks every leaf q chooses and calls each, in log order, with
// the leaf and its inclusion proof in the tree of cp.Size leaves, after
// checking the proof against cp.Root and that the leaf says what the item
// says. Leaves at or past cp.Size cannot be proven against cp: it counts
// and skips them. progress, if set, is called with the records done so
// far. It fails with Internal if the node's proof or leaf does not check;
// nothing is passed to each for that leaf.
func (c *Client) ExportAudit(ctx context.Context, q AuditQuery, cp audit.Checkpoint, each func(ProvenRecord) error, progress func(done int)) (skipped int, err error) {
	o := PageOptions{Limit: api.MaxPageLimit}
	done := 0
	for {
		p, err := c.AuditEventsPage(ctx, q, o)
		if err != nil {
			return skipped, err
		}
		for _, it := range p.Items {
			if it.Index >= cp.Size {
				skipped++
				continue
			}
			r, err := c.provenRecord(ctx, it, cp)
			if err != nil {
				return skipped, err
			}
			if err := each(r); err != nil {
				return skipped, err
			}
			done++
			if progress != nil {
				progress(done)
			}
		}
		if p.Next == "" {
			return skipped, nil
		}
		if p.Next == o.After {
			return skipped, errs.E(errs.Internal, "the node's audit events gave the cursor %q twice", p.Next)
		}
		o.After = p.Next
	}
}

func (c *Client) provenRecord(ctx context.Context, it auditindex.Item, cp audit.Checkpoint) (ProvenRecord, error) {
	e, err := c.AuditEntry(ctx, it.Index)
	if err != nil {
		return ProvenRecord{}, err
	}
	p, err := c.AuditInclusion(ctx, it.Index, cp.Size)
	if err != nil {
		return ProvenRecord{}, err
	}
	h := rfc6962.DefaultHasher
	if err := proof.VerifyInclusion(h, it.Index, cp.Size, h.HashLeaf(e.Leaf), p.Hashes, cp.Root); err != nil {
		return ProvenRecord{}, errs.E(errs.Internal, "the node's proof of audit entry %d does not lead to the checkpoint's root (%v): ask another node", it.Index, err)
	}
	if err := sameLeaf(it, e.Leaf); err != nil {
		return ProvenRecord{}, errs.E(errs.Internal, "audit entry %d: the node's index says other than its log (%v): ask another node", it.Index, err)
	}
	return ProvenRecord{Item: it, Leaf: e.Leaf, Proof: p.Hashes}, nil
}

// sameLeaf checks that a proven leaf says what the index's item says.
func sameLeaf(it auditindex.Item, raw []byte) error {
	e, err := leaf.Decode(raw)
	if err != nil {
		return err
	}
	switch {
	case string(e.Kind) != it.Kind:
		return fmt.Errorf("kind %s, item %s", e.Kind, it.Kind)
	case e.Tx != nil && (e.Tx.Height != it.Height || hex.EncodeToString(e.Tx.Hash[:]) != it.Tx):
		return fmt.Errorf("transaction %x at height %d, item %s at %d", e.Tx.Hash, e.Tx.Height, it.Tx, it.Height)
	case e.Event != nil && (e.Event.Height != it.Height || e.Event.Type != it.Type || len(e.Event.Attrs) != len(it.Attrs)):
		return fmt.Errorf("event %s at height %d, item %s at %d", e.Event.Type, e.Event.Height, it.Type, it.Height)
	}
	if e.Event != nil {
		for i, a := range e.Event.Attrs {
			if a.Key != it.Attrs[i].Key || a.Value != it.Attrs[i].Value {
				return fmt.Errorf("attribute %d is %s=%s, item %s=%s", i, a.Key, a.Value, it.Attrs[i].Key, it.Attrs[i].Value)
			}
		}
	}
	return nil
}
