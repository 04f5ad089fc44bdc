package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
)

func testManifest(t testing.TB, size int, p Params) *Manifest {
	t.Helper()
	m, err := Encode(bytes.NewReader(randomBytes(size, uint64(size))), p, func(int, EncodedSegment) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	p := testParams(3, 2)
	for _, size := range []int{0, 1, int(p.SegmentSize), 3*int(p.SegmentSize) + 7} {
		m := testManifest(t, size, p)
		if len(m.Segments) > 0 {
			m.Segments[0].Shards[1].Provider = "did:key:z6MkProvider"
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeManifest(b)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) || got.ID() != m.ID() {
			t.Errorf("size %d: round trip changed the manifest", size)
		}
		j1, _ := json.Marshal(m)
		j2, _ := json.Marshal(got)
		if !bytes.Equal(j1, j2) {
			t.Errorf("size %d: decoded %s, want %s", size, j2, j1)
		}
		if size == 1 && !strings.Contains(string(j1), `"provider":"did:key`) || strings.Count(string(j1), "provider") > 1 {
			t.Errorf("JSON should carry only non-empty providers: %s", j1)
		}
	}
}

func TestDecodeManifestRefuses(t *testing.T) {
	p := testParams(3, 2)
	good, err := testManifest(t, int(p.SegmentSize)+1, p).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	header := func(version byte, size uint64, k, m, seg, leaf uint64) []byte {
		w := codec.NewWriter(32)
		w.Byte(version)
		w.Uvarint(size)
		for _, v := range []uint64{k, m, seg, leaf} {
			w.Uvarint(v)
		}
		return w.Bytes()
	}
	hdrLen := len(header(1, uint64(p.SegmentSize)+1, 3, 2, uint64(p.SegmentSize), uint64(p.LeafSize)))
	tests := []struct {
		name string
		b    []byte
		is   error
	}{
		{"empty", nil, codec.ErrShort},
		{"trailing byte", append(bytes.Clone(good), 0), codec.ErrTrailing},
		{"truncated", good[:len(good)-1], codec.ErrShort},
		{"header only", good[:hdrLen], codec.ErrShort},
		{"version 2", append([]byte{2}, good[1:]...), nil},
		{"non-minimal size", append([]byte{1, 0x81, 0x80, 0x00}, good[2:]...), codec.ErrNonMinimal},
		{"k = 0", header(1, 0, 0, 2, 1<<16, 4096), nil},
		{"k+m = 33", header(1, 0, 30, 3, 1<<16, 4096), nil},
		{"k huge", header(1, 0, 1<<40, 2, 1<<16, 4096), codec.ErrTooLong},
		{"leaf not a power of two", header(1, 0, 3, 2, 1<<16, 4095), nil},
		{"segment too small", header(1, 0, 3, 2, 10, 4096), nil},
		{"object too large", header(1, MaxObjectSize+1, 3, 2, 1<<16, 4096), nil},
		// A huge size with tiny segments must be refused before allocating.
		{"claims 2^40 segments", header(1, MaxObjectSize, 3, 2, MinSegmentSize, 32), codec.ErrShort},
		{"size 2^64-1", header(1, 1<<64-1, 3, 2, 1<<16, 4096), nil},
	}
	// Placed manifests: one segment, two providers, written by hand.
	one := testManifest(t, 1, p)
	placed := func(table []string, idx []uint64) []byte {
		w := codec.NewWriter(0)
		w.Fixed(header(1, 1, 3, 2, uint64(p.SegmentSize), uint64(p.LeafSize)))
		w.Uvarint(uint64(len(table)))
		for _, name := range table {
			w.String(name)
		}
		for j, sh := range one.Segments[0].Shards {
			w.Fixed(sh.Hash[:])
			w.Uvarint(idx[j])
		}
		return w.Bytes()
	}
	if _, err := DecodeManifest(placed([]string{"a", "b"}, []uint64{1, 2, 1, 0, 2})); err != nil {
		t.Fatalf("a good hand-written manifest: %v", err)
	}
	for _, c := range []struct {
		name  string
		table []string
		idx   []uint64
		is    error
	}{
		{"long provider", []string{strings.Repeat("p", MaxProviderLen+1)}, []uint64{1, 1, 1, 1, 1}, codec.ErrTooLong},
		{"empty provider", []string{""}, []uint64{1, 0, 0, 0, 0}, nil},
		{"repeated provider", []string{"a", "a"}, []uint64{1, 2, 0, 0, 0}, nil},
		{"provider out of order", []string{"a", "b"}, []uint64{2, 1, 0, 0, 0}, nil},
		{"provider index past the table", []string{"a"}, []uint64{1, 2, 0, 0, 0}, nil},
		{"unused provider", []string{"a", "b"}, []uint64{1, 1, 1, 1, 1}, nil},
	} {
		tests = append(tests, struct {
			name string
			b    []byte
			is   error
		}{c.name, placed(c.table, c.idx), c.is})
	}
	tests = append(tests, struct {
		name string
		b    []byte
		is   error
	}{"claims 2^40 providers", append(header(1, 1, 3, 2, uint64(p.SegmentSize), uint64(p.LeafSize)), 0x80, 0x80, 0x80, 0x80, 0x80, 0x20), codec.ErrShort})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Manifest
			m.Size = 42
			err := m.UnmarshalBinary(tt.b)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("err = %v, want kind invalid", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.is)
			}
			if m.Size != 42 {
				t.Error("a failed decode changed the manifest")
			}
		})
	}
}

func TestMarshalRefusesInvalidManifest(t *testing.T) {
	p := testParams(3, 2)
	tests := map[string]func(m *Manifest){
		"size mismatch":       func(m *Manifest) { m.Size++ },
		"missing segment":     func(m *Manifest) { m.Segments = m.Segments[:1] },
		"wrong length":        func(m *Manifest) { m.Segments[1].Length-- },
		"missing shard":       func(m *Manifest) { m.Segments[0].Shards = m.Segments[0].Shards[:4] },
		"wrong shard size":    func(m *Manifest) { m.Segments[0].Shards[2].Size++ },
		"bad params":          func(m *Manifest) { m.Params.LeafSize = 1000 },
		"negative size":       func(m *Manifest) { m.Size = -1 },
		"long provider":       func(m *Manifest) { m.Segments[0].Shards[0].Provider = strings.Repeat("x", MaxProviderLen+1) },
		"segments for size 0": func(m *Manifest) { m.Size = 0 },
	}
	for name, mutate := range tests {
		m := testManifest(t, int(p.SegmentSize)+10, p)
		mutate(m)
		if _, err := m.MarshalBinary(); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
		if _, err := NewDecoder(m, nil); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: NewDecoder err = %v, want invalid", name, err)
		}
	}
}

// FuzzDecodeManifest checks that the decoder never panics or over-allocates,
// and that whatever it accepts is valid and re-encodes to the same bytes.
func FuzzDecodeManifest(f *testing.F) {
	p := testParams(3, 2)
	for _, size := range []int{0, 1, int(p.SegmentSize) + 1} {
		b, err := testManifest(f, size, p).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	withProvider := testManifest(f, 5, testParams(1, 1))
	withProvider.Segments[0].Shards[1].Provider = "p1"
	b, _ := withProvider.MarshalBinary()
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(binary.AppendUvarint([]byte{1}, 1<<62))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("decode error %v has kind %s, want invalid", err, errs.KindOf(err))
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded an invalid manifest: %v", err)
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical encoding:\n in  %x\n out %x", b, again)
		}
	})
}
