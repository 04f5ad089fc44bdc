package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/auditindex/pebbleindex"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/abci"
)

// AuditIndexDir is where a node keeps its audit query index. It is derived
// from the chain: delete it and the node rebuilds it from the log.
func AuditIndexDir(home string) string { return filepath.Join(home, "index", "audit") }

// Indexing bounds. A batch is whole blocks, so it may pass indexBatch by
// the rest of one block.
const (
	indexBatch    = 2000             // leaves per batch while catching up
	indexTick     = time.Second      // how often the indexer looks without a commit
	pendingBlocks = 1024             // committed blocks kept for the stream before it drops the oldest
	indexRetry    = 5 * time.Second  // pause after an error
	sseHeartbeatD = 15 * time.Second // default heartbeat of GET /v1/events
)

// auditIndexer tails the audit log into the query index, off consensus:
// Commit only wakes it. It reads a snapshot of committed state, indexes
// whole blocks in batches, and after each batch hands the blocks to the
// event stream.
type auditIndexer struct {
	n   *Node
	idx *pebbleindex.Index
	hub *eventHub
	log *slog.Logger

	wake     chan struct{}
	quit     chan struct{}
	done     sync.WaitGroup
	stopOnce sync.Once
	stopErr  error

	mu      sync.Mutex
	commits []abci.CommitInfo // committed blocks not yet streamed
}

func newAuditIndexer(n *Node, home string) (*auditIndexer, error) {
	idx, err := pebbleindex.Open(AuditIndexDir(home))
	if err != nil {
		return nil, err
	}
	x := &auditIndexer{n: n, idx: idx, log: n.log, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	cur, err := idx.Cursor()
	if err != nil {
		idx.Close()
		return nil, err
	}
	x.hub = newEventHub(idx, cur.Size, maxEventSubscribers)
	return x, nil
}

// notify is the indexer's part of App.OnCommit: it must not block.
func (x *auditIndexer) notify(c abci.CommitInfo) {
	x.mu.Lock()
	if len(x.commits) == pendingBlocks {
		x.commits = x.commits[1:]
	}
	x.commits = append(x.commits, c)
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *auditIndexer) start() {
	x.done.Add(1)
	go x.run()
}

// stop ends the indexer and closes the stream's subscribers and the index.
// Commits notified after it are ignored.
func (x *auditIndexer) stop() error {
	x.stopOnce.Do(func() {
		close(x.quit)
		x.done.Wait()
		x.hub.closeAll()
		x.stopErr = x.idx.Close()
	})
	return x.stopErr
}

func (x *auditIndexer) run() {
	defer x.done.Done()
	t := time.NewTicker(indexTick)
	defer t.Stop()
	for {
		more, err := x.catchUp()
		if err != nil {
			x.log.Error("audit index stopped catching up; it retries", "err", err)
			select {
			case <-x.quit:
				return
			case <-time.After(indexRetry):
			}
		}
		if more {
			continue
		}
		select {
		case <-x.quit:
			return
		case <-x.wake:
		case <-t.C:
		}
	}
}

// roundBatches bounds the batches one snapshot of state serves, so a long
// rebuild does not pin one snapshot (and what compactions would drop)
// throughout.
const roundBatches = 16

// catchUp indexes the log up to the last committed block, batch by batch,
// and streams each batch as it is written. more reports that it stopped
// after roundBatches with leaves left.
func (x *auditIndexer) catchUp() (more bool, _ error) {
	ctx, snap, err := x.n.queryContext()
	if err != nil {
		return false, err
	}
	defer snap.Close()
	kv := ctx.AuditLog()
	size, err := audit.CurrentSize(kv)
	if err != nil {
		return false, err
	}
	src := &stateSource{n: x.n, kv: kv, size: size}
	for round := 0; ; round++ {
		select {
		case <-x.quit:
			return false, nil
		default:
		}
		if round == roundBatches {
			return true, nil
		}
		blocks, err := x.idx.Next(src, indexBatch)
		if errors.Is(err, pebbleindex.ErrAhead) {
			x.log.Warn("the audit index is ahead of the log (restored state?): rebuilding it from leaf 0", "err", err)
			if err := x.idx.Reset(); err != nil {
				return false, err
			}
			x.hub.reset()
			continue
		}
		if err != nil {
			return false, err
		}
		if len(blocks) == 0 {
			break
		}
		x.publish(blocks, blocks[len(blocks)-1].Height)
	}
	x.publish(nil, snap.Height())
	return false, nil
}

// publish streams the committed blocks up to height through and the
// indexed blocks' items, each block's "block" event before its items.
func (x *auditIndexer) publish(blocks []pebbleindex.Block, through int64) {
	x.mu.Lock()
	var commits []abci.CommitInfo
	i := 0
	for i < len(x.commits) && x.commits[i].Height <= through {
		i++
	}
	commits, x.commits = x.commits[:i:i], x.commits[i:]
	x.mu.Unlock()
	var msgs []sseMessage
	for _, b := range blocks {
		for len(commits) > 0 && commits[0].Height <= b.Height {
			msgs = append(msgs, blockMessage(commits[0]))
			commits = commits[1:]
		}
		for _, it := range b.Items {
			msgs = append(msgs, itemMessage(it))
		}
	}
	for _, c := range commits {
		msgs = append(msgs, blockMessage(c))
	}
	x.hub.publish(msgs)
}

func blockMessage(c abci.CommitInfo) sseMessage {
	return sseMessage{event: "block", data: mustJSON(auditindex.BlockEvent{
		Height: c.Height, Time: c.Time.UTC(), Txs: c.NumTxs, Failed: c.Failed, GasUsed: c.GasUsed,
		AuditSize: c.AuditSize, AppHash: hex.EncodeToString(c.AppHash),
	})}
}

// stateSource reads the log from a snapshot of committed state, and block
// times from the block store or, for pruned blocks, the transaction index.
type stateSource struct {
	n    *Node
	kv   audit.KV
	size uint64
}

func (s *stateSource) Size() uint64 { return s.size }

// Leaf reads the leaf without the proof audit.Entry checks: the index is
// this node's view of its own state, which it trusts.
func (s *stateSource) Leaf(i uint64) ([]byte, error) {
	if b := s.kv.Get(audit.LeafKey(i)); b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%w: entry %d is missing", audit.ErrCorrupt, i)
}

func (s *stateSource) Time(height int64, tx []byte) time.Time {
	if meta := s.n.comet.BlockStore().LoadBlockMeta(height); meta != nil {
		return meta.Header.Time.UTC()
	}
	g := s.n.comet.GenesisDoc()
	if height < g.InitialHeight {
		return g.GenesisTime.UTC()
	}
	if len(tx) == 32 {
		if rec, err := s.n.app.LookupTx(ledger.Hash(tx)); err == nil && rec.Height == height {
			return rec.Time.UTC()
		}
	}
	return time.Time{}
}
