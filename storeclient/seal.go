package storeclient

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/ssh"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// The format of a private object (docs/storage-format.md, "Private
// objects"). The stored bytes, which the object's ID and shard hashes are
// over, are the plaintext cut into chunks of SealChunk bytes (the last one
// shorter, and one empty chunk for an empty plaintext), each sealed with
// XChaCha20-Poly1305 under the object's 32-byte data key:
//
//	nonce(i) = 15 zero bytes || uint64 BE i || 0x01 if i is the last chunk, else 0x00
//	chunk(i) = Seal(key, nonce(i), plaintext chunk i, no associated data)
//
// A data key seals one object only, so a counter nonce is unique, and the
// last-chunk flag makes a truncated or extended object fail to open (as in
// the STREAM construction, and age's payload). The data key never leaves
// the client in the clear: it is wrapped to each reader's ed25519 key as a
// standard age file with one ssh-ed25519 recipient (the key converted to
// X25519, its public half by edwards25519's BytesMontgomery and its
// private half from the seed's SHA-512, clamped), so `age -d -i` with the
// same key in OpenSSH form opens it too.

// SealChunk is the plaintext bytes of one sealed chunk.
const SealChunk = 64 << 10

// DataKeySize is the size of a private object's data key.
const DataKeySize = chacha20poly1305.KeySize

const sealedChunk = SealChunk + chacha20poly1305.Overhead

// SealedSize returns the stored size of a private object of plain bytes.
func SealedSize(plain int64) int64 {
	n := max(1, (plain+SealChunk-1)/SealChunk)
	return plain + n*chacha20poly1305.Overhead
}

// PlainSize is the inverse of SealedSize: the plaintext size of a private
// object whose stored size is sealed. It fails with Invalid for a size no
// plaintext seals to.
func PlainSize(sealed int64) (int64, error) { return plainSize(sealed) }

func plainSize(sealed int64) (int64, error) {
	full, rem := sealed/sealedChunk, sealed%sealedChunk
	switch {
	case rem == 0 && full > 0:
		return full * SealChunk, nil
	case rem >= chacha20poly1305.Overhead && (rem > chacha20poly1305.Overhead || full == 0):
		return full*SealChunk + rem - chacha20poly1305.Overhead, nil
	}
	return 0, errs.E(errs.Invalid, "%d bytes is not the size of a sealed private object", sealed)
}

func chunkNonce(i, last int64) []byte {
	n := make([]byte, chacha20poly1305.NonceSizeX)
	binary.BigEndian.PutUint64(n[15:23], uint64(i))
	if i == last {
		n[23] = 1
	}
	return n
}

// NewDataKey returns a fresh random data key.
func NewDataKey() ([]byte, error) {
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, errs.E(errs.Internal, "drawing a data key: %v", err)
	}
	return k, nil
}

// sealedReader is the sealed form of the size plaintext bytes of r, read at
// any offset: each ReadAt seals the chunks it touches, so the same bytes
// come out every time (Put reads them twice: once for the ID, once to
// upload).
type sealedReader struct {
	r          io.ReaderAt
	plain      int64
	size, last int64
	aead       cipher.AEAD
}

func newSealedReader(r io.ReaderAt, plain int64, key []byte) (*sealedReader, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, errs.E(errs.Invalid, "a data key: %v", err)
	}
	size := SealedSize(plain)
	return &sealedReader{r: r, plain: plain, size: size, last: (size - 1) / sealedChunk, aead: aead}, nil
}

