// Package codec is the ledger's deterministic binary encoding: unsigned
// varints, length-prefixed bytes and strings, and fixed-size arrays. Every
// value has exactly one encoding: the Reader refuses non-minimal varints,
// lengths beyond their bound and trailing bytes, so two validators that accept
// the same bytes decode the same value, and a signature over bytes is a
// signature over one meaning.
//
// It is not a general serializer: there are no field tags, and a type that
// changes shape gets a new message type name instead.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort, ErrTrailing, ErrNonMinimal and ErrTooLong are the decode failures.
var (
	ErrShort      = errors.New("input ends early")
	ErrTrailing   = errors.New("trailing bytes after the value")
	ErrNonMinimal = errors.New("varint is not minimally encoded")
	ErrTooLong    = errors.New("length exceeds its bound")
)

// Writer appends encodings to a byte slice.
type Writer struct{ buf []byte }

// NewWriter returns a Writer whose buffer starts with capacity n.
func NewWriter(n int) *Writer { return &Writer{buf: make([]byte, 0, n)} }

// Bytes returns the encoding so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Uvarint appends v as an unsigned LEB128 varint.
func (w *Writer) Uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }

// Uint64 appends v as 8 big-endian bytes.
func (w *Writer) Uint64(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// Byte appends one byte.
func (w *Writer) Byte(b byte) { w.buf = append(w.buf, b) }

// Fixed appends b with no length prefix; the reader must know its size.
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// Bytes appends b with a varint length prefix.
func (w *Writer) BytesField(b []byte) {
	w.Uvarint(uint64(len(b)))
	w.buf = append(w.buf, b...)
}

// String appends s with a varint length prefix.
func (w *Writer) String(s string) {
	w.Uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// Bool appends b as one byte, 0 or 1.
func (w *Writer) Bool(b bool) {
	if b {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Reader decodes from a byte slice. The first failure sticks: later calls
// return zero values, and Err (or Finish) reports it.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first decode failure, if any.
func (r *Reader) Err() error { return r.err }

// Fail records err as the failure, if none is recorded yet.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Finish returns the first failure, or ErrTrailing if bytes are left.
func (r *Reader) Finish() error {
	if r.err == nil && r.off != len(r.buf) {
		r.err = fmt.Errorf("%w (%d left)", ErrTrailing, len(r.buf)-r.off)
	}
	return r.err
}

// Remaining reports how many bytes are left.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Uvarint reads a minimally encoded unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		if n == 0 {
			r.err = ErrShort
		} else {
			r.err = errors.New("varint overflows 64 bits")
		}
		return 0
	}
	// A minimal encoding never ends in a zero byte, except for the value 0.
	if n > 1 && r.buf[r.off+n-1] == 0 {
		r.err = ErrNonMinimal
		return 0
	}
	r.off += n
	return v
}

// Uint64 reads 8 big-endian bytes.
func (r *Reader) Uint64() uint64 {
	b := r.Fixed(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	b := r.Fixed(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool() bool {
	b := r.Byte()
	if b > 1 {
		r.Fail(errors.New("bool is neither 0 nor 1"))
	}
	return b == 1
}

// Fixed reads exactly n bytes. The result aliases the input.
func (r *Reader) Fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf)-r.off < n {
		r.err = ErrShort
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// BytesField reads a length-prefixed byte string of at most max bytes. The
// result aliases the input.
func (r *Reader) BytesField(max int) []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.err = fmt.Errorf("%w: %d > %d", ErrTooLong, n, max)
		return nil
	}
	return r.Fixed(int(n))
}

// String reads a length-prefixed string of at most max bytes.
func (r *Reader) String(max int) string { return string(r.BytesField(max)) }
