package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
)

// testParams keeps segments small so that multi-segment tests are fast.
func testParams(k, m int) Params {
	return Params{K: k, M: m, SegmentSize: 64 << 10, LeafSize: 4 << 10}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 's', 't', 'r', 'a', 't', 'u', 's'})
	_, _ = r.Read(b)
	return b
}

// store is an in-memory set of shards, keyed by segment and shard index.
type store map[[2]int][]byte

func encodeAll(t *testing.T, data []byte, p Params) (*Manifest, store) {
	t.Helper()
	st := store{}
	m, err := Encode(bytes.NewReader(data), p, func(i int, seg EncodedSegment) error {
		for j, s := range seg.Shards {
			st[[2]int{i, j}] = s
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate of encoded manifest: %v", err)
	}
	return m, st
}

func (st store) fetch(seg, shard int) ([]byte, error) {
	b, ok := st[[2]int{seg, shard}]
	if !ok {
		return nil, fmt.Errorf("provider of segment %d shard %d is down", seg, shard)
	}
	return b, nil
}

func readAll(t *testing.T, m *Manifest, fetch FetchFunc) ([]byte, *Decoder, error) {
	t.Helper()
	d, err := NewDecoder(m, fetch)
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	var buf bytes.Buffer
	_, err = d.WriteTo(&buf)
	return buf.Bytes(), d, err
}

func TestRoundTrip(t *testing.T) {
	p := testParams(3, 2)
	ss := int(p.SegmentSize)
	for _, size := range []int{0, 1, 2, 3, 4, ss - 1, ss, ss + 1, 3*ss + 17, 5 * ss} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randomBytes(size, uint64(size))
			m, st := encodeAll(t, data, p)
			if m.Size != int64(size) {
				t.Errorf("Size = %d, want %d", m.Size, size)
			}
			if got, want := len(m.Segments), p.SegmentCount(int64(size)); got != want {
				t.Errorf("%d segments, want %d", got, want)
			}
			got, _, err := readAll(t, m, st.fetch)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d written", len(got), len(data))
			}
		})
	}
}

func TestRoundTripDefaultParams(t *testing.T) {
	p := DefaultParams()
	data := randomBytes(DefaultSegmentSize+4099, 7)
	m, st := encodeAll(t, data, p)
	if len(m.Segments) != 2 {
		t.Fatalf("%d segments, want 2", len(m.Segments))
	}
	if got, want := m.Segments[0].Shards[0].Size, int64((DefaultSegmentSize+2)/3); got != want {
		t.Errorf("shard size %d, want %d", got, want)
	}
	// Lose two shards of each segment, one data and one parity.
	delete(st, [2]int{0, 1})
	delete(st, [2]int{0, 4})
	delete(st, [2]int{1, 0})
	delete(st, [2]int{1, 2})
	got, _, err := readAll(t, m, st.fetch)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read differs from written")
	}
}

