package identity

import (
	"crypto/ed25519"
	"testing"
)

func newKeyFromSeed(seed [32]byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed[:]) }

func TestSignVerify(t *testing.T) {
	k, m, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.Address() == other.Address() {
		t.Fatal("two generated keys have the same address")
	}
	priv, err := KeyFromMnemonic(m)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equal(k.Priv) {
		t.Error("GenerateKey's mnemonic does not give its key")
	}

	msg := []byte("lease 42")
	sig := k.Sign(msg)
	tests := []struct {
		name string
		addr Address
		msg  []byte
		sig  []byte
		want bool
	}{
		{"good", k.Address(), msg, sig, true},
		{"other signer", other.Address(), msg, sig, false},
		{"other message", k.Address(), []byte("lease 43"), sig, false},
		{"short signature", k.Address(), msg, sig[:10], false},
		{"no signature", k.Address(), msg, nil, false},
		{"zero address", Address{}, msg, sig, false},
	}
	for _, tt := range tests {
		if got := Verify(tt.addr, tt.msg, tt.sig); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}
