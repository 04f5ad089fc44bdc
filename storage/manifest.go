package storage

import (
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
)

// manifestVersion is the first byte of a manifest's encoding.
const manifestVersion = 1

// MaxProviderLen bounds ShardRef.Provider in bytes.
const MaxProviderLen = 256

// Manifest describes a stored object: its size, its coding parameters, and the
// name of every shard of every segment. Segment lengths and shard sizes follow
// from Size and Params; Validate checks that they agree.
type Manifest struct {
	Size     int64     `json:"size"`
	Params   Params    `json:"params"`
	Segments []Segment `json:"segments"`
}

// Segment is one segment of an object and its k data then m parity shards.
type Segment struct {
	Length int64      `json:"length"` // bytes of plain data in this segment
	Shards []ShardRef `json:"shards"`
}

// ShardRef names one shard. Provider is filled in by placement; it is not
// part of the object's ID, since the same bytes can move between providers.
type ShardRef struct {
	Hash     Hash   `json:"hash"`
	Size     int64  `json:"size"`
	Provider string `json:"provider,omitempty"`
}

// Validate returns an errs.Invalid error if the parameters are out of bounds,
// Size is negative or above MaxObjectSize, or the segments and shards do not
// have the count and sizes that Size and Params imply.
func (m *Manifest) Validate() error {
	if err := m.Params.Validate(); err != nil {
		return err
	}
	if m.Size < 0 || m.Size > MaxObjectSize {
		return errs.E(errs.Invalid, "object size %d is outside [0, %d]", m.Size, int64(MaxObjectSize))
	}
	if n := m.Params.SegmentCount(m.Size); len(m.Segments) != n {
		return errs.E(errs.Invalid, "a %d-byte object with %d-byte segments has %d segments, not %d", m.Size, m.Params.SegmentSize, n, len(m.Segments))
	}
	for i, s := range m.Segments {
		if want := m.Params.SegmentLength(m.Size, i); s.Length != want {
			return errs.E(errs.Invalid, "segment %d is %d bytes long, want %d", i, s.Length, want)
		}
		if len(s.Shards) != m.Params.Shards() {
			return errs.E(errs.Invalid, "segment %d has %d shards, want %d (%s)", i, len(s.Shards), m.Params.Shards(), m.Params.Redundancy())
		}
		want := m.Params.ShardSize(s.Length)
		for j, sh := range s.Shards {
			if sh.Size != want {
				return errs.E(errs.Invalid, "shard %d of segment %d is %d bytes, want %d", j, i, sh.Size, want)
			}
			if len(sh.Provider) > MaxProviderLen {
				return errs.E(errs.Invalid, "shard %d of segment %d has a provider name of %d bytes; at most %d are allowed", j, i, len(sh.Provider), MaxProviderLen)
			}
		}
	}
	return nil
}

// MarshalBinary returns the manifest's canonical encoding (see
// docs/storage-format.md). It returns Validate's error for an invalid manifest.
func (m *Manifest) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	// Providers are written once, in order of first appearance, and each
	// shard names its provider by position (1-based; 0 is unplaced), so a
	// manifest costs 33 bytes or so per shard however long the names are.
	index := map[string]uint64{}
	var table []string
	for _, s := range m.Segments {
		for _, sh := range s.Shards {
			if _, ok := index[sh.Provider]; !ok && sh.Provider != "" {
				table = append(table, sh.Provider)
				index[sh.Provider] = uint64(len(table))
			}
		}
	}
	w := codec.NewWriter(32 + len(table)*64 + len(m.Segments)*m.Params.Shards()*(len(Hash{})+1))
	w.Byte(manifestVersion)
	w.Uvarint(uint64(m.Size))
	writeParams(w, m.Params)
	w.Uvarint(uint64(len(table)))
	for _, p := range table {
		w.String(p)
	}
	for _, s := range m.Segments {
		for _, sh := range s.Shards {
			w.Fixed(sh.Hash[:])
			w.Uvarint(index[sh.Provider])
		}
	}
	return w.Bytes(), nil
}

func writeParams(w *codec.Writer, p Params) {
	w.Uvarint(uint64(p.K))
	w.Uvarint(uint64(p.M))
	w.Uvarint(uint64(p.SegmentSize))
	w.Uvarint(uint64(p.LeafSize))
}

