package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/provider"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/storage"
)

// The storage provider's prover: every tick it lists the provider's open
// storage challenges and answers each with the challenged leaf of the shard
// on its disk and the leaf's Merkle path (objects/prove). A shard that is
// not on the disk, or no longer matches its hash, gets no answer: the
// ledger counts the miss, and repairs the shard elsewhere once the misses
// add up. See docs/storage.md, "Proofs of storage" and "Repair worker".

// sender sends one provider's transactions. Each takes the account's next
// nonce, so they are signed and submitted one at a time, in order; but they
// are not committed one at a time: the sender counts the nonces it handed
// out, so the next is submitted while the earlier ones wait in the mempool
// (whose checks apply them in order), and a repair's commit goes into the
// next block whatever else is pending. The agent, the prover and the
// repair worker share it.
type sender struct {
	c   *client.Client
	key *identity.Key

	mu     sync.Mutex
	chain  *client.Chain     // read once, again after a refusal
	next   uint64            // the nonce of the next submission, once synced
	synced bool              // next is known; false after a refusal
	limits map[string]uint64 // gas limits by gasClass, from one simulation each
}

// pending is a submitted transaction: wait for it.
type pending struct {
	hash  string
	class string
}

// send submits msg and waits for its commit, as client.Send does.
func (s *sender) send(ctx context.Context, msg ledger.Msg) (api.TxResult, error) {
	p, err := s.submit(ctx, msg)
	if err != nil {
		return api.TxResult{}, err
	}
	return s.wait(ctx, p)
}

// submit signs msg with the next nonce and puts it in the mempool, without
// waiting for the commit. The first message of each gasClass is simulated
// for its gas (the node runs simulations one at a time); the others are
// signed with that gas and half again, which a repair of the same object or
// another proof does not exceed, and unused gas is not charged. A refusal
// makes the next submission read the nonce from the ledger again.
func (s *sender) submit(ctx context.Context, msg ledger.Msg) (pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chain == nil {
		ch, err := s.c.Chain(ctx)
		if err != nil {
			return pending{}, err
		}
		s.chain = &ch
	}
	class := gasClass(msg)
	limit, known := s.limits[class]
	var balance uint64
	if !s.synced || !known {
		acct, err := s.c.Account(ctx, s.key.Address().String())
		if err != nil {
			return pending{}, err
		}
		if !s.synced {
			// The ledger's nonce counts committed transactions only: one
			// of ours refused may leave others in the mempool, and then
			// this is refused too, until they commit.
			s.next, s.synced = acct.Nonce, true
		}
		if balance, err = money.ParseUstr(acct.Balance); err != nil {
			return pending{}, err
		}
	}
	var tx *ledger.Tx
	if known {
		tx = &ledger.Tx{ChainID: s.chain.ChainID, Nonce: s.next, GasLimit: limit, GasPrice: s.chain.MinGasPrice, Msg: msg}
		if err := tx.Sign(s.key); err != nil {
			return pending{}, err
		}
	} else {
		var err error
		if tx, _, err = s.c.Prepare(ctx, *s.chain, s.key, msg, s.next, balance, client.SendOptions{}); err != nil {
			return pending{}, err
		}
		if s.limits == nil {
			s.limits = map[string]uint64{}
		}
		s.limits[class] = tx.GasLimit + tx.GasLimit/2
	}
	res, err := s.c.SubmitTx(ctx, tx.Bytes(), false)
	if err == nil && res.Code != ledger.CodeOK {
		err = &errs.Error{Kind: ledger.KindOfCode(res.Code), Msg: fmt.Sprintf("transaction %s refused: %s", res.Hash, res.Log)}
	}
	if err != nil {
		s.synced, s.chain = false, nil
		return pending{}, err
	}
	s.next++
	return pending{hash: tx.Hash().String(), class: class}, nil
}

// txWait bounds the wait for a submitted transaction to commit.
const txWait = time.Minute

