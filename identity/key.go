package identity

import "crypto/ed25519"

// Key is a named ed25519 signing key. Name is the keystore's name for it and
// may be empty for a key that was never stored.
type Key struct {
	Name string
	Priv ed25519.PrivateKey
}

// Address returns the address of the key's public half.
func (k *Key) Address() Address {
	return AddressOf(k.Priv.Public().(ed25519.PublicKey))
}

// Sign returns the ed25519 signature of msg.
func (k *Key) Sign(msg []byte) []byte { return ed25519.Sign(k.Priv, msg) }

// Verify reports whether sig is addr's ed25519 signature of msg. A signature
// of the wrong length is simply not valid.
func Verify(addr Address, msg, sig []byte) bool {
	return ed25519.Verify(addr.PublicKey(), msg, sig)
}

// GenerateKey makes a new unnamed key from a fresh 24-word mnemonic, and
// returns both. The mnemonic is the only way to recover the key, so the
// caller must show it to the person once. The only error is an Internal one,
// when the system has no randomness to give.
func GenerateKey() (*Key, string, error) {
	m, err := NewMnemonic()
	if err != nil {
		return nil, "", err
	}
	priv, err := KeyFromMnemonic(m)
	if err != nil {
		return nil, "", err
	}
	return &Key{Priv: priv}, m, nil
}
