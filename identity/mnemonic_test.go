package identity

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cosmos/go-bip39"

	"github.com/stratus-cloud/stratus/errs"
)

// allZeros is the BIP-39 mnemonic of 32 zero bytes of entropy ("art" carries
// the checksum).
var allZeros = strings.Repeat("abandon ", 23) + "art"

func TestSLIP10Vector1(t *testing.T) {
	// SLIP-0010, test vector 1 for ed25519.
	seed, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	tests := []struct {
		chain     string
		path      []uint32
		priv      string
		chainCode string
	}{
		{"m", nil,
			"2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
			"90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb"},
		{"m/0H", []uint32{0},
			"68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
			"8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69"},
		{"m/0H/1H", []uint32{0, 1},
			"b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
			"a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14"},
		{"m/0H/1H/2H", []uint32{0, 1, 2},
			"92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
			"2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c"},
	}
	for _, tt := range tests {
		key, chain := slip10(seed, tt.path)
		if got := hex.EncodeToString(key[:]); got != tt.priv {
			t.Errorf("%s: private key = %s, want %s", tt.chain, got, tt.priv)
		}
		if got := hex.EncodeToString(chain[:]); got != tt.chainCode {
			t.Errorf("%s: chain code = %s, want %s", tt.chain, got, tt.chainCode)
		}
	}
	// The vector's master public key, 00-prefixed there.
	key, _ := slip10(seed, nil)
	k := &Key{Priv: newKeyFromSeed(key)}
	if got, want := hex.EncodeToString(k.Address().PublicKey()), "a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed"; got != want {
		t.Errorf("m: public key = %s, want %s", got, want)
	}
}

func TestKeyFromMnemonic(t *testing.T) {
	// Pinned when the derivation was checked against the SLIP-0010 vectors:
	// it changes only if the path or the derivation changes, which would lose
	// every user's keys.
	const want = "did:key:z6Mkvgwa3b8vWGKL7Dr42VbQJ6b7HR1kp3aqQXE7jMiHTwVS"
	for _, m := range []string{allZeros, "  " + strings.ToUpper(allZeros) + "\n", strings.ReplaceAll(allZeros, " ", "\t ")} {
		priv, err := KeyFromMnemonic(m)
		if err != nil {
			t.Fatalf("KeyFromMnemonic(%q): %v", m, err)
		}
		if got := (&Key{Priv: priv}).Address().String(); got != want {
			t.Errorf("KeyFromMnemonic(%q) address = %s, want %s", m, got, want)
		}
	}
}

func TestNormalizedMnemonicGivesStandardSeed(t *testing.T) {
	// BIP-39 vector (trezor/python-mnemonic, 256-bit zero entropy, password
	// "TREZOR"): the words we hash into the seed are the standard ones.
	m, err := normalizeMnemonic(" Abandon " + allZeros[len("abandon "):])
	if err != nil {
		t.Fatal(err)
	}
	const want = "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"
	if got := hex.EncodeToString(bip39.NewSeed(m, "TREZOR")); got != want {
		t.Errorf("seed = %s, want %s", got, want)
	}
}

func TestBadMnemonics(t *testing.T) {
	twelve := strings.Repeat("abandon ", 11) + "about" // valid BIP-39, but not 24 words
	tests := []struct {
		name, mnemonic, wantMsg string
	}{
		{"empty", "", "has 0 words"},
		{"twelve words", twelve, "has 12 words, want 24"},
		{"23 words", strings.Repeat("abandon ", 23), "has 23 words"},
		{"unknown word", strings.Replace(allZeros, "abandon", "abandonn", 1), "word 1 of the mnemonic is not in the BIP-39"},
		{"wrong checksum", strings.Repeat("abandon ", 24), "checksum does not match"},
		{"swapped words", "art " + strings.Repeat("abandon ", 23), "checksum does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := KeyFromMnemonic(tt.mnemonic)
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("KeyFromMnemonic: err = %v, want Invalid containing %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "abandon") {
				t.Errorf("error %q repeats the secret words", err)
			}
		})
	}
}

func TestNewMnemonic(t *testing.T) {
	m, err := NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(m)); n != 24 {
		t.Errorf("NewMnemonic has %d words, want 24", n)
	}
	if !bip39.IsMnemonicValid(m) {
		t.Errorf("NewMnemonic %q is not valid BIP-39", m)
	}
	if _, err := KeyFromMnemonic(m); err != nil {
		t.Errorf("KeyFromMnemonic(NewMnemonic()): %v", err)
	}
}
