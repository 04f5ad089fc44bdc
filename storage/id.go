package storage

import (
	"encoding/base32"
	"strings"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
)

// ID is an object's identity: the RFC 6962 Merkle root over the header leaf
// (size and parameters) followed by every shard hash, segment by segment.
// It is printed as a CIDv1-style string; see String.
type ID Hash

// idPrefix is the binary CIDv1 prefix of every ID: version 1, the raw
// multicodec (0x55), and a sha2-256 multihash (0x12) of 32 bytes (0x20).
var idPrefix = []byte{0x01, 0x55, 0x12, 0x20}

// idEncoding is RFC 4648 base32 in lower case without padding, which
// multibase names with the prefix "b".
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// headerTag starts the header leaf, so no other Stratus hash input can be
// mistaken for it.
const headerTag = "stratus/object/v1"

// ID returns the object's ID. It depends on Size, Params and the shard hashes,
// not on providers, so moving a shard does not change it. It is computed over
// the shards as they are, so an invalid manifest still has an ID, but one that
// names nothing a valid manifest can describe.
func (m *Manifest) ID() ID {
	leaves := [][]byte{m.headerLeaf()}
	for _, s := range m.Segments {
		for _, sh := range s.Shards {
			leaves = append(leaves, sh.Hash[:])
		}
	}
	return ID(root(int64(len(leaves)), func(i int64) []byte { return hasher.HashLeaf(leaves[i]) }, nil))
}

// headerLeaf is leaf 0 of the object tree; the shard hashes follow it.
func (m *Manifest) headerLeaf() []byte {
	w := codec.NewWriter(64)
	w.String(headerTag)
	w.Uvarint(uint64(m.Size))
	writeParams(w, m.Params)
	return w.Bytes()
}

// String returns the ID as "b" followed by the lowercase, unpadded base32 of
// 0x01 0x55 0x12 0x20 and the 32-byte root, for example
// "bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi".
func (id ID) String() string {
	b := make([]byte, 0, len(idPrefix)+len(id))
	b = append(append(b, idPrefix...), id[:]...)
	return "b" + idEncoding.EncodeToString(b)
}

// MarshalText encodes the ID as String does.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads an ID as ParseID does.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID reads the string form of an ID. It returns an errs.Invalid error
// saying what is wrong if s does not start with "b", is not lowercase
// unpadded base32, has the wrong length, or its CID prefix is not
// 0x01 0x55 0x12 0x20. Only the canonical spelling is accepted, so an ID has
// exactly one string form.
func ParseID(s string) (ID, error) {
	var id ID
	wantLen := 1 + idEncoding.EncodedLen(len(idPrefix)+len(id))
	switch {
	case s == "":
		return id, errs.E(errs.Invalid, "object ID is empty")
	case s[0] != 'b':
		return id, errs.E(errs.Invalid, "object ID %q must start with \"b\" (lowercase base32 multibase)", s)
	case len(s) != wantLen:
		return id, errs.E(errs.Invalid, "object ID %q is %d characters long, want %d", s, len(s), wantLen)
	case strings.ToLower(s) != s:
		return id, errs.E(errs.Invalid, "object ID %q must be lowercase", s)
	}
	b, err := idEncoding.DecodeString(s[1:])
	if err != nil {
		return id, errs.E(errs.Invalid, "object ID %q is not valid base32: %v", s, err)
	}
	for i, want := range idPrefix {
		if b[i] != want {
			return id, errs.E(errs.Invalid, "object ID %q does not start with the CIDv1 raw sha2-256 prefix 01 55 12 20 (byte %d is %02x)", s, i, b[i])
		}
	}
	copy(id[:], b[len(idPrefix):])
	// base32 leaves two spare bits at the end; only zero bits are canonical.
	if id.String() != s {
		return id, errs.E(errs.Invalid, "object ID %q is not in canonical form; did you mean %s?", s, id)
	}
	return id, nil
}
