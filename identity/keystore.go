package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"

	"github.com/stratus-cloud/stratus/errs"
)

// Keystore is a folder of key files, one per key, named <name>.json. A file
// holds the key's mnemonic encrypted under a passphrase, so the mnemonic can
// be exported again; the name and address are in clear, so listing keys needs
// no passphrase.
type Keystore struct {
	dir string
}

// KeyInfo is what the keystore tells about a key without its passphrase.
type KeyInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// keyFile is one key on disk.
type keyFile struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	KDF       string    `json:"kdf"`
	KDFParams kdfParams `json:"kdfparams"`
	// Check is the second half of the KDF output. It tells a wrong
	// passphrase (Check differs) from a damaged file (Check matches but the
	// ciphertext does not open). It adds nothing for an attacker that the
	// ciphertext does not already give them.
	Check      []byte `json:"check"`
	Cipher     string `json:"cipher"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

type kdfParams struct {
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
}

// Format version 1. Reading insists on exactly these parameters, so a
// tampered file cannot make scrypt eat all memory; a later version that
// changes them will bump the version.
const (
	fileVersion = 1
	kdfName     = "scrypt"
	scryptN     = 1 << 15
	scryptR     = 8
	scryptP     = 1
	saltSize    = 16
	cipherName  = "xchacha20poly1305"
)

// OpenKeystore returns the keystore in dir. It touches nothing on disk: dir is
// created, mode 0700, when the first key is written.
func OpenKeystore(dir string) *Keystore { return &Keystore{dir: dir} }

// Create makes a new key from a fresh mnemonic, stores it under name and
// returns it with its mnemonic, which the caller must show once. It fails
// with Invalid for a bad name, Conflict if the name is taken, and Internal if
// the file cannot be written.
func (ks *Keystore) Create(name, passphrase string) (*Key, string, error) {
	m, err := NewMnemonic()
	if err != nil {
		return nil, "", err
	}
	k, err := ks.store(name, m, passphrase)
	if err != nil {
		return nil, "", err
	}
	return k, m, nil
}

// Import stores the key of a mnemonic under name. It fails with Invalid for a
// bad name or mnemonic, Conflict if the name is taken, and Internal if the
// file cannot be written.
func (ks *Keystore) Import(name, mnemonic, passphrase string) (*Key, error) {
	return ks.store(name, mnemonic, passphrase)
}

// Load decrypts the key stored under name. It fails with Invalid for a bad
// name, NotFound if there is no such key, Unauthorized for a wrong
// passphrase, and Internal if the file is damaged or was altered.
func (ks *Keystore) Load(name, passphrase string) (*Key, error) {
	_, priv, err := ks.open(name, passphrase)
	if err != nil {
		return nil, err
	}
	return &Key{Name: name, Priv: priv}, nil
}

// ExportMnemonic returns the mnemonic of the key stored under name. It fails
// as Load does.
func (ks *Keystore) ExportMnemonic(name, passphrase string) (string, error) {
	m, _, err := ks.open(name, passphrase)
	return m, err
}

// List returns the stored keys sorted by name; none if the folder does not
// exist yet. It fails with Internal if the folder or a key file cannot be
// read.
func (ks *Keystore) List() ([]KeyInfo, error) {
	entries, err := os.ReadDir(ks.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []KeyInfo{}, nil
	}
	if err != nil {
		return nil, errs.E(errs.Internal, "cannot read the keystore %s: %w", ks.dir, err)
	}
	infos := []KeyInfo{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		// Skips temporary files, which start with '.', and strangers.
		if !ok || e.IsDir() || checkName(name) != nil {
			continue
		}
		kf, err := ks.read(name)
		if err != nil {
			return nil, err
		}
		infos = append(infos, KeyInfo{Name: kf.Name, Address: kf.Address})
	}
	slices.SortFunc(infos, func(a, b KeyInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Show returns the name and address of the key stored under name. It fails
// with Invalid for a bad name, NotFound if there is no such key, and Internal
// if the file is damaged.
func (ks *Keystore) Show(name string) (KeyInfo, error) {
	kf, err := ks.read(name)
	if err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{Name: kf.Name, Address: kf.Address}, nil
}

// checkName accepts 1-64 characters of [A-Za-z0-9._-], not starting with a
// dot. That keeps names safe as file names on every system.
func checkName(name string) error {
	bad := len(name) == 0 || len(name) > 64 || name[0] == '.'
	for _, c := range []byte(name) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		bad = bad || !ok
	}
	if bad {
		return errs.E(errs.Invalid, "%q is not a valid key name: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'", name)
	}
	return nil
}

func (ks *Keystore) path(name string) string { return filepath.Join(ks.dir, name+".json") }

func (ks *Keystore) conflict(name string) error {
	return errs.E(errs.Conflict, "a key named %q already exists in %s: choose another name, or see it with `stratus keys show %s`", name, ks.dir, name)
}

func (ks *Keystore) damaged(name, why string) error {
	return errs.E(errs.Internal, "key file %s is damaged or was altered (%s): restore it from a backup, or remove it and run `stratus keys import %s` with the key's mnemonic", ks.path(name), why, name)
}

// store encrypts mnemonic under passphrase and writes it as a new key file.
func (ks *Keystore) store(name, mnemonic, passphrase string) (*Key, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	m, err := normalizeMnemonic(mnemonic)
	if err != nil {
		return nil, err
	}
	priv, err := KeyFromMnemonic(m)
	if err != nil {
		return nil, err
	}
	k := &Key{Name: name, Priv: priv}
	// Fail before spending time in scrypt; writeNew checks again.
	if _, err := os.Lstat(ks.path(name)); err == nil {
		return nil, ks.conflict(name)
	}

	kf := keyFile{
		Version:   fileVersion,
		Name:      name,
		Address:   k.Address().String(),
		KDF:       kdfName,
		KDFParams: kdfParams{N: scryptN, R: scryptR, P: scryptP, Salt: make([]byte, saltSize)},
		Cipher:    cipherName,
		Nonce:     make([]byte, chacha20poly1305.NonceSizeX),
	}
	if _, err := rand.Read(kf.KDFParams.Salt); err != nil {
		return nil, errs.E(errs.Internal, "cannot read random bytes for key %q: %w", name, err)
	}
	if _, err := rand.Read(kf.Nonce); err != nil {
		return nil, errs.E(errs.Internal, "cannot read random bytes for key %q: %w", name, err)
	}
	aeadKey, check, err := deriveKey(passphrase, kf.KDFParams)
	if err != nil {
		return nil, err
	}
	kf.Check = check
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return nil, errs.E(errs.Internal, "cannot set up encryption for key %q: %w", name, err)
	}
	kf.Ciphertext = aead.Seal(nil, kf.Nonce, []byte(m), kf.additionalData())

	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, errs.E(errs.Internal, "cannot encode key %q: %w", name, err)
	}
	if err := ks.writeNew(name, append(data, '\n')); err != nil {
		return nil, err
	}
	return k, nil
}

// open reads and decrypts the key stored under name.
func (ks *Keystore) open(name, passphrase string) (string, ed25519.PrivateKey, error) {
	kf, err := ks.read(name)
	if err != nil {
		return "", nil, err
	}
	aeadKey, check, err := deriveKey(passphrase, kf.KDFParams)
	if err != nil {
		return "", nil, err
	}
	if subtle.ConstantTimeCompare(check, kf.Check) != 1 {
		return "", nil, errs.E(errs.Unauthorized, "wrong passphrase for key %q: set STRATUS_PASSPHRASE to the passphrase it was created with", name)
	}
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return "", nil, errs.E(errs.Internal, "cannot set up decryption for key %q: %w", name, err)
	}
	plain, err := aead.Open(nil, kf.Nonce, kf.Ciphertext, kf.additionalData())
	if err != nil {
		return "", nil, ks.damaged(name, "it does not decrypt")
	}
	m := string(plain)
	priv, err := KeyFromMnemonic(m)
	if err != nil {
		return "", nil, ks.damaged(name, "it holds no valid mnemonic")
	}
	if (&Key{Priv: priv}).Address().String() != kf.Address {
		return "", nil, ks.damaged(name, "its mnemonic does not give its address")
	}
	return m, priv, nil
}

// read reads and checks the key file of name, without decrypting it.
func (ks *Keystore) read(name string) (*keyFile, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(ks.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errs.E(errs.NotFound, "no key named %q in %s: create one with `stratus keys new %s` or list them with `stratus keys list`", name, ks.dir, name)
	}
	if err != nil {
		return nil, errs.E(errs.Internal, "cannot read key %q: %w", name, err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, ks.damaged(name, "it is not valid JSON")
	}
	p := kf.KDFParams
	_, addrErr := ParseDID(kf.Address)
	switch {
	case kf.Version != fileVersion:
		return nil, ks.damaged(name, "unknown version")
	case kf.Name != name:
		return nil, ks.damaged(name, fmt.Sprintf("it holds key %q", kf.Name))
	case addrErr != nil:
		return nil, ks.damaged(name, "bad address")
	case kf.KDF != kdfName || p.N != scryptN || p.R != scryptR || p.P != scryptP || len(p.Salt) != saltSize:
		return nil, ks.damaged(name, "unexpected key derivation settings")
	case kf.Cipher != cipherName || len(kf.Nonce) != chacha20poly1305.NonceSizeX:
		return nil, ks.damaged(name, "unexpected cipher settings")
	}
	return &kf, nil
}

// additionalData binds the clear name and address to the ciphertext, so
// neither can be changed without the file failing to decrypt. A name holds
// no newline, so the join is unambiguous.
func (kf *keyFile) additionalData() []byte { return []byte(kf.Name + "\n" + kf.Address) }

// deriveKey runs scrypt and splits its output into the cipher key and the
// passphrase check.
func deriveKey(passphrase string, p kdfParams) (key, check []byte, err error) {
	out, err := scrypt.Key([]byte(passphrase), p.Salt, p.N, p.R, p.P, 2*chacha20poly1305.KeySize)
	if err != nil {
		return nil, nil, errs.E(errs.Internal, "cannot derive a key from the passphrase: %w", err)
	}
	return out[:chacha20poly1305.KeySize], out[chacha20poly1305.KeySize:], nil
}

// writeNew writes a new key file so that a crash leaves either no file or the
// whole file: write a temporary file in the same folder, fsync it, move it
// into place, fsync the folder. It moves with a hard link rather than a
// rename, because a link fails if the name is taken, so a key that another
// process stored meanwhile is never overwritten.
func (ks *Keystore) writeNew(name string, data []byte) error {
	fail := func(err error) error {
		return errs.E(errs.Internal, "cannot write key %q to %s: %w", name, ks.dir, err)
	}
	if err := os.MkdirAll(ks.dir, 0o700); err != nil {
		return fail(err)
	}
	// CreateTemp makes the file 0600. The leading dot keeps it out of List.
	tmp, err := os.CreateTemp(ks.dir, ".tmp-*.json")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // after a failure; after success it is already gone
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	final := ks.path(name)
	if err := os.Link(tmp.Name(), final); errors.Is(err, fs.ErrExist) {
		return ks.conflict(name)
	} else if err != nil {
		// Some filesystems (FAT, some shared folders) have no hard links;
		// check and rename is the next best thing.
		if _, err := os.Lstat(final); err == nil {
			return ks.conflict(name)
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			return fail(err)
		}
	}
	if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	return syncDir(ks.dir)
}

// syncDir makes the folder's entries durable. Windows cannot fsync a folder.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return errs.E(errs.Internal, "cannot open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return errs.E(errs.Internal, "cannot sync %s: %w", dir, err)
	}
	return nil
}
