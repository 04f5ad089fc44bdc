// Package bundle is the offline side of Stratus's audit log: a proof bundle
// that carries one entry with everything needed to check it (the inclusion
// proof, the checkpoint, the signed header, its commit and the validator
// set), a trusted validator set file, and the checks a verifier runs on
// them with no network.
//
// What it trusts is only a validator set the verifier chose; everything else
// in a bundle is checked against it with CometBFT's types (commit
// signatures), SHA-256 (the app hash) and transparency-dev/merkle (inclusion
// and consistency). It imports neither the ledger nor the node: fetching a
// bundle from a node is the client's job (client.AuditBundle).
package bundle

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/identity"
)

// Format is the version tag of a bundle; Verify refuses any other.
const Format = "stratus-audit-bundle/v1"

// Bundle is one audit log entry with its proof up to a checkpoint that the
// validators' commit signatures bind. Its JSON is the file `stratus audit
// proof` writes (docs/audit.md, "Offline verification").
type Bundle struct {
	Format     string           `json:"format"`
	Entry      Entry            `json:"entry"`
	Inclusion  audit.Inclusion  `json:"inclusion"`
	Checkpoint audit.Checkpoint `json:"checkpoint"`
}

// Entry is the proven leaf. Leaf is what is verified; Decoded is what it
// says, for people reading the file, and Verify refuses a bundle whose
// Decoded is not exactly what Leaf decodes to.
type Entry struct {
	Index   uint64  `json:"index"`
	Leaf    []byte  `json:"leaf"`
	Decoded Summary `json:"decoded"`
}

// Summary is a decoded leaf in JSON form: exactly one of Tx and Event is set.
type Summary struct {
	Kind  leaf.Kind     `json:"kind"`
	Tx    *TxSummary    `json:"tx,omitempty"`
	Event *EventSummary `json:"event,omitempty"`
}

// TxSummary is a transaction leaf (leaf.Tx).
type TxSummary struct {
	Height int64  `json:"height"`
	Index  uint32 `json:"index"`
	Hash   string `json:"hash"` // hex, as GET /v1/txs/{hash} takes it
	Code   uint32 `json:"code"`
	// Signer (a did:key) and MsgType are empty for a transaction that did
	// not decode.
	Signer  string `json:"signer,omitempty"`
	MsgType string `json:"msg_type,omitempty"`
}

// EventSummary is an event leaf (leaf.Event).
type EventSummary struct {
	Height int64 `json:"height"`
	// Tx is the position in its block of the transaction that emitted the
	// event, or -1 for an event of the block itself.
	Tx         int    `json:"tx"`
	Type       string `json:"type"`
	Attributes []Attr `json:"attributes"`
}

// Attr is one event attribute.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Summarize decodes a leaf into its Summary. It fails with leaf.ErrFormat
// for bytes that are not a leaf.
func Summarize(raw []byte) (Summary, error) {
	e, err := leaf.Decode(raw)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Kind: e.Kind}
	switch e.Kind {
	case leaf.KindTx:
		t := e.Tx
		s.Tx = &TxSummary{Height: t.Height, Index: t.Index, Hash: hex.EncodeToString(t.Hash[:]), Code: t.Code}
		if t.Decoded {
			s.Tx.Signer = identity.Address(t.Signer).String()
			s.Tx.MsgType = t.MsgType
		}
	case leaf.KindEvent:
		ev := e.Event
		s.Event = &EventSummary{Height: ev.Height, Tx: ev.Tx, Type: ev.Type, Attributes: []Attr{}}
		for _, a := range ev.Attrs {
			s.Event.Attributes = append(s.Event.Attributes, Attr{Key: a.Key, Value: a.Value})
		}
	}
	return s, nil
}

// New assembles a bundle from a node's answers: entry rec, its inclusion
// proof p and the checkpoint cp that p is to. It checks nothing but that the
// pieces belong together (same index, proof to the checkpoint's size) and
// that the leaf decodes; Verify is what checks them.
func New(rec audit.Record, p audit.Inclusion, cp audit.Checkpoint) (Bundle, error) {
	if rec.Index != p.Index {
		return Bundle{}, fmt.Errorf("bundle: the proof is of entry %d, not %d", p.Index, rec.Index)
	}
	if p.Size != cp.Size {
		return Bundle{}, fmt.Errorf("bundle: the proof is to size %d, the checkpoint is at size %d", p.Size, cp.Size)
	}
	s, err := Summarize(rec.Leaf)
	if err != nil {
		return Bundle{}, fmt.Errorf("bundle: entry %d: %w", rec.Index, err)
	}
	return Bundle{
		Format:     Format,
		Entry:      Entry{Index: rec.Index, Leaf: rec.Leaf, Decoded: s},
		Inclusion:  p,
		Checkpoint: cp,
	}, nil
}

// Parse reads a bundle file. It fails only if the bytes are not JSON of a
// bundle's shape; Verify checks the rest, the format tag included.
func Parse(b []byte) (Bundle, error) {
	var v Bundle
	if err := json.Unmarshal(b, &v); err != nil {
		return Bundle{}, fmt.Errorf("not an audit bundle (the JSON that `stratus audit proof` writes): %w", err)
	}
	return v, nil
}
