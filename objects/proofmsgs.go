package objects

import (
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/storage"
)

// Proofs of storage and repair: the messages a provider's agent sends, and
// the records it reads to know what to send. The rules are in proofs.go and
// repair.go; the schedule and rates in docs/storage.md "Proofs and repair".

// MaxProofPath bounds a Merkle path: 64 levels cover any shard.
const MaxProofPath = 64

// Prove is objects/prove: the challenged provider's answer to challenge
// Challenge, leaf number Challenge.Leaf of the shard and its RFC 6962
// inclusion path against the shard's hash in the manifest. Only the
// challenged provider may answer, once, before the deadline. An answer that
// does not verify is recorded as a failed proof (the transaction succeeds,
// and the provider is penalized as for a miss): a provider cannot escape a
// penalty by answering wrongly.
type Prove struct {
	Challenge uint64   `json:"challenge,string"`
	Leaf      []byte   `json:"leaf"`
	Path      [][]byte `json:"path"`
}

// Repair is objects/repair: the provider a lost shard was assigned to has
// rebuilt it and stores it. It proves so with leaf RepairJob.Leaf of the
// shard and its path against the shard hash in the manifest, which a repair
// cannot change: a repairer that rebuilt wrong bytes cannot prove the leaf.
// Only the assignee may commit, before the deadline.
type Repair struct {
	ID      string   `json:"id"`
	Segment uint32   `json:"segment"`
	Shard   uint32   `json:"shard"`
	Leaf    []byte   `json:"leaf"`
	Path    [][]byte `json:"path"`
}

func (*Prove) Type() string                    { return "objects/prove" }
func (*Repair) Type() string                   { return "objects/repair" }
func (m *Prove) Encode(w *codec.Writer)        { ledger.EncodeJSON(w, m) }
func (m *Prove) Decode(r *codec.Reader) error  { return ledger.DecodeJSON(r, m) }
func (m *Repair) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *Repair) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }

func validatePath(leaf []byte, path [][]byte) error {
	if len(leaf) == 0 || len(leaf) > storage.MaxLeafSize {
		return errs.E(errs.Invalid, "a proof's leaf is 1 to %d bytes, not %d", storage.MaxLeafSize, len(leaf))
	}
	if len(path) > MaxProofPath {
		return errs.E(errs.Invalid, "a proof's path has %d hashes; at most %d", len(path), MaxProofPath)
	}
	for i, h := range path {
		if len(h) != 32 {
			return errs.E(errs.Invalid, "hash %d of the proof's path is %d bytes, not 32", i, len(h))
		}
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *Prove) Validate() error {
	if m.Challenge == 0 {
		return errs.E(errs.Invalid, "a proof names its challenge: see GET /v1/storage/challenges")
	}
	return validatePath(m.Leaf, m.Path)
}

// Validate implements ledger.Msg.
func (m *Repair) Validate() error {
	if _, err := storage.ParseID(m.ID); err != nil {
		return err
	}
	if m.Shard >= storage.MaxShards {
		return errs.E(errs.Invalid, "shard %d is out of range", m.Shard)
	}
	return validatePath(m.Leaf, m.Path)
}

// Challenge is an open storage challenge: Provider must prove it holds leaf
// Leaf of shard Hash (Size bytes, LeafSize-byte leaves), shard Shard of
// segment Segment of object Object, by DeadlineMs.
type Challenge struct {
	ID         uint64 `json:"id,string"`
	Provider   string `json:"provider"`
	Object     string `json:"object"`
	Segment    uint32 `json:"segment"`
	Shard      uint32 `json:"shard"`
	Hash       string `json:"hash"`
	Size       int64  `json:"size"`
	LeafSize   int    `json:"leaf_size"`
	Leaf       int    `json:"leaf"`
	IssuedMs   int64  `json:"issued_ms"`
	DeadlineMs int64  `json:"deadline_ms"`
}

// RepairJob is a lost shard and, once assigned, who rebuilds it. Healthy is
// how many shards of its segment were not lost when it was queued: repairs
// are assigned fewest healthy first. Bounty is what the repairer is paid on
// commit, taken from the failing provider's collateral; Escrow, what the
// lost lease held for the shard, funds the lease the commit opens with the
// assignee.
type RepairJob struct {
	Object   string `json:"object"`
	Segment  uint32 `json:"segment"`
	Shard    uint32 `json:"shard"`
	Hash     string `json:"hash"`
	Size     int64  `json:"size"`
	LeafSize int    `json:"leaf_size"`
	Owner    string `json:"owner"`
	// From is the provider that lost the shard, Reason why: ReasonMissed,
	// ReasonRetired or ReasonDown.
	From    string `json:"from"`
	Reason  string `json:"reason"`
	Healthy int    `json:"healthy"`
	// Assignee is "" while the repair waits for an eligible provider.
	Assignee   string `json:"assignee,omitempty"`
	Leaf       int    `json:"leaf"`
	Bounty     uint64 `json:"bounty,string"`
	QueuedMs   int64  `json:"queued_ms"`
	AssignedMs int64  `json:"assigned_ms,omitempty"`
	DeadlineMs int64  `json:"deadline_ms,omitempty"`
	Attempts   uint32 `json:"attempts"`
	// Tried are the providers that were assigned the repair and let its
	// deadline pass: it is not assigned to them again.
	Tried []string `json:"tried,omitempty"`
	// Escrow is what the lost lease held for the shard, moved out of it
	// and held for the repaired shard's new lease.
	Escrow uint64 `json:"escrow,string"`
	// Price is the lost lease's price (nano-ustr per GiB-second): the
	// repaired shard's lease is opened at the assignee's price, but at
	// most this, so the owner pays nothing more for a repair.
	Price uint64 `json:"price,string,omitempty"`
	Seq   uint64 `json:"seq,string"`
}

// ProofStats is a provider's record of storage proofs.
type ProofStats struct {
	Passed uint64 `json:"passed,string"`
	Missed uint64 `json:"missed,string"`
	// Failed counts answers that did not verify (also in Missed).
	Failed uint64 `json:"failed,string"`
	// Consecutive is the misses since the last passed proof.
	Consecutive uint32 `json:"consecutive"`
	// Penalized is the collateral taken for misses and losses, in ustr.
	Penalized uint64 `json:"penalized,string"`
	Repaired  uint64 `json:"repaired,string"` // shards it rebuilt for others
	Lost      uint64 `json:"lost,string"`     // shards declared lost on it
	// LostMs is when the provider was declared lost as a whole (every
	// shard it held queued for repair); 0 if it was not.
	LostMs int64 `json:"lost_ms,omitempty"`
	// DownEpochs is the probing epochs in a row in which the validators'
	// probes found the provider down; DownChecked the last one counted.
	DownEpochs  uint32 `json:"down_epochs"`
	DownChecked int64  `json:"down_checked,omitempty"`
}

// Reasons a shard is lost (RepairJob.Reason, EventRepair's AttrReason).
const (
	ReasonMissed  = "missed_proofs"
	ReasonRetired = "retired"
	ReasonDown    = "down"
)