func (s *sealedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errs.E(errs.Invalid, "negative offset %d", off)
	}
	n := 0
	pt := make([]byte, SealChunk)
	ct := make([]byte, 0, sealedChunk)
	for n < len(p) && off < s.size {
		i := off / sealedChunk
		start := i * SealChunk
		m := min(SealChunk, s.plain-start)
		// A ReaderAt may return io.EOF with every byte asked for.
		if got, err := s.r.ReadAt(pt[:m], start); err != nil && !(errors.Is(err, io.EOF) && int64(got) == m) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("reading the file: %w", err)
		}
		ct = s.aead.Seal(ct[:0], chunkNonce(i, s.last), pt[:m], nil)
		c := copy(p[n:], ct[off-i*sealedChunk:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// openWriter opens the sealed chunks first.. of an object of sealed bytes
// that are written to it, in order, and writes their plaintext to w,
// less skip bytes at the start and at most limit bytes in all.
type openWriter struct {
	w           io.Writer
	aead        cipher.AEAD
	size, last  int64
	next        int64 // the chunk expected next
	buf         []byte
	skip, limit int64
	written     int64
}

func newOpenWriter(w io.Writer, key []byte, sealed, first, skip, limit int64) (*openWriter, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, errs.E(errs.Invalid, "a data key: %v", err)
	}
	return &openWriter{w: w, aead: aead, size: sealed, last: (sealed - 1) / sealedChunk, next: first, skip: skip, limit: limit}, nil
}

func (o *openWriter) chunkLen(i int64) int {
	if i < o.last {
		return sealedChunk
	}
	return int(o.size - o.last*sealedChunk)
}

func (o *openWriter) Write(p []byte) (int, error) {
	o.buf = append(o.buf, p...)
	for o.next <= o.last && len(o.buf) >= o.chunkLen(o.next) {
		n := o.chunkLen(o.next)
		pt, err := o.aead.Open(nil, chunkNonce(o.next, o.last), o.buf[:n], nil)
		if err != nil {
			return 0, errs.E(errs.Invalid, "chunk %d of the private object does not open with its data key: the stored bytes or the wrapped key were tampered with", o.next)
		}
		o.buf = o.buf[n:]
		o.next++
		d := min(o.skip, int64(len(pt)))
		pt, o.skip = pt[d:], o.skip-d
		pt = pt[:min(int64(len(pt)), o.limit-o.written)]
		if len(pt) > 0 {
			if _, err := o.w.Write(pt); err != nil {
				return 0, err
			}
			o.written += int64(len(pt))
		}
	}
	if len(o.buf) > 0 && o.next > o.last {
		return 0, errs.E(errs.Internal, "%d bytes past the end of the private object", len(o.buf))
	}
	return len(p), nil
}

// WrapKey wraps a data key to the ed25519 key of to: an age file with one
// ssh-ed25519 recipient, about 250 bytes.
func WrapKey(dataKey []byte, to identity.Address) ([]byte, error) {
	pub, err := ssh.NewPublicKey(ed25519.PublicKey(to[:]))
	if err != nil {
		return nil, errs.E(errs.Invalid, "%s: %v", to, err)
	}
	r, err := agessh.NewEd25519Recipient(pub)
	if err != nil {
		return nil, errs.E(errs.Invalid, "%s is not a key that a data key can be wrapped to: %v", to, err)
	}
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		return nil, errs.E(errs.Internal, "wrapping a data key: %v", err)
	}
	if _, err := w.Write(dataKey); err != nil {
		return nil, errs.E(errs.Internal, "wrapping a data key: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, errs.E(errs.Internal, "wrapping a data key: %v", err)
	}
	return b.Bytes(), nil
}

// UnwrapKey opens a data key wrapped to key by WrapKey. It fails with
// Forbidden when the key was wrapped to another key, and Invalid when
// wrapped is not a wrapped data key.
func UnwrapKey(wrapped []byte, key *identity.Key) ([]byte, error) {
	id, err := agessh.NewEd25519Identity(key.Priv)
	if err != nil {
		return nil, errs.E(errs.Invalid, "key %s: %v", key.Address(), err)
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, errs.E(errs.Forbidden, "the data key is not wrapped to %s: read with the key the owner granted access", key.Address())
		}
		return nil, errs.E(errs.Invalid, "the wrapped data key does not open: %v", err)
	}
	k, err := io.ReadAll(io.LimitReader(r, DataKeySize+1))
	if err != nil {
		return nil, errs.E(errs.Invalid, "the wrapped data key does not open: %v", err)
	}
	if len(k) != DataKeySize {
		return nil, errs.E(errs.Invalid, "the wrapped data key is %d bytes, not %d", len(k), DataKeySize)
	}
	return k, nil
}
