// Package identity is who is who in Stratus: ed25519 keys, addresses written
// as did:key strings, the encrypted keystore under a home folder, and BIP-39
// mnemonics for recovery.
//
// It knows nothing of the ledger; accounts and nonces live there.
package identity

import (
	"crypto/ed25519"
	"strings"

	"github.com/mr-tron/base58"

	"github.com/stratus-cloud/stratus/errs"
)

// Address is an ed25519 public key. Its text form is a did:key.
type Address [ed25519.PublicKeySize]byte

// didPrefix is "did:key:" plus the multibase prefix 'z' (base58btc).
const didPrefix = "did:key:z"

// multicodec ed25519-pub (0xed) as an unsigned varint.
var ed25519Multicodec = []byte{0xed, 0x01}

// AddressOf returns the address of a public key.
func AddressOf(pub ed25519.PublicKey) Address {
	var a Address
	copy(a[:], pub)
	return a
}

// PublicKey returns the address as an ed25519 public key.
func (a Address) PublicKey() ed25519.PublicKey { return ed25519.PublicKey(a[:]) }

// String returns the did:key form, e.g. did:key:z6Mk...
func (a Address) String() string {
	b := make([]byte, 0, 34)
	b = append(b, ed25519Multicodec...)
	b = append(b, a[:]...)
	return didPrefix + base58.Encode(b)
}

// IsZero reports whether a is the all-zero address.
func (a Address) IsZero() bool { return a == Address{} }

// MarshalText writes the did:key form.
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses the did:key form.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := ParseDID(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// ParseDID parses a did:key string holding an ed25519 public key. It fails
// with kind Invalid for anything else, saying what was wrong.
func ParseDID(s string) (Address, error) {
	var a Address
	if len(s) > 128 {
		return a, errs.E(errs.Invalid, "%.24q... is not a did:key address: too long", s)
	}
	if !strings.HasPrefix(s, didPrefix) {
		return a, errs.E(errs.Invalid, "%q is not a did:key address: it should start with %q (see `stratus keys list`)", s, didPrefix)
	}
	raw, err := base58.Decode(s[len(didPrefix):])
	if err != nil {
		return a, errs.E(errs.Invalid, "%q is not a did:key address: bad base58btc encoding", s)
	}
	if len(raw) != 2+ed25519.PublicKeySize || raw[0] != ed25519Multicodec[0] || raw[1] != ed25519Multicodec[1] {
		return a, errs.E(errs.Invalid, "%q is not an ed25519 did:key address", s)
	}
	copy(a[:], raw[2:])
	// base58 has one encoding per byte string, but leading '1's could hide
	// zero bytes; re-encode to be sure the text form is canonical.
	if a.String() != s {
		return Address{}, errs.E(errs.Invalid, "%q is not a canonical did:key address", s)
	}
	return a, nil
}
