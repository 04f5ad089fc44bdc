// Package leaf decodes the entries of Stratus's audit log: the exact bytes
// each RFC 6962 leaf hashes. A verifier imports it to read what a proven
// entry says, without the ledger or the node; docs/audit.md specifies the
// same format for verifiers written in other languages.
//
// It only decodes. It does not hash or check proofs: that is
// transparency-dev/merkle's job (rfc6962 and proof).
package leaf

import (
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/codec"
)

// Kind is what a leaf records.
type Kind string

// The kinds of leaf. Each is also the leaf's first field.
const (
	KindTx    Kind = "tx"    // an executed transaction, failed or not
	KindEvent Kind = "event" // an event the state machine emitted
)

// maxString bounds the strings of a leaf, so a corrupt length cannot make a
// decoder allocate without bound.
const maxString = 1 << 20

// Tx is a transaction leaf. It is appended when a block executes the
// transaction, before the transaction's own events.
type Tx struct {
	Height int64
	Index  uint32   // the transaction's position in its block, from 0
	Hash   [32]byte // SHA-256 of the transaction's bytes
	Code   uint32   // 0 for success; otherwise the error code
	// Decoded reports whether the transaction could be decoded; Signer
	// (an ed25519 public key, the account's address) and MsgType are set
	// only then.
	Decoded bool
	Signer  [32]byte
	MsgType string
}

// Attr is one attribute of an event.
type Attr struct{ Key, Value string }

// Event is an event leaf.
type Event struct {
	Height int64
	// Tx is the position in its block of the transaction that emitted the
	// event, or -1 for an event of the block itself (genesis or the end of
	// the block).
	Tx    int
	Type  string
	Attrs []Attr
}

// Get returns the value of an attribute, or "".
func (e Event) Get(key string) string {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// Entry is a decoded leaf: exactly one of Tx and Event is set.
type Entry struct {
	Kind  Kind
	Tx    *Tx
	Event *Event
}

// ErrFormat is returned, wrapped, for bytes that are not a leaf.
var ErrFormat = errors.New("not an audit log leaf")

// Decode decodes a leaf. It fails with ErrFormat on anything but the exact
// encoding the ledger writes (trailing bytes included).
func Decode(b []byte) (Entry, error) {
	r := codec.NewReader(b)
	kind := Kind(r.String(16))
	var e Entry
	switch kind {
	case KindTx:
		t := &Tx{Height: int64(r.Uvarint()), Index: uint32(r.Uvarint())}
		copy(t.Hash[:], r.Fixed(32))
		t.Code = uint32(r.Uvarint())
		if r.Err() == nil && r.Remaining() > 0 {
			t.Decoded = true
			copy(t.Signer[:], r.Fixed(32))
			t.MsgType = r.String(maxString)
		}
		e = Entry{Kind: kind, Tx: t}
	case KindEvent:
		ev := &Event{Height: int64(r.Uvarint()), Tx: int(r.Uvarint()) - 1, Type: r.String(maxString)}
		n := r.Uvarint()
		if n > uint64(r.Remaining()) {
			r.Fail(codec.ErrShort)
		}
		for i := uint64(0); i < n && r.Err() == nil; i++ {
			ev.Attrs = append(ev.Attrs, Attr{Key: r.String(maxString), Value: r.String(maxString)})
		}
		e = Entry{Kind: kind, Event: ev}
	default:
		if r.Err() == nil {
			r.Fail(fmt.Errorf("unknown kind %q", kind))
		}
	}
	if err := r.Finish(); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return e, nil
}
