package identity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
)

// newKeystore returns a keystore in a folder that does not exist yet, so
// tests also see it being created.
func newKeystore(t *testing.T) *Keystore {
	t.Helper()
	return OpenKeystore(filepath.Join(t.TempDir(), "keys"))
}

func wantKind(t *testing.T, what string, err error, kind errs.Kind, msg string) {
	t.Helper()
	if !errs.Is(err, kind) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s: err = %v, want %s containing %q", what, err, kind, msg)
	}
}

func TestKeystoreRoundTrip(t *testing.T) {
	ks := newKeystore(t)
	if got, err := ks.List(); err != nil || len(got) != 0 {
		t.Fatalf("List of a new keystore = %v, %v; want empty", got, err)
	}

	bob, bobWords, err := ks.Create("bob", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	alice, aliceWords, err := ks.Create("alice.main", "") // empty passphrase is the caller's call
	if err != nil {
		t.Fatal(err)
	}
	if bob.Name != "bob" || alice.Name != "alice.main" {
		t.Errorf("Create names = %q, %q", bob.Name, alice.Name)
	}

	got, err := ks.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []KeyInfo{{"alice.main", alice.Address().String()}, {"bob", bob.Address().String()}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("List = %v, want %v", got, want)
	}
	if info, err := ks.Show("bob"); err != nil || info != want[1] {
		t.Errorf("Show(bob) = %v, %v; want %v", info, err, want[1])
	}

	tests := []struct {
		name, pass, words string
		key               *Key
	}{
		{"bob", "hunter2", bobWords, bob},
		{"alice.main", "", aliceWords, alice},
	}
	for _, tt := range tests {
		k, err := ks.Load(tt.name, tt.pass)
		if err != nil {
			t.Fatalf("Load(%s): %v", tt.name, err)
		}
		if k.Name != tt.name || !k.Priv.Equal(tt.key.Priv) {
			t.Errorf("Load(%s) = %s %s, want %s", tt.name, k.Name, k.Address(), tt.key.Address())
		}
		m, err := ks.ExportMnemonic(tt.name, tt.pass)
		if err != nil || m != tt.words {
			t.Errorf("ExportMnemonic(%s) = %q, %v; want the words from Create", tt.name, m, err)
		}

		// The exported words, imported elsewhere, give the same key.
		other := newKeystore(t)
		imported, err := other.Import("copy", m, "new passphrase")
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if imported.Address() != tt.key.Address() {
			t.Errorf("imported %s has address %s, want %s", tt.name, imported.Address(), tt.key.Address())
		}
		if k, err := other.Load("copy", "new passphrase"); err != nil || k.Address() != tt.key.Address() {
			t.Errorf("Load of imported key = %v, %v", k, err)
		}
	}
}

func TestKeystoreFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	ks := newKeystore(t)
	if _, _, err := ks.Create("k", "p"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{ks.dir: 0o700 | os.ModeDir, ks.path("k"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
		}
	}
	entries, _ := os.ReadDir(ks.dir)
	if len(entries) != 1 {
		t.Errorf("keystore holds %d files, want 1 (no temporary files left)", len(entries))
	}
}

func TestKeystoreErrors(t *testing.T) {
	ks := newKeystore(t)
	if _, _, err := ks.Create("k", "right"); err != nil {
		t.Fatal(err)
	}
	_, err := ks.Load("k", "wrong")
	wantKind(t, "Load with wrong passphrase", err, errs.Unauthorized, `wrong passphrase for key "k": set STRATUS_PASSPHRASE`)
	_, err = ks.ExportMnemonic("k", "")
	wantKind(t, "ExportMnemonic with wrong passphrase", err, errs.Unauthorized, "wrong passphrase")

	_, _, err = ks.Create("k", "other")
	wantKind(t, "Create of a taken name", err, errs.Conflict, `a key named "k" already exists`)
	_, err = ks.Import("k", allZeros, "other")
	wantKind(t, "Import of a taken name", err, errs.Conflict, "already exists")
	if _, err := ks.Load("k", "right"); err != nil {
		t.Errorf("the first key was harmed by a refused Create: %v", err)
	}

	_, err = ks.Load("nobody", "right")
	wantKind(t, "Load of a missing key", err, errs.NotFound, `no key named "nobody" in `+ks.dir+": create one with `stratus keys new nobody`")
	_, err = ks.Show("nobody")
	wantKind(t, "Show of a missing key", err, errs.NotFound, "no key named")

	_, err = ks.Import("bad", strings.Repeat("abandon ", 24), "p")
	wantKind(t, "Import of a mnemonic with a bad checksum", err, errs.Invalid, "checksum")
}

func TestKeyNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"Alice_2.main-key", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{".hidden", false},
		{"..", false},
		{"../escape", false},
		{"a/b", false},
		{`a\b`, false},
		{"with space", false},
		{"tab\t", false},
		{"café", false},
		{"new\nline", false},
	}
	ks := newKeystore(t)
	for _, tt := range tests {
		err := checkName(tt.name)
		if got := err == nil; got != tt.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if tt.ok {
			continue
		}
		wantKind(t, "checkName", err, errs.Invalid, "is not a valid key name")
		// Every entry point checks names before touching the disk.
		_, _, err = ks.Create(tt.name, "p")
		wantKind(t, "Create", err, errs.Invalid, "is not a valid key name")
		_, err = ks.Import(tt.name, allZeros, "p")
		wantKind(t, "Import", err, errs.Invalid, "is not a valid key name")
		_, err = ks.Load(tt.name, "p")
		wantKind(t, "Load", err, errs.Invalid, "is not a valid key name")
		_, err = ks.Show(tt.name)
		wantKind(t, "Show", err, errs.Invalid, "is not a valid key name")
	}
	if _, err := os.Stat(ks.dir); !os.IsNotExist(err) {
		t.Errorf("bad names created the keystore folder (Stat: %v)", err)
	}
}

func TestTamperedKeyFile(t *testing.T) {
	ks := newKeystore(t)
	if _, err := ks.Import("k", allZeros, "p"); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(ks.path("k"))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(orig, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		wantMsg string
	}{
		{"flipped ciphertext bit", edit(func(m map[string]any) {
			var kf keyFile
			json.Unmarshal(orig, &kf)
			kf.Ciphertext[3] ^= 1
			m["ciphertext"] = kf.Ciphertext
		}), "it does not decrypt"},
		{"address swapped", edit(func(m map[string]any) { m["address"] = other.Address().String() }), "it does not decrypt"},
		{"name changed", edit(func(m map[string]any) { m["name"] = "j" }), `it holds key "j"`},
		{"huge scrypt cost", edit(func(m map[string]any) { m["kdfparams"].(map[string]any)["n"] = 1 << 30 }), "unexpected key derivation settings"},
		{"other cipher", edit(func(m map[string]any) { m["cipher"] = "aes-256-gcm" }), "unexpected cipher settings"},
		{"unknown version", edit(func(m map[string]any) { m["version"] = 2 }), "unknown version"},
		{"truncated", orig[:len(orig)/2], "it is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(ks.path("k"), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ks.Load("k", "p")
			wantKind(t, "Load", err, errs.Internal, "is damaged or was altered ("+tt.wantMsg+"): restore it from a backup")
		})
	}
}
