package identity

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"strings"

	"github.com/cosmos/go-bip39"

	"github.com/stratus-cloud/stratus/errs"
)

// mnemonicWords is the length of every Stratus mnemonic: 256 bits of entropy
// and an 8-bit checksum, in 11-bit words.
const mnemonicWords = 24

// derivationPath is m/44'/7337'/0'/0'/0' (purpose / coin type / account /
// change / index). 44 is BIP-44's purpose; 7337 is the coin type Stratus
// chose for itself (it is not registered in SLIP-0044). SLIP-0010 has only
// hardened steps for ed25519, so slip10 hardens every index.
var derivationPath = []uint32{44, 7337, 0, 0, 0}

// NewMnemonic returns a fresh 24-word BIP-39 mnemonic (English word list).
// The only error is an Internal one, when the system has no randomness.
func NewMnemonic() (string, error) {
	entropy, err := bip39.NewEntropy(256)
	if err != nil {
		return "", errs.E(errs.Internal, "cannot read random bytes for a new mnemonic: %w", err)
	}
	m, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return "", errs.E(errs.Internal, "cannot encode a new mnemonic: %w", err)
	}
	return m, nil
}

// KeyFromMnemonic derives the ed25519 key of a 24-word BIP-39 mnemonic: the
// BIP-39 seed with an empty BIP-39 password, then SLIP-0010 along
// m/44'/7337'/0'/0'/0'. Case and spacing between words do not matter. A
// mnemonic with the wrong number of words, a word not in the English list or
// a bad checksum gives an Invalid error; the error never repeats the words,
// which are a secret.
func KeyFromMnemonic(mnemonic string) (ed25519.PrivateKey, error) {
	m, err := normalizeMnemonic(mnemonic)
	if err != nil {
		return nil, err
	}
	key, _ := slip10(bip39.NewSeed(m, ""), derivationPath)
	return ed25519.NewKeyFromSeed(key[:]), nil
}

// normalizeMnemonic checks a mnemonic and returns it in lower case with one
// space between words, the form BIP-39 hashes into the seed.
func normalizeMnemonic(s string) (string, error) {
	words := strings.Fields(strings.ToLower(s))
	if len(words) != mnemonicWords {
		return "", errs.E(errs.Invalid, "the mnemonic has %d words, want %d: check that no word is missing or split in two", len(words), mnemonicWords)
	}
	// Pack the 24 11-bit word indexes into 33 bytes: 32 of entropy, then the
	// checksum, which is the first byte of SHA-256 of the entropy.
	var bits [33]byte
	for i, w := range words {
		idx, ok := bip39.ReverseWordMap[w]
		if !ok {
			return "", errs.E(errs.Invalid, "word %d of the mnemonic is not in the BIP-39 English word list: check its spelling", i+1)
		}
		for b := range 11 {
			if idx&(1<<(10-b)) != 0 {
				pos := i*11 + b
				bits[pos/8] |= 0x80 >> (pos % 8)
			}
		}
	}
	if sum := sha256.Sum256(bits[:32]); sum[0] != bits[32] {
		return "", errs.E(errs.Invalid, "the mnemonic's checksum does not match: a word is wrong or two words are swapped")
	}
	return strings.Join(words, " "), nil
}

// slip10 derives an ed25519 private key (as a 32-byte seed) and chain code
// from a seed by SLIP-0010, hardening every index of path.
func slip10(seed []byte, path []uint32) (key, chain [32]byte) {
	mac := hmac.New(sha512.New, []byte("ed25519 seed"))
	mac.Write(seed)
	sum := mac.Sum(nil)
	copy(key[:], sum[:32])
	copy(chain[:], sum[32:])
	for _, i := range path {
		// Hardened child: HMAC-SHA512(chain, 0x00 || key || ser32(i + 2^31)).
		var data [1 + 32 + 4]byte
		copy(data[1:], key[:])
		binary.BigEndian.PutUint32(data[33:], i|1<<31)
		mac = hmac.New(sha512.New, chain[:])
		mac.Write(data[:])
		sum = mac.Sum(sum[:0])
		copy(key[:], sum[:32])
		copy(chain[:], sum[32:])
	}
	return key, chain
}
