package storage

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/reedsolomon"
	"github.com/stratus-cloud/stratus/errs"
)

// VerifyShard checks that data is the shard ref names. It returns an
// errs.Invalid error wrapping ErrCorrupt if the length or the Merkle root
// differs.
func VerifyShard(ref ShardRef, leafSize int, data []byte) error {
	if int64(len(data)) != ref.Size {
		return errs.E(errs.Invalid, "shard %s is %d bytes, want %d: %w", ref.Hash, len(data), ref.Size, ErrCorrupt)
	}
	if got := ShardHash(data, leafSize); got != ref.Hash {
		return errs.E(errs.Invalid, "shard %s hashes to %s: %w", ref.Hash, got, ErrCorrupt)
	}
	return nil
}

// ShardFault records a shard that could not be used: its fetch failed, or its
// bytes did not match the manifest (Err wraps ErrCorrupt).
type ShardFault struct {
	Segment int
	Shard   int // 0..k-1 are data shards, k..k+m-1 parity
	Err     error
}

func (f ShardFault) String() string {
	return fmt.Sprintf("segment %d shard %d: %v", f.Segment, f.Shard, f.Err)
}

// UnrecoverableError reports a segment with fewer than k good shards. It is
// returned wrapped in an errs.Unavailable error; use errors.As to reach it.
type UnrecoverableError struct {
	Segment int
	Need    int          // k
	Good    int          // shards that verified
	Faults  []ShardFault // every shard that is missing or corrupt
}

func (e *UnrecoverableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "segment %d cannot be recovered: %d good shards of the %d needed; missing or corrupt:", e.Segment, e.Good, e.Need)
	for i, f := range e.Faults {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " shard %d (%v)", f.Shard, f.Err)
	}
	return b.String()
}

// RecoverShards takes segment seg's shards as fetched, nil where a shard is
// missing, and returns all k+m of them, rebuilding the missing and corrupt
// ones from any k that match the manifest. A repair worker uses it to
// regenerate a lost shard. shards is not modified.
//
// The faults list every shard given as nil or found corrupt. If fewer than k
// shards verify, the error is an errs.Unavailable wrapping an
// *UnrecoverableError; an invalid manifest, a segment out of range or a
// shards slice of the wrong length give an errs.Invalid error.
func RecoverShards(m *Manifest, seg int, shards [][]byte) ([][]byte, []ShardFault, error) {
	rs, err := newCoder(m)
	if err != nil {
		return nil, nil, err
	}
	return recoverShards(m, rs, seg, shards)
}

func newCoder(m *Manifest) (reedsolomon.Encoder, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	rs, err := reedsolomon.New(m.Params.K, m.Params.M)
	if err != nil {
		return nil, errs.E(errs.Internal, "creating a %s Reed-Solomon coder: %w", m.Params.Redundancy(), err)
	}
	return rs, nil
}

// recoverShards verifies the given shards and reconstructs all the rest.
func recoverShards(m *Manifest, rs reedsolomon.Encoder, seg int, given [][]byte) ([][]byte, []ShardFault, error) {
	if seg < 0 || seg >= len(m.Segments) {
		return nil, nil, errs.E(errs.Invalid, "segment %d is out of range: the object has %d segments", seg, len(m.Segments))
	}
	if len(given) != m.Params.Shards() {
		return nil, nil, errs.E(errs.Invalid, "got %d shards for segment %d, want %d (%s)", len(given), seg, m.Params.Shards(), m.Params.Redundancy())
	}
	refs := m.Segments[seg].Shards
	shards := make([][]byte, len(given))
	var faults []ShardFault
	good := 0
	for i, b := range given {
		if b == nil {
			faults = append(faults, ShardFault{Segment: seg, Shard: i, Err: errs.E(errs.NotFound, "missing")})
			continue
		}
		if err := VerifyShard(refs[i], m.Params.LeafSize, b); err != nil {
			faults = append(faults, ShardFault{Segment: seg, Shard: i, Err: err})
			continue
		}
		shards[i] = b
		good++
	}
	if good < m.Params.K {
		return nil, faults, unrecoverable(seg, m.Params.K, good, faults)
	}
	if good < len(shards) {
		if err := rs.Reconstruct(shards); err != nil {
			return nil, faults, errs.E(errs.Internal, "reconstructing segment %d: %w", seg, err)
		}
	}
	return shards, faults, nil
}

func unrecoverable(seg, need, good int, faults []ShardFault) error {
	return errs.E(errs.Unavailable, "%w", &UnrecoverableError{Segment: seg, Need: need, Good: good, Faults: faults})
}

// FetchFunc returns the bytes of one shard of one segment, or an error if it
// cannot. The bytes need not be trusted: the Decoder verifies them.
type FetchFunc func(segment, shard int) ([]byte, error)

// Decoder reads an object back through a FetchFunc, verifying every shard
// against the manifest. A shard whose fetch fails or whose bytes do not match
// is routed around with parity and recorded in Faults. It is safe for
// concurrent use if fetch is.
type Decoder struct {
	m     *Manifest
	rs    reedsolomon.Encoder
	fetch FetchFunc

	mu     sync.Mutex
	faults []ShardFault
}

