package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stratus-cloud/stratus/codec"
)

func TestUvarint(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    uint64
		wantErr error // nil: must succeed; errAny: any error
	}{
		{"zero", []byte{0x00}, 0, nil},
		{"one", []byte{0x01}, 1, nil},
		{"127", []byte{0x7f}, 127, nil},
		{"128", []byte{0x80, 0x01}, 128, nil},
		{"300", []byte{0xac, 0x02}, 300, nil},
		{"max", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, math.MaxUint64, nil},
		{"empty", nil, 0, codec.ErrShort},
		{"unterminated", []byte{0x80}, 0, codec.ErrShort},
		{"unterminated long", []byte{0xff, 0xff, 0xff}, 0, codec.ErrShort},
		{"zero in two bytes", []byte{0x80, 0x00}, 0, codec.ErrNonMinimal},
		{"one in two bytes", []byte{0x81, 0x00}, 0, codec.ErrNonMinimal},
		{"128 in three bytes", []byte{0x80, 0x81, 0x00}, 0, codec.ErrNonMinimal},
		{"zero in ten bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, codec.ErrNonMinimal},
		{"overflows 64 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 0, errAny},
		{"eleven bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := codec.NewReader(tt.in)
			got := r.Uvarint()
			err := r.Finish()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Uvarint(%x): %v", tt.in, err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Uvarint(%x) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Uvarint(%x) = %d, want %d", tt.in, got, tt.want)
			}
			if tt.wantErr == nil {
				w := codec.NewWriter(0)
				w.Uvarint(got)
				if !bytes.Equal(w.Bytes(), tt.in) {
					t.Errorf("Writer.Uvarint(%d) = %x, want %x", got, w.Bytes(), tt.in)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		read    func(r *codec.Reader)
		wantErr error
	}{
		{"trailing", []byte{1, 2}, func(r *codec.Reader) { r.Byte() }, codec.ErrTrailing},
		{"bytes over bound", []byte{3, 'a', 'b', 'c'}, func(r *codec.Reader) { r.BytesField(2) }, codec.ErrTooLong},
		{"bytes at bound", []byte{2, 'a', 'b'}, func(r *codec.Reader) { r.BytesField(2) }, nil},
		{"bytes past end", []byte{5, 'a', 'b'}, func(r *codec.Reader) { r.BytesField(10) }, codec.ErrShort},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, func(r *codec.Reader) { r.BytesField(math.MaxInt) }, codec.ErrTooLong},
		{"length within bound past end", binary.AppendUvarint(nil, 1<<62), func(r *codec.Reader) { r.BytesField(math.MaxInt) }, codec.ErrShort},
		{"string over bound", []byte{2, 'h', 'i'}, func(r *codec.Reader) { r.String(1) }, codec.ErrTooLong},
		{"fixed short", []byte{1, 2, 3}, func(r *codec.Reader) { r.Fixed(4) }, codec.ErrShort},
		{"fixed negative", []byte{1}, func(r *codec.Reader) { r.Fixed(-1) }, codec.ErrShort},
		{"uint64 short", []byte{1, 2, 3, 4, 5, 6, 7}, func(r *codec.Reader) { r.Uint64() }, codec.ErrShort},
		{"byte empty", nil, func(r *codec.Reader) { r.Byte() }, codec.ErrShort},
		{"bool two", []byte{2}, func(r *codec.Reader) { r.Bool() }, errAny},
		{"bool one", []byte{1}, func(r *codec.Reader) { r.Bool() }, nil},
		{"non-minimal length", []byte{0x81, 0x00, 'a'}, func(r *codec.Reader) { r.BytesField(10) }, codec.ErrNonMinimal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := codec.NewReader(tt.in)
			tt.read(r)
			err := r.Finish()
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("error = %v, want none", err)
			case tt.wantErr == errAny && err == nil:
				t.Errorf("no error, want one")
			case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestFirstErrorSticks: once a read fails, later reads return zero values and
// the first error is the one reported.
func TestFirstErrorSticks(t *testing.T) {
	r := codec.NewReader([]byte{0x80, 0x00, 5, 1, 2, 3, 4, 5, 6, 7, 8})
	if v := r.Uvarint(); v != 0 {
		t.Errorf("Uvarint = %d, want 0", v)
	}
	if b := r.BytesField(10); b != nil {
		t.Errorf("BytesField after failure = %x, want nil", b)
	}
	if v := r.Uint64(); v != 0 {
		t.Errorf("Uint64 after failure = %d, want 0", v)
	}
	if v := r.Byte(); v != 0 {
		t.Errorf("Byte after failure = %d, want 0", v)
	}
	if s := r.String(10); s != "" {
		t.Errorf("String after failure = %q, want empty", s)
	}
	r.Fail(errors.New("later"))
	if err := r.Finish(); !errors.Is(err, codec.ErrNonMinimal) {
		t.Errorf("Finish = %v, want %v", err, codec.ErrNonMinimal)
	}
}

func TestRoundTrip(t *testing.T) {
	w := codec.NewWriter(0)
	w.Uvarint(0)
	w.Uvarint(math.MaxUint64)
	w.Uint64(0x0102030405060708)
	w.Byte(0xfe)
	w.Bool(true)
	w.Bool(false)
	w.Fixed([]byte("fix"))
	w.BytesField(nil)
	w.BytesField([]byte{0, 1, 2})
	w.String("héllo")

	r := codec.NewReader(w.Bytes())
	if got := r.Uvarint(); got != 0 {
		t.Errorf("Uvarint = %d", got)
	}
	if got := r.Uvarint(); got != math.MaxUint64 {
		t.Errorf("Uvarint = %d", got)
	}
	if got := r.Uint64(); got != 0x0102030405060708 {
		t.Errorf("Uint64 = %x", got)
	}
	if got := r.Byte(); got != 0xfe {
		t.Errorf("Byte = %x", got)
	}
	if got := r.Bool(); !got {
		t.Errorf("Bool = false")
	}
	if got := r.Bool(); got {
		t.Errorf("Bool = true")
	}
	if got := r.Fixed(3); string(got) != "fix" {
		t.Errorf("Fixed = %q", got)
	}
	if got := r.BytesField(0); len(got) != 0 {
		t.Errorf("BytesField = %x", got)
	}
	if got := r.BytesField(3); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("BytesField = %x", got)
	}
	if got := r.String(6); got != "héllo" {
		t.Errorf("String = %q", got)
	}
	if r.Remaining() != 0 {
		t.Errorf("Remaining = %d", r.Remaining())
	}
	if err := r.Finish(); err != nil {
		t.Errorf("Finish: %v", err)
	}
}

// FuzzReader drives a Reader with a script of operations over arbitrary
// bytes. It must never panic; a failure must stick; whatever it accepts must
// be the canonical encoding, that is the Writer must produce the same bytes
// from the decoded values.
func FuzzReader(f *testing.F) {
	w := codec.NewWriter(0)
	w.Uvarint(300)
	w.BytesField([]byte("abc"))
	w.String("xyz")
	w.Uint64(7)
	w.Bool(true)
	f.Add([]byte{0, 1, 2, 3, 4}, w.Bytes())
	f.Add([]byte{0}, []byte{0x80, 0x00})
	f.Add([]byte{1}, []byte{0x05, 1, 2})
	f.Add([]byte{5, 6}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, ops, data []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		r := codec.NewReader(data)
		out := codec.NewWriter(len(data))
		var failed error
		for _, op := range ops {
			before := r.Remaining()
			switch op % 7 {
			case 0:
				v := r.Uvarint()
				if r.Err() == nil {
					out.Uvarint(v)
				}
			case 1:
				b := r.BytesField(int(op >> 3))
				if r.Err() == nil {
					out.BytesField(b)
				}
			case 2:
				s := r.String(int(op >> 3))
				if r.Err() == nil {
					out.String(s)
				}
			case 3:
				v := r.Uint64()
				if r.Err() == nil {
					out.Uint64(v)
				}
			case 4:
				v := r.Bool()
				if r.Err() == nil {
					out.Bool(v)
				}
			case 5:
				v := r.Byte()
				if r.Err() == nil {
					out.Byte(v)
				}
			case 6:
				b := r.Fixed(int(op >> 3))
				if r.Err() == nil {
					out.Fixed(b)
				}
			}
			if r.Remaining() < 0 || r.Remaining() > before {
				t.Fatalf("Remaining went from %d to %d", before, r.Remaining())
			}
			if failed != nil {
				if r.Err() != failed {
					t.Fatalf("error changed from %v to %v", failed, r.Err())
				}
				if r.Remaining() != before {
					t.Fatalf("a read after a failure consumed input")
				}
			}
			failed = r.Err()
		}
		consumed := len(data) - r.Remaining()
		err := r.Finish()
		if failed != nil && err != failed {
			t.Fatalf("Finish = %v, want the first failure %v", err, failed)
		}
		if failed == nil && (err == nil) != (consumed == len(data)) {
			t.Fatalf("Finish = %v with %d of %d bytes consumed", err, consumed, len(data))
		}
		if failed == nil && !bytes.Equal(out.Bytes(), data[:consumed]) {
			t.Fatalf("re-encoding of the decoded values = %x, want %x", out.Bytes(), data[:consumed])
		}
	})
}

// FuzzRoundTrip writes values with the Writer and expects the Reader to give
// them back exactly.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0), []byte(nil), "", false, byte(0))
	f.Add(uint64(math.MaxUint64), uint64(1)<<63, []byte{0, 0xff}, "stratus", true, byte(0xff))
	f.Fuzz(func(t *testing.T, v, u uint64, b []byte, s string, flag bool, c byte) {
		w := codec.NewWriter(0)
		w.Uvarint(v)
		w.Uint64(u)
		w.BytesField(b)
		w.String(s)
		w.Bool(flag)
		w.Byte(c)
		w.Fixed(b)

		r := codec.NewReader(w.Bytes())
		gv, gu := r.Uvarint(), r.Uint64()
		gb, gs := r.BytesField(len(b)), r.String(len(s))
		gflag, gc := r.Bool(), r.Byte()
		gfix := r.Fixed(len(b))
		if err := r.Finish(); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if gv != v || gu != u || !bytes.Equal(gb, b) || gs != s || gflag != flag || gc != c || !bytes.Equal(gfix, b) {
			t.Fatalf("got (%d %d %x %q %v %d %x), want (%d %d %x %q %v %d %x)", gv, gu, gb, gs, gflag, gc, gfix, v, u, b, s, flag, c, b)
		}
		// One byte less than the bound is refused.
		if len(b) > 0 {
			r := codec.NewReader(w.Bytes())
			r.Uvarint()
			r.Uint64()
			r.BytesField(len(b) - 1)
			if !errors.Is(r.Finish(), codec.ErrTooLong) {
				t.Fatalf("BytesField(%d) of %d bytes: %v, want ErrTooLong", len(b)-1, len(b), r.Err())
			}
		}
	})
}
