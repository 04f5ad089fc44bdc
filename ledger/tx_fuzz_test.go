package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"reflect"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/identity"
)

// This file is in package ledger, not ledger_test, so the fuzz target can
// check canonical re-encoding against the unexported body encoder.

func fuzzKey(seed byte) *identity.Key {
	s := sha256.Sum256([]byte{seed})
	return &identity.Key{Priv: ed25519.NewKeyFromSeed(s[:])}
}

func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	add := func(tx *Tx, key *identity.Key) []byte {
		if err := tx.Sign(key); err != nil {
			tb.Fatal(err)
		}
		out = append(out, tx.Bytes())
		return tx.Bytes()
	}
	to := fuzzKey(2).Address()
	valid := add(&Tx{ChainID: "test", Nonce: 0, GasLimit: 1000, GasPrice: 1, Msg: &Transfer{To: to, Amount: 5}}, fuzzKey(1))
	add(&Tx{ChainID: "stratus-devnet", Nonce: 1 << 40, GasLimit: 1 << 40, GasPrice: 1 << 63, Memo: "hello", Msg: &Transfer{To: to, Amount: ^uint64(0)}}, fuzzKey(3))
	add(&Tx{ChainID: "", Nonce: 0, GasLimit: 0, GasPrice: 0, Memo: strings.Repeat("m", MaxMemo), Msg: &Transfer{Amount: 0}}, fuzzKey(4))
	add(&Tx{ChainID: strings.Repeat("c", MaxChainID), Msg: &Transfer{To: to, Amount: 1}}, fuzzKey(5))

	out = append(out,
		nil,
		[]byte("STX1"),
		valid[:len(valid)-1],          // truncated
		append(bytes.Clone(valid), 0), // trailing byte
		append([]byte{valid[0] | 0x80, 0x00}, valid[1:]...), // non-minimal length
	)
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/2] ^= 0xff
	out = append(out, flipped)
	return out
}

// FuzzDecodeTx: DecodeTx never panics and refuses with kind Invalid or
// TooLarge; what it accepts has exactly one encoding, the one it was given.
func FuzzDecodeTx(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	reg := DefaultRegistry()
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := DecodeTx(raw, reg)
		if err != nil {
			if c := CodeOf(err); c != CodeInvalid && c != CodeTooLarge {
				t.Fatalf("DecodeTx error %q has code %d, want %d or %d", err, c, CodeInvalid, CodeTooLarge)
			}
			if tx != nil {
				t.Fatalf("DecodeTx returned a tx with error %v", err)
			}
			return
		}
		if !bytes.Equal(tx.Bytes(), raw) {
			t.Fatalf("Bytes() = %x, want the input %x", tx.Bytes(), raw)
		}
		if h := tx.Hash(); h != Hash(sha256.Sum256(raw)) || h != HashTx(raw) || h != tx.Hash() {
			t.Fatalf("hash %v is not the SHA-256 of the input", h)
		}
		if tx.Msg == nil || tx.Msg.Type() != tx.MsgType {
			t.Fatalf("message %T for type %q", tx.Msg, tx.MsgType)
		}
		if len(tx.ChainID) > MaxChainID || len(tx.Memo) > MaxMemo || len(tx.sig) != SignatureSize {
			t.Fatalf("bounds not enforced: chain %d memo %d sig %d bytes", len(tx.ChainID), len(tx.Memo), len(tx.sig))
		}
		// Canonical: encoding the decoded fields gives back the same body,
		// and the body and signature give back the same bytes.
		mw := codec.NewWriter(64)
		tx.Msg.Encode(mw)
		if body := encodeBody(tx, mw.Bytes()); !bytes.Equal(body, tx.body) {
			t.Fatalf("re-encoded body %x, want %x", body, tx.body)
		}
		w := codec.NewWriter(len(raw))
		w.BytesField(tx.body)
		w.Fixed(tx.sig)
		if !bytes.Equal(w.Bytes(), raw) {
			t.Fatalf("re-encoded tx %x, want %x", w.Bytes(), raw)
		}
		if sb := tx.SignBytes(); !bytes.Equal(sb, append([]byte(signDomain), tx.body...)) {
			t.Fatalf("SignBytes = %x", sb)
		}
		tx.VerifySignature() // must not panic, whatever the key and signature

		// Decoding is a function of the bytes.
		again, err := DecodeTx(bytes.Clone(raw), reg)
		if err != nil {
			t.Fatalf("second decode: %v", err)
		}
		if again.ChainID != tx.ChainID || again.Signer != tx.Signer || again.Nonce != tx.Nonce ||
			again.GasLimit != tx.GasLimit || again.GasPrice != tx.GasPrice || again.Memo != tx.Memo || again.MsgType != tx.MsgType ||
			!reflect.DeepEqual(again.Msg, tx.Msg) || again.Hash() != tx.Hash() {
			t.Fatalf("second decode differs: %+v vs %+v", again, tx)
		}
	})
}

// TestDecodeSignedTx: what Sign produces decodes to the same fields and
// verifies.
func TestDecodeSignedTx(t *testing.T) {
	reg := DefaultRegistry()
	for i, raw := range fuzzSeeds(t)[:4] {
		tx, err := DecodeTx(raw, reg)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if !tx.VerifySignature() {
			t.Errorf("seed %d: signature does not verify", i)
		}
	}
}