// NewDecoder returns a Decoder for m that gets shards from fetch. It returns
// m.Validate's error if the manifest is invalid.
func NewDecoder(m *Manifest, fetch FetchFunc) (*Decoder, error) {
	rs, err := newCoder(m)
	if err != nil {
		return nil, err
	}
	return &Decoder{m: m, rs: rs, fetch: fetch}, nil
}

// Faults returns every shard fault seen so far, in the order they were seen,
// so the caller can report providers that were down or returned wrong bytes.
func (d *Decoder) Faults() []ShardFault {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]ShardFault(nil), d.faults...)
}

// Segment returns the plain bytes of segment seg. It fetches the data shards
// first and each parity shard only when an earlier shard failed, so a healthy
// read costs exactly k fetches. If fewer than k shards verify after every
// shard was tried, it returns an errs.Unavailable error wrapping an
// *UnrecoverableError that lists each missing or corrupt shard.
func (d *Decoder) Segment(seg int) ([]byte, error) {
	if seg < 0 || seg >= len(d.m.Segments) {
		return nil, errs.E(errs.Invalid, "segment %d is out of range: the object has %d segments", seg, len(d.m.Segments))
	}
	p := d.m.Params
	given := make([][]byte, p.Shards())
	var fetchFaults []ShardFault
	good := 0
	for i := 0; i < len(given) && good < p.K; i++ {
		b, err := d.fetch(seg, i)
		if err != nil {
			fetchFaults = append(fetchFaults, ShardFault{Segment: seg, Shard: i, Err: err})
			continue
		}
		if err := VerifyShard(d.m.Segments[seg].Shards[i], p.LeafSize, b); err != nil {
			fetchFaults = append(fetchFaults, ShardFault{Segment: seg, Shard: i, Err: err})
			continue
		}
		given[i] = b
		good++
	}
	d.mu.Lock()
	d.faults = append(d.faults, fetchFaults...)
	d.mu.Unlock()
	if good < p.K {
		return nil, unrecoverable(seg, p.K, good, fetchFaults)
	}
	shards, err := d.reconstruct(seg, given)
	if err != nil {
		return nil, err
	}
	length := d.m.Segments[seg].Length
	out := make([]byte, 0, length)
	for _, s := range shards[:p.K] {
		out = append(out, s[:min(int64(len(s)), length-int64(len(out)))]...)
	}
	return out, nil
}

// reconstruct fills in the missing data shards of verified shards; the
// untried parity shards stay nil.
func (d *Decoder) reconstruct(seg int, shards [][]byte) ([][]byte, error) {
	for _, s := range shards[:d.m.Params.K] {
		if s == nil {
			if err := d.rs.ReconstructData(shards); err != nil {
				return nil, errs.E(errs.Internal, "reconstructing segment %d: %w", seg, err)
			}
			break
		}
	}
	return shards, nil
}

// ReadAt reads len(p) bytes of the object starting at off, fetching only the
// segments that cover them. It returns io.EOF with fewer bytes when the range
// runs past the end, an errs.Invalid error for a negative offset, and
// Segment's error if a segment cannot be recovered.
func (d *Decoder) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errs.E(errs.Invalid, "read offset %d is negative", off)
	}
	ranges, err := d.m.Ranges(off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range ranges {
		data, err := d.Segment(r.Segment)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], data[r.Start:r.End])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteTo writes the whole object to w, one verified segment at a time. It
// returns the first error from Segment or w.
func (d *Decoder) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for i := range d.m.Segments {
		data, err := d.Segment(i)
		if err != nil {
			return n, err
		}
		k, err := w.Write(data)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SegmentRange is the part of one segment that a byte range of the object
// covers: bytes [Start, End) of the segment's plain data, which are bytes
// [Offset, Offset+End-Start) of the object.
type SegmentRange struct {
	Segment    int
	Start, End int64
	Offset     int64
}

// Ranges returns the segments that cover the n bytes of the object starting
// at off, in order, clipped to the object's end: a range at or past the end
// covers nothing. It returns an errs.Invalid error if off or n is negative.
func (m *Manifest) Ranges(off, n int64) ([]SegmentRange, error) {
	if off < 0 || n < 0 {
		return nil, errs.E(errs.Invalid, "byte range at %d of length %d is negative", off, n)
	}
	if off >= m.Size || n == 0 {
		return nil, nil
	}
	end := m.Size
	if n < m.Size-off {
		end = off + n
	}
	ss := m.Params.SegmentSize
	var out []SegmentRange
	for pos := off; pos < end; {
		seg := int(pos / ss)
		segStart := int64(seg) * ss
		segEnd := min(segStart+ss, end)
		out = append(out, SegmentRange{Segment: seg, Start: pos - segStart, End: segEnd - segStart, Offset: pos})
		pos = segEnd
	}
	return out, nil
}

// ShardVerifier returns a function that checks data against a shard hash for
// leafSize-byte leaves, in the shape shardstore.Verifier expects. The function
// returns an errs.Invalid error wrapping ErrCorrupt on a mismatch.
func ShardVerifier(leafSize int) func(hash [32]byte, data []byte) error {
	return func(hash [32]byte, data []byte) error {
		if got := ShardHash(data, leafSize); got != Hash(hash) {
			return errs.E(errs.Invalid, "shard %s hashes to %s: %w", Hash(hash), got, ErrCorrupt)
		}
		return nil
	}
}