func TestRedundancyVariants(t *testing.T) {
	for _, r := range []string{"1+0", "1+1", "3+2", "6+3", "10+4", "16+16"} {
		t.Run(r, func(t *testing.T) {
			k, m, err := ParseRedundancy(r)
			if err != nil {
				t.Fatal(err)
			}
			p := testParams(k, m)
			data := randomBytes(2*int(p.SegmentSize)+1001, uint64(k*100+m))
			man, st := encodeAll(t, data, p)
			for _, seg := range man.Segments {
				if len(seg.Shards) != k+m {
					t.Fatalf("%d shards, want %d", len(seg.Shards), k+m)
				}
			}
			// Lose m shards of every segment: the first m in segment 0, the
			// last m in segment 1, every other one from the front in segment 2.
			for j := range m {
				delete(st, [2]int{0, j})
				delete(st, [2]int{1, k + m - 1 - j})
				delete(st, [2]int{2, (2 * j) % (k + m)})
			}
			got, _, err := readAll(t, man, st.fetch)
			if err != nil {
				t.Fatalf("read with %d shards lost per segment: %v", m, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("read differs from written")
			}
		})
	}
}

func TestHealthyReadFetchesOnlyDataShards(t *testing.T) {
	p := testParams(3, 2)
	m, st := encodeAll(t, randomBytes(3*int(p.SegmentSize), 1), p)
	var fetched [][2]int
	_, d, err := readAll(t, m, func(seg, shard int) ([]byte, error) {
		fetched = append(fetched, [2]int{seg, shard})
		return st.fetch(seg, shard)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fetched) != 9 {
		t.Errorf("fetched %v, want the 3 data shards of each of 3 segments", fetched)
	}
	for _, f := range fetched {
		if f[1] >= p.K {
			t.Errorf("fetched parity shard %v on a healthy read", f)
		}
	}
	if f := d.Faults(); len(f) != 0 {
		t.Errorf("Faults() = %v on a healthy read", f)
	}
}

func TestCorruptShardsAreRoutedAround(t *testing.T) {
	p := testParams(3, 2)
	data := randomBytes(2*int(p.SegmentSize)+5, 3)
	m, st := encodeAll(t, data, p)
	corrupt := [][2]int{{0, 0}, {0, 2}, {1, 1}, {1, 3}, {2, 0}}
	for _, c := range corrupt {
		b := slices.Clone(st[c])
		b[len(b)/2] ^= 0x01
		st[c] = b
	}
	// A truncated shard is corrupt too.
	st[[2]int{2, 1}] = st[[2]int{2, 1}][:1]

	got, d, err := readAll(t, m, st.fetch)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read differs from written")
	}
	faults := d.Faults()
	var seen [][2]int
	for _, f := range faults {
		if !errors.Is(f.Err, ErrCorrupt) {
			t.Errorf("fault %v does not wrap ErrCorrupt", f)
		}
		seen = append(seen, [2]int{f.Segment, f.Shard})
	}
	want := append(slices.Clone(corrupt), [2]int{2, 1})
	slices.SortFunc(want, func(a, b [2]int) int { return a[0]*100 + a[1] - b[0]*100 - b[1] })
	if !slices.Equal(seen, want) {
		t.Errorf("faults at %v, want %v", seen, want)
	}
}

func TestTooFewShardsIsUnavailable(t *testing.T) {
	p := testParams(3, 2)
	data := randomBytes(2*int(p.SegmentSize), 4)
	m, st := encodeAll(t, data, p)
	// Segment 1 loses two shards and has a third corrupted: m+1 bad.
	delete(st, [2]int{1, 0})
	delete(st, [2]int{1, 3})
	bad := slices.Clone(st[[2]int{1, 4}])
	bad[0] ^= 0xff
	st[[2]int{1, 4}] = bad

	got, _, err := readAll(t, m, st.fetch)
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("err = %v (kind %s), want kind unavailable", err, errs.KindOf(err))
	}
	if len(got) != int(p.SegmentSize) {
		t.Errorf("wrote %d bytes before failing, want segment 0's %d", len(got), p.SegmentSize)
	}
	var ue *UnrecoverableError
	if !errors.As(err, &ue) {
		t.Fatalf("err %v does not wrap *UnrecoverableError", err)
	}
	if ue.Segment != 1 || ue.Need != 3 || ue.Good != 2 {
		t.Errorf("got segment %d need %d good %d, want 1, 3, 2", ue.Segment, ue.Need, ue.Good)
	}
	var idx []int
	for _, f := range ue.Faults {
		idx = append(idx, f.Shard)
	}
	if !slices.Equal(idx, []int{0, 3, 4}) {
		t.Errorf("faulty shards %v, want [0 3 4]", idx)
	}
	if !errors.Is(ue.Faults[2].Err, ErrCorrupt) {
		t.Errorf("shard 4's fault %v does not wrap ErrCorrupt", ue.Faults[2].Err)
	}
	for _, want := range []string{"segment 1", "2 good shards of the 3 needed", "shard 0 (", "shard 3 (", "shard 4 ("} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRecoverShards(t *testing.T) {
	p := testParams(4, 3)
	m, st := encodeAll(t, randomBytes(int(p.SegmentSize)+99, 5), p)
	for seg := range m.Segments {
		want := make([][]byte, p.Shards())
		given := make([][]byte, p.Shards())
		for j := range want {
			want[j] = st[[2]int{seg, j}]
			given[j] = want[j]
		}
		given[1], given[5] = nil, nil
		given[6] = []byte("not the shard")
		got, faults, err := RecoverShards(m, seg, given)
		if err != nil {
			t.Fatalf("segment %d: %v", seg, err)
		}
		for j := range want {
			if !bytes.Equal(got[j], want[j]) {
				t.Errorf("segment %d shard %d rebuilt wrongly", seg, j)
			}
		}
		if len(faults) != 3 || faults[0].Shard != 1 || faults[1].Shard != 5 || faults[2].Shard != 6 {
			t.Errorf("faults %v, want shards 1, 5, 6", faults)
		}
		given[0] = nil
		if _, _, err := RecoverShards(m, seg, given); !errs.Is(err, errs.Unavailable) {
			t.Errorf("with 4 bad shards: err = %v, want unavailable", err)
		}
	}
	if _, _, err := RecoverShards(m, 2, make([][]byte, p.Shards())); !errs.Is(err, errs.Invalid) {
		t.Errorf("segment out of range: err = %v, want invalid", err)
	}
	if _, _, err := RecoverShards(m, 0, make([][]byte, 2)); !errs.Is(err, errs.Invalid) {
		t.Errorf("wrong shard count: err = %v, want invalid", err)
	}
}

func TestReadAtAndRanges(t *testing.T) {
	p := testParams(3, 2)
	ss := p.SegmentSize
	data := randomBytes(int(3*ss+100), 6)
	m, st := encodeAll(t, data, p)
	d, err := NewDecoder(m, st.fetch)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data))
	tests := []struct {
		off, n   int64
		segments []int
	}{
		{0, 0, nil},
		{0, 1, []int{0}},
		{0, ss, []int{0}},
		{ss - 1, 2, []int{0, 1}},
		{ss, ss, []int{1}},
		{10, 2*ss + 5, []int{0, 1, 2}},
		{3 * ss, 100, []int{3}},
		{3*ss + 50, 1000, []int{3}}, // runs past the end
		{0, size + 1, []int{0, 1, 2, 3}},
		{size, 10, nil},
		{size + 10, 10, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.off, tt.n), func(t *testing.T) {
			rs, err := m.Ranges(tt.off, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			var segs []int
			pos := tt.off
			for _, r := range rs {
				segs = append(segs, r.Segment)
				if r.Offset != pos || r.Offset != int64(r.Segment)*ss+r.Start || r.Start >= r.End {
					t.Errorf("range %+v does not continue at %d", r, pos)
				}
				pos += r.End - r.Start
			}
			if !slices.Equal(segs, tt.segments) {
				t.Errorf("segments %v, want %v", segs, tt.segments)
			}

			buf := make([]byte, tt.n)
			n, err := d.ReadAt(buf, tt.off)
			wantN := max(0, min(tt.n, size-tt.off))
			if int64(n) != wantN {
				t.Errorf("ReadAt read %d bytes, want %d", n, wantN)
			}
			if wantN < tt.n && err != io.EOF {
				t.Errorf("ReadAt past the end: err = %v, want io.EOF", err)
			}
			if wantN == tt.n && err != nil {
				t.Errorf("ReadAt: %v", err)
			}
			if wantN > 0 && !bytes.Equal(buf[:n], data[tt.off:tt.off+wantN]) {
				t.Error("ReadAt returned the wrong bytes")
			}
		})
	}
	if _, err := m.Ranges(-1, 1); !errs.Is(err, errs.Invalid) {
		t.Errorf("negative offset: err = %v, want invalid", err)
	}
	if _, err := d.ReadAt(make([]byte, 1), -1); !errs.Is(err, errs.Invalid) {
		t.Errorf("ReadAt negative offset: err = %v, want invalid", err)
	}
	var _ io.ReaderAt = d
	var _ io.WriterTo = d
}

