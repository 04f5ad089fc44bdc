package storage

import (
	"errors"
	"io"

	"github.com/klauspost/reedsolomon"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/internal/bufpool"
)

// Encoder turns an object's segments, in order, into shards and builds the
// object's manifest. It is not safe for concurrent use.
type Encoder struct {
	p     Params
	rs    reedsolomon.Encoder
	m     Manifest
	final bool // a short segment was encoded; no more may follow
}

// EncodedSegment is one encoded segment: its manifest entry and the k data
// shards followed by the m parity shards, each Segment.Shards[i].Size bytes
// long and named by Segment.Shards[i].Hash.
type EncodedSegment struct {
	Segment Segment
	Shards  [][]byte

	buf []byte // backs Shards; see Release
}

// NewEncoder returns an Encoder for p. It returns p.Validate's error if p is
// out of bounds.
func NewEncoder(p Params) (*Encoder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	rs, err := reedsolomon.New(p.K, p.M)
	if err != nil {
		return nil, errs.E(errs.Internal, "creating a %s Reed-Solomon coder: %w", p.Redundancy(), err)
	}
	return &Encoder{p: p, rs: rs, m: Manifest{Params: p}}, nil
}

// EncodeSegment encodes the next segment of the object. Every segment must be
// exactly SegmentSize bytes except the last, which may be shorter but not
// empty. The data is split into k shards of ceil(len(data)/k) bytes, the last
// zero-padded, and m parity shards are computed from them. The returned
// shards do not alias data. They share one buffer from package bufpool,
// which a caller done with them may hand back with Release.
//
// It returns an errs.Invalid error for an empty or oversized segment, or for
// a segment after a short one.
func (e *Encoder) EncodeSegment(data []byte) (EncodedSegment, error) {
	switch {
	case len(data) == 0:
		return EncodedSegment{}, errs.E(errs.Invalid, "segment %d is empty; an object ends after its last non-empty segment", len(e.m.Segments))
	case int64(len(data)) > e.p.SegmentSize:
		return EncodedSegment{}, errs.E(errs.Invalid, "segment %d is %d bytes, more than the segment size %d", len(e.m.Segments), len(data), e.p.SegmentSize)
	case e.final:
		return EncodedSegment{}, errs.E(errs.Invalid, "segment %d follows a short segment; only the last segment may be shorter than %d bytes", len(e.m.Segments), e.p.SegmentSize)
	case e.m.Size+int64(len(data)) > MaxObjectSize:
		return EncodedSegment{}, errs.E(errs.TooLarge, "the object would exceed %d bytes", int64(MaxObjectSize))
	}
	shardSize := int(e.p.ShardSize(int64(len(data))))
	n := e.p.Shards()
	// One buffer holds every shard. It is recycled (package bufpool), so
	// the padding is zeroed here; the parity is overwritten by the coder.
	buf := bufpool.Get(n * shardSize)
	copy(buf, data)
	clear(buf[len(data) : e.p.K*shardSize])
	shards := make([][]byte, n)
	for i := range shards {
		shards[i] = buf[i*shardSize : (i+1)*shardSize : (i+1)*shardSize]
	}
	if e.p.M > 0 {
		if err := e.rs.Encode(shards); err != nil {
			return EncodedSegment{}, errs.E(errs.Internal, "computing parity for segment %d: %w", len(e.m.Segments), err)
		}
	}
	seg := Segment{Length: int64(len(data)), Shards: make([]ShardRef, n)}
	for i, s := range shards {
		seg.Shards[i] = ShardRef{Hash: ShardHash(s, e.p.LeafSize), Size: int64(shardSize)}
	}
	e.m.Segments = append(e.m.Segments, seg)
	e.m.Size += seg.Length
	e.final = seg.Length < e.p.SegmentSize
	return EncodedSegment{Segment: cloneSegment(seg), Shards: shards, buf: buf}, nil
}

// Release hands the segment's shard buffer back for reuse by later
// segments. The shards must not be used afterwards.
func (s *EncodedSegment) Release() {
	if s.buf != nil {
		bufpool.Put(s.buf)
	}
	s.Shards, s.buf = nil, nil
}

// Manifest returns the manifest of the segments encoded so far. The result is
// a copy; later segments do not change it.
func (e *Encoder) Manifest() *Manifest {
	m := Manifest{Size: e.m.Size, Params: e.m.Params, Segments: make([]Segment, len(e.m.Segments))}
	for i, s := range e.m.Segments {
		m.Segments[i] = cloneSegment(s)
	}
	return &m
}

func cloneSegment(s Segment) Segment {
	s.Shards = append([]ShardRef(nil), s.Shards...)
	return s
}

// Encode reads r to the end, one segment at a time, and calls put with each
// encoded segment's index and shards, in order. It returns the object's
// manifest. An empty reader gives an object of zero segments. It returns
// p.Validate's error, r's error, or put's error unchanged.
func Encode(r io.Reader, p Params, put func(index int, seg EncodedSegment) error) (*Manifest, error) {
	e, err := NewEncoder(p)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, p.SegmentSize)
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			seg, encErr := e.EncodeSegment(buf[:n])
			if encErr != nil {
				return nil, encErr
			}
			if err := put(i, seg); err != nil {
				return nil, err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return e.Manifest(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}