// UnmarshalBinary decodes a manifest from its canonical encoding. It accepts
// exactly the bytes MarshalBinary produces: an unknown version, a non-minimal
// varint, out-of-bounds parameters or sizes, a short input or trailing bytes
// give an errs.Invalid error, and m is left unchanged.
func (m *Manifest) UnmarshalBinary(b []byte) error {
	r := codec.NewReader(b)
	if v := r.Byte(); r.Err() == nil && v != manifestVersion {
		return errs.E(errs.Invalid, "manifest version %d is not supported; this build reads version %d", v, manifestVersion)
	}
	size := r.Uvarint()
	var p Params
	p.K = boundedInt(r, MaxShards)
	p.M = boundedInt(r, MaxShards)
	p.SegmentSize = int64(boundedInt(r, MaxSegmentSize))
	p.LeafSize = boundedInt(r, MaxLeafSize)
	if err := r.Err(); err != nil {
		return errs.E(errs.Invalid, "decoding manifest header: %w", err)
	}
	if size > MaxObjectSize {
		return errs.E(errs.Invalid, "manifest object size %d exceeds %d", size, int64(MaxObjectSize))
	}
	if err := p.Validate(); err != nil {
		return errs.E(errs.Invalid, "manifest parameters: %w", err)
	}
	out := Manifest{Size: int64(size), Params: p}
	n := p.SegmentCount(out.Size)
	// Every provider name takes at least 2 bytes and every shard 33, so
	// refuse before allocating for more than the input can hold.
	nprov := r.Uvarint()
	if r.Err() == nil && nprov > uint64(r.Remaining()/2) {
		return errs.E(errs.Invalid, "manifest claims %d providers but has only %d bytes left: %w", nprov, r.Remaining(), codec.ErrShort)
	}
	table := make([]string, 0, nprov)
	seen := map[string]bool{}
	for i := uint64(0); i < nprov && r.Err() == nil; i++ {
		name := r.String(MaxProviderLen)
		if r.Err() == nil && (name == "" || seen[name]) {
			return errs.E(errs.Invalid, "manifest provider %d is empty or repeated", i+1)
		}
		seen[name] = true
		table = append(table, name)
	}
	if err := r.Err(); err != nil {
		return errs.E(errs.Invalid, "decoding manifest providers: %w", err)
	}
	if per := int64(p.Shards()) * int64(len(Hash{})+1); int64(n)*per > int64(r.Remaining()) {
		return errs.E(errs.Invalid, "manifest claims %d segments of %d shards but has only %d bytes left: %w", n, p.Shards(), r.Remaining(), codec.ErrShort)
	}
	out.Segments = make([]Segment, n)
	// The table must list providers in order of first use, each used.
	next := uint64(1)
	for i := range out.Segments {
		seg := &out.Segments[i]
		seg.Length = p.SegmentLength(out.Size, i)
		shardSize := p.ShardSize(seg.Length)
		seg.Shards = make([]ShardRef, p.Shards())
		for j := range seg.Shards {
			copy(seg.Shards[j].Hash[:], r.Fixed(len(Hash{})))
			seg.Shards[j].Size = shardSize
			switch pi := r.Uvarint(); {
			case r.Err() != nil:
			case pi > next || pi > nprov:
				return errs.E(errs.Invalid, "shard %d of segment %d names provider %d, which is not the next one of the table's %d", j, i, pi, nprov)
			case pi > 0:
				seg.Shards[j].Provider = table[pi-1]
				if pi == next {
					next++
				}
			}
		}
	}
	if r.Err() == nil && next != nprov+1 {
		return errs.E(errs.Invalid, "manifest lists %d providers but its shards use %d", nprov, next-1)
	}
	if err := r.Finish(); err != nil {
		return errs.E(errs.Invalid, "decoding manifest: %w", err)
	}
	*m = out
	return nil
}

// boundedInt reads a uvarint and fails r if it exceeds max.
func boundedInt(r *codec.Reader, max int) int {
	v := r.Uvarint()
	if v > uint64(max) {
		r.Fail(errs.E(errs.Invalid, "value %d exceeds %d: %w", v, max, codec.ErrTooLong))
		return 0
	}
	return int(v)
}

// DecodeManifest decodes a manifest from its canonical encoding; see
// UnmarshalBinary for the errors.
func DecodeManifest(b []byte) (*Manifest, error) {
	m := new(Manifest)
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return m, nil
}

// ShardCount returns the total number of shards in the object.
func (m *Manifest) ShardCount() int { return len(m.Segments) * m.Params.Shards() }