func TestEncoderRefusesBadSegments(t *testing.T) {
	p := testParams(3, 2)
	e, err := NewEncoder(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeSegment(nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("empty segment: err = %v, want invalid", err)
	}
	if _, err := e.EncodeSegment(make([]byte, p.SegmentSize+1)); !errs.Is(err, errs.Invalid) {
		t.Errorf("oversized segment: err = %v, want invalid", err)
	}
	if _, err := e.EncodeSegment(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.EncodeSegment(make([]byte, 10)); !errs.Is(err, errs.Invalid) {
		t.Errorf("segment after a short one: err = %v, want invalid", err)
	}
	if got := e.Manifest(); got.Size != 10 || len(got.Segments) != 1 {
		t.Errorf("manifest after refusals: size %d, %d segments", got.Size, len(got.Segments))
	}
	if _, err := NewEncoder(Params{K: 0, M: 1, SegmentSize: 1 << 20, LeafSize: 4096}); !errs.Is(err, errs.Invalid) {
		t.Errorf("NewEncoder with k=0: err = %v, want invalid", err)
	}
}

func TestEncodeShardsDoNotAliasInput(t *testing.T) {
	p := testParams(2, 1)
	e, _ := NewEncoder(p)
	data := randomBytes(1000, 8)
	seg, err := e.EncodeSegment(data)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := VerifyShard(seg.Segment.Shards[0], p.LeafSize, seg.Shards[0]); err != nil {
		t.Fatalf("changing the input changed a shard: %v", err)
	}
	// The last data shard is zero-padded: 1000 bytes over 2 shards is exact,
	// 1001 is not.
	e2, _ := NewEncoder(p)
	seg, _ = e2.EncodeSegment(randomBytes(1001, 9))
	if got := seg.Shards[1][500]; got != 0 || len(seg.Shards[1]) != 501 {
		t.Errorf("padding byte = %d, shard length %d; want 0 and 501", got, len(seg.Shards[1]))
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

func TestEncodePassesErrorsThrough(t *testing.T) {
	p := testParams(3, 2)
	if _, err := Encode(&failingReader{n: 100 << 10}, p, func(int, EncodedSegment) error { return nil }); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("reader error: got %v", err)
	}
	putErr := errors.New("provider full")
	if _, err := Encode(bytes.NewReader(make([]byte, 10)), p, func(int, EncodedSegment) error { return putErr }); !errors.Is(err, putErr) {
		t.Errorf("put error: got %v", err)
	}
}

func TestDeterministicID(t *testing.T) {
	p := testParams(3, 2)
	data := randomBytes(2*int(p.SegmentSize)+3, 10)
	m1, _ := encodeAll(t, data, p)
	m2, _ := encodeAll(t, slices.Clone(data), p)
	if m1.ID() != m2.ID() {
		t.Fatalf("same input gave IDs %s and %s", m1.ID(), m2.ID())
	}
	id := m1.ID()

	m2.Segments[0].Shards[0].Provider = "did:key:z6Mk"
	if m2.ID() != id {
		t.Error("setting a provider changed the ID")
	}
	changed := []struct {
		name string
		p    Params
		data []byte
	}{
		{"one byte", p, append(slices.Clone(data[:len(data)-1]), data[len(data)-1]^1)},
		{"one byte longer", p, append(slices.Clone(data), 0)},
		{"redundancy", testParams(3, 1), data},
		{"leaf size", Params{K: 3, M: 2, SegmentSize: p.SegmentSize, LeafSize: 1024}, data},
		{"segment size", Params{K: 3, M: 2, SegmentSize: 32 << 10, LeafSize: p.LeafSize}, data},
	}
	for _, c := range changed {
		m, _ := encodeAll(t, c.data, c.p)
		if m.ID() == id {
			t.Errorf("changing the %s kept the ID", c.name)
		}
	}
	// Trailing zero padding is part of the size, not just of the shards.
	a, _ := encodeAll(t, []byte{1}, p)
	b, _ := encodeAll(t, []byte{1, 0}, p)
	if a.ID() == b.ID() {
		t.Error("objects differing only by a trailing zero have the same ID")
	}
}

// TestGoldenID pins the format: a change here changes every object's ID.
func TestGoldenID(t *testing.T) {
	tests := []struct {
		data string
		want string
	}{
		{"", goldenEmpty},
		{"hello, stratus\n", goldenHello},
	}
	for _, tt := range tests {
		m, _ := encodeAll(t, []byte(tt.data), DefaultParams())
		if got := m.ID().String(); got != tt.want {
			t.Errorf("ID of %q = %s, want %s", tt.data, got, tt.want)
		}
	}
}

const (
	goldenEmpty = "bafkreie2nkxgermuxlrktt4g72njbqlchjsdak3xk4w625i2mzrcv3dlmu"
	goldenHello = "bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi"
)

func TestConcurrentReadAt(t *testing.T) {
	p := testParams(3, 2)
	data := randomBytes(5*int(p.SegmentSize), 13)
	m, st := encodeAll(t, data, p)
	delete(st, [2]int{1, 0}) // every read of segment 1 needs parity
	d, err := NewDecoder(m, st.fetch)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 8)
	for g := range 8 {
		go func() {
			off := int64(g) * p.SegmentSize / 2
			buf := make([]byte, p.SegmentSize)
			_, err := d.ReadAt(buf, off)
			if err == nil && !bytes.Equal(buf, data[off:off+p.SegmentSize]) {
				err = fmt.Errorf("read at %d returned the wrong bytes", off)
			}
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
