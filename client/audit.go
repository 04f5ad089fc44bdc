package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/bundle"
	"github.com/stratus-cloud/stratus/errs"
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
// txHash (hex) is in the log at the latest checkpoint's size. It fails with
// NotFound if no block has executed the transaction, and Conflict if the
// block that did is newer than the latest checkpoint (try again after the
// next block; AuditTxBundle waits for it).
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

// auditPoll is how often AuditTxBundle asks again while it waits for a
// block: about a devnet's block time, a few requests on a slower chain.
const auditPoll = 200 * time.Millisecond

// AuditBundle returns entry index with its inclusion proof to the latest
// checkpoint, as one bundle that package bundle verifies offline. The entry
// is the one the node checked against its tree; nothing in the bundle is
// trusted until bundle.Verify says so. An entry of the newest block is in
// no checkpoint until the next block, so it waits for that block, until ctx
// ends (then a Timeout error). It fails with NotFound past the end of the
// log, and Internal if the node's copy of the entry does not match its
// tree.
func (c *Client) AuditBundle(ctx context.Context, index uint64) (bundle.Bundle, error) {
	return waitCheckpoint(ctx, fmt.Sprintf("entry %d", index), func() (bundle.Bundle, error) { return c.auditBundle(ctx, index) })
}

// waitCheckpoint calls f until it stops failing with Conflict (not in a
// checkpoint yet) or Unavailable (the node is a moment behind), or ctx ends.
func waitCheckpoint(ctx context.Context, what string, f func() (bundle.Bundle, error)) (bundle.Bundle, error) {
	for {
		b, err := f()
		if !errs.Is(err, errs.Conflict) && !errs.Is(err, errs.Unavailable) {
			return b, err
		}
		select {
		case <-ctx.Done():
			return bundle.Bundle{}, errs.E(errs.Timeout, "%s: still not in a checkpoint (%v): is the chain making blocks?", what, err)
		case <-time.After(auditPoll):
		}
	}
}

func (c *Client) auditBundle(ctx context.Context, index uint64) (bundle.Bundle, error) {
	cp, err := c.AuditCheckpoint(ctx)
	if err != nil {
		return bundle.Bundle{}, err
	}
	rec, err := c.AuditEntry(ctx, index)
	if err != nil {
		return bundle.Bundle{}, err
	}
	if index >= cp.Size {
		return bundle.Bundle{}, errs.E(errs.Conflict, "entry %d is not in a checkpoint yet (the latest covers %d entries): try again after the next block", index, cp.Size)
	}
	p, err := c.AuditInclusion(ctx, index, cp.Size)
	if err != nil {
		return bundle.Bundle{}, err
	}
	b, err := bundle.New(rec, p, cp)
	if err != nil {
		return bundle.Bundle{}, errs.E(errs.Internal, "the node's answers do not fit together: %v", err)
	}
	return b, nil
}

// AuditTxBundle returns the bundle of the transaction whose hash is txHash
// (hex): its tx entry, proved to the latest checkpoint. A transaction
// executed in the newest block is in no checkpoint until the next block, so
// it waits for that block, until ctx ends. It fails with NotFound if the
// node knows no such committed transaction.
func (c *Client) AuditTxBundle(ctx context.Context, txHash string) (bundle.Bundle, error) {
	return waitCheckpoint(ctx, "transaction "+txHash, func() (bundle.Bundle, error) { return c.auditTxBundle(ctx, txHash) })
}

func (c *Client) auditTxBundle(ctx context.Context, txHash string) (bundle.Bundle, error) {
	p, err := c.AuditTxInclusion(ctx, txHash)
	if errs.Is(err, errs.NotFound) {
		// The node's query state can trail the commit a send waited for
		// by a moment: a transaction the node has committed is worth
		// waiting for.
		if _, terr := c.Tx(ctx, txHash); terr == nil {
			return bundle.Bundle{}, errs.E(errs.Unavailable, "transaction %s is committed but not yet in the node's audit log", txHash)
		}
	}
	if err != nil {
		return bundle.Bundle{}, err
	}
	// The checkpoint may have moved on since the proof: auditBundle proves
	// the entry again to the one it fetches.
	return c.auditBundle(ctx, p.Index)
}

// AuditAdvance fetches the latest checkpoint and checks it against the
// validator set t trusts (bundle.VerifyCheckpoint) and, if the caller
// already trusts a checkpoint last, for consistency with it: the node's
// consistency proof is checked here, with transparency-dev/merkle. It
// returns the checkpoint to trust from now on, which is last itself when
// the node's is not newer.
//
// A checkpoint that fails a check is a *bundle.CheckError; one that
// contradicts last is bundle.ErrInconsistent (a fork, or a rewritten log);
// a node behind last is bundle.ErrBehind.
func (c *Client) AuditAdvance(ctx context.Context, t *bundle.Trusted, last *audit.Checkpoint) (audit.Checkpoint, error) {
	cp, err := c.AuditCheckpoint(ctx)
	if err != nil {
		return audit.Checkpoint{}, err
	}
	if _, err := bundle.VerifyCheckpoint(cp, t); err != nil {
		return audit.Checkpoint{}, err
	}
	if last == nil {
		return cp, nil
	}
	var p audit.Consistency
	if cp.Height > last.Height && cp.Size >= last.Size {
		if p, err = c.AuditConsistency(ctx, last.Size, cp.Size); err != nil {
			return audit.Checkpoint{}, err
		}
	}
	if err := bundle.Consistent(*last, cp, p); err != nil {
		return audit.Checkpoint{}, err
	}
	return cp, nil
}
