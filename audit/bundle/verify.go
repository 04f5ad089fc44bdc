package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/errs"
)

// The checks, in the order they run. Each one relies on those before it: a
// signature check on a validator set nobody trusts proves nothing, and a
// root proves nothing until the signed app hash is shown to commit to it.
const (
	CheckFormat     = "format"            // the bundle is v1, and CometBFT reads its header, commit and validators
	CheckValidators = "validators"        // the bundle's validator set is the trusted one, and the header's
	CheckSignatures = "commit signatures" // more than 2/3 of the voting power signed the header
	CheckAppHash    = "app hash"          // the signed app hash commits to the checkpoint's size and root
	CheckNote       = "note"              // the checkpoint's note says the same chain, size and root
	CheckInclusion  = "inclusion"         // the leaf is in the tree with that root
	CheckEntry      = "entry"             // the leaf is an audit log entry, and the summary is what it says
)

// Check is the outcome of one check. Detail says what was shown, or why it
// failed.
type Check struct {
	N      int    `json:"n"`
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// CheckError is the first check that failed.
type CheckError struct {
	N    int
	Name string
	Err  error
}

func (e *CheckError) Error() string { return fmt.Sprintf("check %d (%s): %v", e.N, e.Name, e.Err) }

func (e *CheckError) Unwrap() error { return e.Err }

// Report is what Verify found: the checks that ran, in order, and what the
// proven entry says (only once every check passed).
type Report struct {
	OK         bool     `json:"ok"`
	Checks     []Check  `json:"checks"`
	Checkpoint Head     `json:"checkpoint"`
	Entry      *Summary `json:"entry,omitempty"`
	Index      uint64   `json:"index"`
}

// Head identifies a verified checkpoint.
type Head struct {
	ChainID string `json:"chain_id"`
	Height  int64  `json:"height"`
	Size    uint64 `json:"size"`
	Root    []byte `json:"root"`
}

// signed is a checkpoint's CometBFT half, decoded.
type signed struct {
	header cmttypes.Header
	commit cmttypes.Commit
	vals   cmttypes.ValidatorSet
}

type runner struct{ checks []Check }

// do runs check f as the next one and records it; the error it returns is
// a *CheckError.
func (r *runner) do(name string, f func() (string, error)) error {
	n := len(r.checks) + 1
	detail, err := f()
	if err != nil {
		r.checks = append(r.checks, Check{N: n, Name: name, Detail: err.Error()})
		return &CheckError{N: n, Name: name, Err: err}
	}
	r.checks = append(r.checks, Check{N: n, Name: name, OK: true, Detail: detail})
	return nil
}

// Verify checks bundle b against the validator set t trusts, with no
// network: that t's validators signed the header (more than two thirds of
// the voting power), that the header's app hash commits to the checkpoint's
// root, and that the entry's leaf is in that root. The report lists the
// checks that ran; the error is the first that failed, a *CheckError that
// names it.
func Verify(b Bundle, t *Trusted) (Report, error) {
	var r runner
	rep := Report{Index: b.Entry.Index}
	s, err := verifyCheckpoint(&r, b.Format, b.Checkpoint, t)
	rep.Checks = r.checks
	if err != nil {
		return rep, err
	}
	cp := b.Checkpoint
	rep.Checkpoint = Head{ChainID: s.header.ChainID, Height: cp.Height, Size: cp.Size, Root: cp.Root}
	err = r.do(CheckInclusion, func() (string, error) {
		p := b.Inclusion
		switch {
		case p.Index != b.Entry.Index:
			return "", fmt.Errorf("the proof is of entry %d, the bundle's entry is %d", p.Index, b.Entry.Index)
		case p.Size != cp.Size:
			return "", fmt.Errorf("the proof is to a log of %d entries, the checkpoint's has %d", p.Size, cp.Size)
		case p.Root != nil && !bytes.Equal(p.Root, cp.Root):
			return "", errors.New("the proof's root is not the checkpoint's")
		}
		h := rfc6962.DefaultHasher
		if err := proof.VerifyInclusion(h, p.Index, p.Size, h.HashLeaf(b.Entry.Leaf), p.Hashes, cp.Root); err != nil {
			return "", fmt.Errorf("entry %d is not in the signed log of %d entries (%s): the entry or the proof was changed", p.Index, p.Size, merkleProblem(err))
		}
		return fmt.Sprintf("entry %d is in the signed log of %d entries", p.Index, p.Size), nil
	})
	rep.Checks = r.checks
	if err != nil {
		return rep, err
	}
	var sum Summary
	err = r.do(CheckEntry, func() (string, error) {
		if sum, err = Summarize(b.Entry.Leaf); err != nil {
			return "", fmt.Errorf("the proven bytes do not decode: %w", err)
		}
		got, _ := json.Marshal(sum)
		said, _ := json.Marshal(b.Entry.Decoded)
		if !bytes.Equal(got, said) {
			return "", fmt.Errorf("the bundle's decoded summary is not what the proven leaf says (%s): it was changed; trust only the leaf", got)
		}
		return fmt.Sprintf("a %s entry; the summary matches it", sum.Kind), nil
	})
	rep.Checks = r.checks
	if err != nil {
		return rep, err
	}
	rep.OK, rep.Entry = true, &sum
	return rep, nil
}

// VerifyCheckpoint checks a checkpoint on its own against the validator set
// t trusts: checks 1 to 5 of Verify. Watching the log (Consistent) starts
// from checkpoints that passed it.
func VerifyCheckpoint(cp audit.Checkpoint, t *Trusted) ([]Check, error) {
	var r runner
	_, err := verifyCheckpoint(&r, Format, cp, t)
	return r.checks, err
}

func verifyCheckpoint(r *runner, format string, cp audit.Checkpoint, t *Trusted) (*signed, error) {
	var s signed
	if err := r.do(CheckFormat, func() (string, error) {
		if !strings.HasPrefix(format, "stratus-audit-bundle/") {
			return "", fmt.Errorf("this is not an audit bundle (format %q): stratus audit proof writes them", format)
		}
		if format != Format {
			return "", fmt.Errorf("format %q, this verifier reads %q", format, Format)
		}
		for _, p := range []struct {
			name string
			raw  []byte
			v    any
		}{{"header", cp.Header, &s.header}, {"commit", cp.Commit, &s.commit}, {"validators", cp.Validators, &s.vals}} {
			if len(p.raw) == 0 {
				return "", fmt.Errorf("the checkpoint has no %s", p.name)
			}
			if err := cmtjson.Unmarshal(p.raw, p.v); err != nil {
				return "", fmt.Errorf("the checkpoint's %s is not CometBFT's JSON: %v", p.name, err)
			}
		}
		if err := s.header.ValidateBasic(); err != nil {
			return "", fmt.Errorf("the checkpoint's header: %v", err)
		}
		if err := s.commit.ValidateBasic(); err != nil {
			return "", fmt.Errorf("the checkpoint's commit: %v", err)
		}
		if err := s.vals.ValidateBasic(); err != nil {
			return "", fmt.Errorf("the checkpoint's validator set: %v", err)
		}
		return Format, nil
	}); err != nil {
		return nil, err
	}
	if err := r.do(CheckValidators, func() (string, error) {
		if t == nil || t.Set == nil {
			return "", errors.New("no trusted validator set")
		}
		if t.ChainID != "" && s.header.ChainID != t.ChainID {
			return "", fmt.Errorf("the header is for chain %q, the trusted validators are %q's", s.header.ChainID, t.ChainID)
		}
		if h := s.vals.Hash(); !bytes.Equal(h, t.Set.Hash()) {
			return "", fmt.Errorf("the bundle's validator set (%x) is not the trusted one (%x): a changed or forged set, or the set changed since you exported yours", h, t.Set.Hash())
		}
		if !bytes.Equal(s.header.ValidatorsHash, t.Set.Hash()) {
			return "", fmt.Errorf("the header names validator set %x, not the trusted one (%x)", s.header.ValidatorsHash, t.Set.Hash())
		}
		return fmt.Sprintf("the trusted set %x (%s, voting power %d) signs chain %s", t.Set.Hash(), Plural(t.Set.Size(), "validator"), t.Set.TotalVotingPower(), s.header.ChainID), nil
	}); err != nil {
		return nil, err
	}
	if err := r.do(CheckSignatures, func() (string, error) {
		if !bytes.Equal(s.commit.BlockID.Hash, s.header.Hash()) {
			return "", fmt.Errorf("the commit is for block %X, the header hashes to %X: the header was changed", s.commit.BlockID.Hash, s.header.Hash())
		}
		// All signatures, not only the first two thirds: a changed byte in
		// any of them must not go unnoticed.
		if err := t.Set.VerifyCommitLightAllSignatures(s.header.ChainID, s.commit.BlockID, s.header.Height, &s.commit); err != nil {
			return "", fmt.Errorf("the trusted validators did not sign header %d with more than 2/3 of their voting power: %v", s.header.Height, err)
		}
		var power int64
		for i, sig := range s.commit.Signatures {
			if sig.BlockIDFlag == cmttypes.BlockIDFlagCommit {
				_, v := t.Set.GetByIndex(int32(i))
				power += v.VotingPower
			}
		}
		return fmt.Sprintf("validators with %d of %d voting power signed header %d", power, t.Set.TotalVotingPower(), s.header.Height), nil
	}); err != nil {
		return nil, err
	}
	if err := r.do(CheckAppHash, func() (string, error) {
		if s.header.Height != cp.Height+1 {
			return "", fmt.Errorf("the checkpoint is for block %d, so its app hash is in header %d, not %d", cp.Height, cp.Height+1, s.header.Height)
		}
		got := AppHash(cp.PrevAppHash, cp.Height, cp.WritesHash, cp.Size, cp.Root)
		if !bytes.Equal(got, s.header.AppHash) {
			return "", fmt.Errorf("the checkpoint's size, root, prev_app_hash and writes_hash give app hash %X, the signed header has %X: one of them was changed", got, []byte(s.header.AppHash))
		}
		return fmt.Sprintf("the signed app hash after block %d commits to the log's %d entries and root %X", cp.Height, cp.Size, cp.Root), nil
	}); err != nil {
		return nil, err
	}
	if err := r.do(CheckNote, func() (string, error) {
		want := audit.Note("stratus/"+s.header.ChainID, cp.Size, cp.Root)
		if cp.Note != want {
			return "", fmt.Errorf("the note %q is not %q", cp.Note, want)
		}
		return "the transparency-log note names the same chain, size and root", nil
	}); err != nil {
		return nil, err
	}
	return &s, nil
}

// AppHash is the app hash after block height: SHA-256("stratus/apphash/v1\n"
// || prev || uint64be(height) || writes || uint64be(size) || root), as
// docs/audit.md ("Checkpoints", step 3) and ledger.AppHashInputs define it.
// It is restated here so a verifier does not import the state machine; a
// test holds the two equal.
func AppHash(prev []byte, height int64, writes []byte, size uint64, root []byte) []byte {
	s := sha256.New()
	s.Write([]byte("stratus/apphash/v1\n"))
	s.Write(prev)
	s.Write(binary.BigEndian.AppendUint64(nil, uint64(height)))
	s.Write(writes)
	s.Write(binary.BigEndian.AppendUint64(nil, size))
	s.Write(root)
	return s.Sum(nil)
}

// ErrInconsistent marks two signed checkpoints of which the later is not an
// extension of the earlier: the chain forked, or the log was rewritten.
var ErrInconsistent = errs.E(errs.Conflict, "the audit log is not consistent with the trusted checkpoint")

// ErrBehind is a checkpoint older than the trusted one: the node is behind,
// so there is nothing to check yet.
var ErrBehind = errs.E(errs.Unavailable, "the node's checkpoint is older than the trusted one")

// Consistent checks that checkpoint newer extends trusted, with p the
// node's consistency proof from trusted's size to newer's. Both must have
// passed VerifyCheckpoint: then a failure here means two sets of valid
// signatures on logs that disagree. It fails with ErrInconsistent for a fork
// or rewrite, ErrBehind for a checkpoint older than trusted, and an
// errs.Invalid error for a proof that is not between the two sizes.
func Consistent(trusted, newer audit.Checkpoint, p audit.Consistency) error {
	switch {
	case newer.Height < trusted.Height:
		return fmt.Errorf("%w (block %d, trusted %d): ask another node, or wait", ErrBehind, newer.Height, trusted.Height)
	case newer.Height == trusted.Height:
		if newer.Size != trusted.Size || !bytes.Equal(newer.Root, trusted.Root) {
			return fmt.Errorf("%w: block %d was signed twice, with %d entries and root %X, and with %d entries and root %X: the chain forked", ErrInconsistent, newer.Height, trusted.Size, trusted.Root, newer.Size, newer.Root)
		}
		return nil
	case newer.Size < trusted.Size:
		return fmt.Errorf("%w: block %d has %d entries, fewer than the %d after block %d: entries were removed, the log was rewritten", ErrInconsistent, newer.Height, newer.Size, trusted.Size, trusted.Height)
	}
	if p.From != trusted.Size || p.To != newer.Size {
		return errs.E(errs.Invalid, "the consistency proof is from %d to %d entries, not from %d to %d", p.From, p.To, trusted.Size, newer.Size)
	}
	h := rfc6962.DefaultHasher
	if err := proof.VerifyConsistency(h, trusted.Size, newer.Size, p.Hashes, trusted.Root, newer.Root); err != nil {
		return fmt.Errorf("%w: the signed log of %d entries after block %d does not extend the trusted %d entries after block %d (%s): the log was rewritten or the chain forked", ErrInconsistent, newer.Size, newer.Height, trusted.Size, trusted.Height, merkleProblem(err))
	}
	return nil
}

// ValidatorsFormat is the version tag of a trusted validator set file.
const ValidatorsFormat = "stratus-validators/v1"

// ValidatorsFile is the trusted validator set as `stratus audit validators`
// writes it. Hash is the set's hash, for comparing with what others trust.
type ValidatorsFile struct {
	Format     string          `json:"format"`
	ChainID    string          `json:"chain_id"`
	Height     int64           `json:"height"`
	Hash       string          `json:"hash"`
	Validators json.RawMessage `json:"validators"`
}

// Trusted is a validator set a verifier trusts, for one chain.
type Trusted struct {
	ChainID string
	Set     *cmttypes.ValidatorSet
}

// Hash returns the set's hash in hex.
func (t *Trusted) Hash() string { return hex.EncodeToString(t.Set.Hash()) }

// ExportValidators returns the validator set that signed checkpoint cp as a
// file to trust, after checking that it did (checks 1 to 5 with the set as
// its own trust). Trusting it is the caller's decision: compare its hash
// with other sources.
func ExportValidators(cp audit.Checkpoint) (ValidatorsFile, error) {
	var vals cmttypes.ValidatorSet
	if err := cmtjson.Unmarshal(cp.Validators, &vals); err != nil {
		return ValidatorsFile{}, fmt.Errorf("the checkpoint's validator set is not CometBFT's JSON: %w", err)
	}
	var hdr cmttypes.Header
	if err := cmtjson.Unmarshal(cp.Header, &hdr); err != nil {
		return ValidatorsFile{}, fmt.Errorf("the checkpoint's header is not CometBFT's JSON: %w", err)
	}
	if _, err := VerifyCheckpoint(cp, &Trusted{ChainID: hdr.ChainID, Set: &vals}); err != nil {
		return ValidatorsFile{}, fmt.Errorf("the node's checkpoint does not check out: %w", err)
	}
	return ValidatorsFile{
		Format:     ValidatorsFormat,
		ChainID:    hdr.ChainID,
		Height:     hdr.Height,
		Hash:       hex.EncodeToString(vals.Hash()),
		Validators: cp.Validators,
	}, nil
}

// ParseValidators reads a trusted validator set file. It fails with an
// errs.Invalid error for anything but a well-formed set whose hash is the
// one the file states.
func ParseValidators(b []byte) (*Trusted, error) {
	var f ValidatorsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, errs.E(errs.Invalid, "not a validator set file (the JSON that `stratus audit validators` writes): %v", err)
	}
	if f.Format != ValidatorsFormat {
		return nil, errs.E(errs.Invalid, "validator set file format %q, this verifier reads %q", f.Format, ValidatorsFormat)
	}
	var vals cmttypes.ValidatorSet
	if err := cmtjson.Unmarshal(f.Validators, &vals); err != nil {
		return nil, errs.E(errs.Invalid, "the file's validators are not CometBFT's JSON: %v", err)
	}
	if err := vals.ValidateBasic(); err != nil {
		return nil, errs.E(errs.Invalid, "the file's validator set: %v", err)
	}
	if h := hex.EncodeToString(vals.Hash()); h != f.Hash {
		return nil, errs.E(errs.Invalid, "the file says its validator set hashes to %s, it hashes to %s: the file was changed", f.Hash, h)
	}
	return &Trusted{ChainID: f.ChainID, Set: &vals}, nil
}

// Plural returns "1 validator", "2 validators".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// merkleProblem says what a transparency-dev/merkle verification error
// means, in one line.
func merkleProblem(err error) string {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Sprintf("the proof leads to root %X, not %X", rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return err.Error()
}
