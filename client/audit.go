package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/stratus-cloud/stratus/audit"
)

// AuditEntry returns entry index of the audit log: the exact bytes hashed as
// that leaf (package audit/leaf decodes them). It fails with NotFound past
// the end of the log, and Internal if the node's copy does not match its
// tree.
func (c *Client) AuditEntry(ctx context.Context, index uint64) (audit.Record, error) {
	var r audit.Record
	return r, c.Get(ctx, "/v1/audit/entries/"+strconv.FormatUint(index, 10), &r)
}

// AuditInclusion returns the proof that entry index is in the log of size
// entries; size 0 means the current size. It fails with Invalid unless
// index < size <= the log's size.
func (c *Client) AuditInclusion(ctx context.Context, index, size uint64) (audit.Inclusion, error) {
	q := url.Values{"index": {strconv.FormatUint(index, 10)}}
	if size > 0 {
		q.Set("size", strconv.FormatUint(size, 10))
	}
	var p audit.Inclusion
	return p, c.Get(ctx, "/v1/audit/proof/inclusion?"+q.Encode(), &p)
}

// AuditTxInclusion returns the proof that the transaction whose hash is
// txHash (hex) is in the log at its current size. It fails with NotFound if
// no block has executed the transaction.
func (c *Client) AuditTxInclusion(ctx context.Context, txHash string) (audit.Inclusion, error) {
	var p audit.Inclusion
	return p, c.Get(ctx, "/v1/audit/proof/inclusion?"+url.Values{"tx": {txHash}}.Encode(), &p)
}

// AuditConsistency returns the proof that the log of from entries is a
// prefix of the log of to entries; to 0 means the current size. It fails
// with Invalid unless from <= to <= the log's size.
func (c *Client) AuditConsistency(ctx context.Context, from, to uint64) (audit.Consistency, error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	if to > 0 {
		q.Set("to", strconv.FormatUint(to, 10))
	}
	var p audit.Consistency
	return p, c.Get(ctx, "/v1/audit/proof/consistency?"+q.Encode(), &p)
}

// AuditRoot returns the log's root at size entries; size 0 means the
// current size (the empty log's root is rfc6962's EmptyRoot). It fails with
// Invalid past the log's size.
func (c *Client) AuditRoot(ctx context.Context, size uint64) (audit.Head, error) {
	path := "/v1/audit/root"
	if size > 0 {
		path += "?size=" + strconv.FormatUint(size, 10)
	}
	var h audit.Head
	return h, c.Get(ctx, path, &h)
}

// AuditCheckpoint returns the latest checkpoint the validators' commit
// signatures bind: the log's size and root, the inputs of the app hash that
// folds them in, and the signed header that carries that app hash. It fails
// with NotFound before the chain's second block.
func (c *Client) AuditCheckpoint(ctx context.Context) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	return cp, c.Get(ctx, "/v1/audit/checkpoint", &cp)
}
