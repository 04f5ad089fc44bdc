package storeclient

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

func testData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testKey(b byte) *identity.Key {
	return &identity.Key{Priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))}
}

// sealAll reads the whole sealed form of data.
func sealAll(t *testing.T, data, key []byte) []byte {
	t.Helper()
	sr, err := newSealedReader(bytes.NewReader(data), int64(len(data)), key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, sr.size)
	if n, err := sr.ReadAt(out, 0); n != len(out) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d of %d, %v", n, len(out), err)
	}
	return out
}

// openAll opens sealed from chunk first, skipping skip bytes and keeping
// limit.
func openAll(sealed, key []byte, first, skip, limit int64) ([]byte, error) {
	var out bytes.Buffer
	ow, err := newOpenWriter(&out, key, int64(len(sealed)), first, skip, limit)
	if err != nil {
		return nil, err
	}
	// In uneven pieces, as a Get writes them.
	rest := sealed[first*sealedChunk:]
	for len(rest) > 0 {
		k := min(len(rest), 1+len(rest)/3)
		if _, err := ow.Write(rest[:k]); err != nil {
			return nil, err
		}
		rest = rest[k:]
	}
	if ow.next <= ow.last {
		return nil, errs.E(errs.Invalid, "stopped inside chunk %d", ow.next)
	}
	return out.Bytes(), nil
}

func TestSealRoundTrip(t *testing.T) {
	key, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, SealChunk - 1, SealChunk, SealChunk + 1, 3*SealChunk + 5} {
		data := testData(n, uint64(n))
		sealed := sealAll(t, data, key)
		if int64(len(sealed)) != SealedSize(int64(n)) {
			t.Fatalf("%d bytes seal to %d, SealedSize says %d", n, len(sealed), SealedSize(int64(n)))
		}
		if p, err := PlainSize(int64(len(sealed))); err != nil || p != int64(n) {
			t.Fatalf("PlainSize(%d) = %d, %v; want %d", len(sealed), p, err, n)
		}
		if n > 16 && bytes.Contains(sealed, data[:16]) {
			t.Fatalf("%d bytes: the sealed form contains the plaintext", n)
		}
		got, err := openAll(sealed, key, 0, 0, int64(n))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: opened %d, %v", n, len(got), err)
		}
		// Any window read at any offset is the same bytes.
		sr, _ := newSealedReader(bytes.NewReader(data), int64(n), key)
		for _, off := range []int64{0, 1, sealedChunk - 3, sealedChunk, int64(len(sealed)) - 1} {
			if off < 0 || off >= int64(len(sealed)) {
				continue
			}
			buf := make([]byte, min(int64(100_000), int64(len(sealed))-off))
			if k, err := sr.ReadAt(buf, off); k != len(buf) || (err != nil && err != io.EOF) || !bytes.Equal(buf, sealed[off:off+int64(k)]) {
				t.Fatalf("%d bytes: ReadAt(%d) = %d, %v", n, off, k, err)
			}
		}
		if n > SealChunk+17 {
			// A range from the second chunk.
			got, err := openAll(sealed, key, 1, 7, 10)
			if err != nil || !bytes.Equal(got, data[SealChunk+7:SealChunk+17]) {
				t.Fatalf("%d bytes, a range: %v", n, err)
			}
		}
	}
}

func TestSealedTamperingFails(t *testing.T) {
	key, _ := NewDataKey()
	data := testData(2*SealChunk+100, 1)
	sealed := sealAll(t, data, key)
	flipped := bytes.Clone(sealed)
	flipped[SealChunk+20] ^= 1
	if _, err := openAll(flipped, key, 0, 0, int64(len(data))); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a flipped bit: %v", err)
	}
	other, _ := NewDataKey()
	if _, err := openAll(sealed, other, 0, 0, int64(len(data))); !errs.Is(err, errs.Invalid) {
		t.Fatalf("another key: %v", err)
	}
	// Dropping the last chunk makes the second one last, which it was not
	// sealed as.
	if _, err := openAll(sealed[:2*sealedChunk], key, 0, 0, int64(len(data))); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a truncated object: %v", err)
	}
	// Swapping two chunks.
	swapped := bytes.Clone(sealed)
	copy(swapped[:sealedChunk], sealed[sealedChunk:2*sealedChunk])
	copy(swapped[sealedChunk:2*sealedChunk], sealed[:sealedChunk])
	if _, err := openAll(swapped, key, 0, 0, int64(len(data))); !errs.Is(err, errs.Invalid) {
		t.Fatalf("swapped chunks: %v", err)
	}
}

func TestWrapKey(t *testing.T) {
	alice, bob := testKey(1), testKey(2)
	dk, _ := NewDataKey()
	w, err := WrapKey(dk, alice.Address())
	if err != nil {
		t.Fatal(err)
	}
	if len(w) > 1024 || !bytes.HasPrefix(w, []byte("age-encryption.org/v1\n-> ssh-ed25519 ")) || bytes.Contains(w, dk) {
		t.Fatalf("wrapped key (%d bytes): %q", len(w), w)
	}
	got, err := UnwrapKey(w, alice)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("alice unwraps: %v", err)
	}
	if _, err := UnwrapKey(w, bob); !errs.Is(err, errs.Forbidden) {
		t.Fatalf("bob unwraps alice's: %v", err)
	}
	if _, err := UnwrapKey([]byte("not an age file"), alice); !errs.Is(err, errs.Invalid) {
		t.Fatalf("garbage: %v", err)
	}
}

// FuzzOpen: opening any bytes as a sealed object never panics, and never
// yields plaintext for bytes that were not sealed under the key.
func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, DataKeySize)
	f.Add([]byte{}, int64(0))
	f.Add(bytes.Repeat([]byte{1}, 40), int64(3))
	f.Fuzz(func(t *testing.T, in []byte, skip int64) {
		if len(in) == 0 || skip < 0 {
			return
		}
		if _, err := PlainSize(int64(len(in))); err != nil {
			return
		}
		got, err := openAll(in, key, 0, skip, 1<<20)
		if err == nil && len(got) > 0 {
			t.Fatalf("%x opened to %x without being sealed", in, got)
		}
	})
}