// wait waits for p to commit and returns its result; one that failed in
// its block is an error with its kind. Running out of gas drops the gas
// limit learnt for its class, so the next is simulated again.
func (s *sender) wait(ctx context.Context, p pending) (api.TxResult, error) {
	deadline := time.Now().Add(txWait)
	for {
		res, err := s.c.Tx(ctx, p.hash)
		if err == nil {
			if res.Code == ledger.CodeOK {
				return res, nil
			}
			if res.Code == ledger.CodeOutOfGas {
				s.mu.Lock()
				delete(s.limits, p.class)
				s.mu.Unlock()
			}
			return res, &errs.Error{Kind: ledger.KindOfCode(res.Code), Msg: fmt.Sprintf("transaction %s failed in block %d: %s", res.Hash, res.Height, res.Log)}
		}
		if !errs.Is(err, errs.NotFound) {
			return res, err
		}
		if time.Now().After(deadline) {
			// Dropped from the mempool, say: the nonces are to be read
			// again.
			s.mu.Lock()
			s.synced = false
			s.mu.Unlock()
			return res, errs.E(errs.Timeout, "transaction %s was not committed within %s", p.hash, txWait)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// storageService returns the running provider.Service of the storage
// provider name, or nil if this node runs none by that name or it is
// stopped.
func (n *Node) storageService(name string) *provider.Service {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	for _, s := range n.storage {
		if s.name == name {
			return s.svc
		}
	}
	return nil
}

// runsStorage reports whether this node is configured to run the storage
// provider name.
func (n *Node) runsStorage(name string) bool {
	for _, sc := range n.Config.Storage {
		if sc.Name == name {
			return true
		}
	}
	return false
}

// prover answers one storage provider's challenges.
type prover struct {
	n    *Node
	c    *client.Client
	name string
	addr identity.Address
	snd  *sender
	log  *slog.Logger
	// done are the challenges answered (or refused for good), so that an
	// answer is not sent twice while the list still shows the challenge.
	done map[uint64]bool
}

// run answers challenges every tick until ctx ends.
func (p *prover) run(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() { p.answer(ctx) })
}

// answer answers the open challenges once.
func (p *prover) answer(ctx context.Context) {
	svc := p.n.storageService(p.name)
	if svc == nil {
		return // stopped: nothing on disk to prove from
	}
	chs, err := p.challenges(ctx)
	if err != nil {
		if ctx.Err() == nil && !errs.Is(err, errs.NotFound) {
			p.log.Warn("cannot list storage challenges", "err", err)
		}
		return
	}
	open := make(map[uint64]bool, len(chs))
	var (
		msgs  []ledger.Msg
		asked []objects.Challenge
	)
	for _, ch := range chs {
		open[ch.ID] = true
		if p.done[ch.ID] || ch.Provider != p.addr.String() {
			continue
		}
		msg, err := proveFrom(ctx, svc.Store(), ch)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// Counted as a miss on the ledger; answering wrongly would
			// cost the same and gas besides.
			p.log.Warn("cannot answer a storage challenge", "challenge", ch.ID, "object", ch.Object, "segment", ch.Segment, "shard", ch.Shard, "err", err)
			p.done[ch.ID] = true
			continue
		}
		msgs, asked = append(msgs, msg), append(asked, ch)
	}
	// All submitted first, so that they share the next block.
	subs := make([]pending, len(msgs))
	fails := make([]error, len(msgs))
	for i, m := range msgs {
		subs[i], fails[i] = p.snd.submit(ctx, m)
	}
	for i := range msgs {
		if fails[i] == nil {
			_, fails[i] = p.snd.wait(ctx, subs[i])
		}
	}
	for i, err := range fails {
		ch := asked[i]
		switch {
		case err == nil:
			p.done[ch.ID] = true
			p.log.Debug("storage challenge answered", "challenge", ch.ID, "object", ch.Object, "segment", ch.Segment, "shard", ch.Shard)
		case ctx.Err() != nil:
			return
		case retryable(err):
			p.log.Warn("storage proof not sent; trying again", "challenge", ch.ID, "err", err)
		default:
			// Refused for good (past the deadline, answered already).
			p.done[ch.ID] = true
			p.log.Warn("storage proof refused", "challenge", ch.ID, "object", ch.Object, "err", err)
		}
	}
	for id := range p.done {
		if !open[id] {
			delete(p.done, id)
		}
	}
}

// challenges lists the provider's open challenges: from the node's state
// on a validator, else over the API.
func (p *prover) challenges(ctx context.Context) ([]objects.Challenge, error) {
	if p.n.app == nil {
		return p.c.Challenges(ctx, p.addr.String())
	}
	qctx, snap, err := p.n.queryContext()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var out []objects.Challenge
	for after := uint64(0); ; {
		cs, more, err := objects.ChallengesAfter(qctx, p.addr, after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
		if !more || len(cs) == 0 {
			return out, nil
		}
		after = cs[len(cs)-1].ID
	}
}

// gasClass groups messages that use about the same gas: the repairs of
// one object (the manifest rewritten is the same size), the proofs.
func gasClass(m ledger.Msg) string {
	if r, ok := m.(*objects.Repair); ok {
		return r.Type() + " " + r.ID
	}
	return m.Type()
}

// retryable reports whether a failed send may succeed if sent again.
func retryable(err error) bool {
	switch errs.KindOf(err) {
	case errs.Unavailable, errs.Timeout, errs.Internal:
		return true
	}
	return false
}

// proveFrom builds the answer to ch from the shard in store. It fails with
// NotFound if the shard is not there, and with an error wrapping
// storage.ErrCorrupt if its bytes no longer prove the challenged leaf.
func proveFrom(ctx context.Context, store shardstore.Store, ch objects.Challenge) (*objects.Prove, error) {
	var h storage.Hash
	if err := h.UnmarshalText([]byte(ch.Hash)); err != nil {
		return nil, errs.E(errs.Invalid, "challenge %d names shard %q: %v", ch.ID, ch.Hash, err)
	}
	rc, err := store.Get(ctx, shardstore.Hash(h), 0, -1)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, errs.E(errs.Internal, "reading shard %s: %v", h, err)
	}
	leaf, path, err := storage.ShardLeafProof(data, ch.Leaf, ch.LeafSize)
	if err != nil {
		return nil, err
	}
	// Checked before it is sent: a shard that rotted on disk should be
	// repaired, not argued for.
	if err := storage.VerifyLeaf(h, ch.Size, ch.LeafSize, ch.Leaf, leaf, path); err != nil {
		return nil, err
	}
	return &objects.Prove{Challenge: ch.ID, Leaf: leaf, Path: path}, nil
}

// startStorageAgents starts the prover and the repair worker of storage
// provider name, each polling every tick, until ctx ends.
func (r *roles) startStorageAgents(ctx context.Context, name string, addr identity.Address, snd *sender, log *slog.Logger, every time.Duration) {
	p := &prover{n: r.n, c: r.c, name: name, addr: addr, snd: snd, log: log.With("role", "prover"), done: map[uint64]bool{}}
	w := newRepairer(r.n, r.c, name, addr, snd, log.With("role", "repair"))
	// Challenges have deadlines of an epoch or more: a second is often
	// enough. Repairs are looked for every block on a validator, where it
	// is a read of local state, so that an assignment starts at once.
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		p.run(ctx, max(every, time.Second))
	}()
	go func() {
		defer r.wg.Done()
		w.run(ctx, every)
	}()
}
