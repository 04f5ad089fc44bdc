package bundle_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtversion "github.com/cometbft/cometbft/proto/tendermint/version"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/cometbft/cometbft/version"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/bundle"
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
)

const chainID = "stratus-test"

type memKV map[string][]byte

func (m memKV) Get(k []byte) []byte { return m[string(k)] }
func (m memKV) Set(k, v []byte)     { m[string(k)] = bytes.Clone(v) }

func event(height uint64, typ string, attrs ...string) []byte {
	w := codec.NewWriter(64)
	w.String("event")
	w.Uvarint(height)
	w.Uvarint(1)
	w.String(typ)
	w.Uvarint(uint64(len(attrs) / 2))
	for _, a := range attrs {
		w.String(a)
	}
	return w.Bytes()
}

func txLeaf(height uint64, hash byte) []byte {
	w := codec.NewWriter(128)
	w.String("tx")
	w.Uvarint(height)
	w.Uvarint(0)
	w.Fixed(bytes.Repeat([]byte{hash}, 32))
	w.Uvarint(0)
	w.Fixed(bytes.Repeat([]byte{7}, 32))
	w.String("bank/transfer")
	return w.Bytes()
}

// chain is a validator set, its keys and a log: enough to sign checkpoints
// the way a CometBFT chain does, without running one.
type chain struct {
	vals  *cmttypes.ValidatorSet
	privs []cmttypes.PrivValidator
	kv    memKV
	log   *audit.Log
}

func newChain(t *testing.T, n int) *chain {
	t.Helper()
	vals, privs := cmttypes.RandValidatorSet(n, 10)
	kv := memKV{}
	l, err := audit.Load(kv)
	if err != nil {
		t.Fatal(err)
	}
	return &chain{vals: vals, privs: privs, kv: kv, log: l}
}

func (c *chain) append(leaves ...[]byte) {
	for _, l := range leaves {
		c.log.Append(l)
	}
	c.log.Flush()
}

func rnd(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// checkpoint signs the log's current head as the checkpoint of block
// height: block height+1's header carries its app hash, and every validator
// signs that header.
func (c *chain) checkpoint(t *testing.T, height int64) audit.Checkpoint {
	t.Helper()
	cp := audit.Checkpoint{Size: c.log.Size(), Root: c.log.Root(), Height: height, PrevAppHash: rnd(32), WritesHash: rnd(32)}
	cp.Note = audit.Note("stratus/"+chainID, cp.Size, cp.Root)
	hdr := cmttypes.Header{
		Version:            cmtversion.Consensus{Block: version.BlockProtocol, App: 1},
		ChainID:            chainID,
		Height:             height + 1,
		Time:               time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		LastBlockID:        cmttypes.BlockID{Hash: rnd(32), PartSetHeader: cmttypes.PartSetHeader{Total: 1, Hash: rnd(32)}},
		LastCommitHash:     rnd(32),
		DataHash:           rnd(32),
		ValidatorsHash:     c.vals.Hash(),
		NextValidatorsHash: c.vals.Hash(),
		ConsensusHash:      rnd(32),
		AppHash:            bundle.AppHash(cp.PrevAppHash, cp.Height, cp.WritesHash, cp.Size, cp.Root),
		LastResultsHash:    rnd(32),
		EvidenceHash:       rnd(32),
		ProposerAddress:    c.vals.Proposer.Address,
	}
	id := cmttypes.BlockID{Hash: hdr.Hash(), PartSetHeader: cmttypes.PartSetHeader{Total: 1, Hash: rnd(32)}}
	vs := cmttypes.NewVoteSet(chainID, hdr.Height, 0, cmtproto.PrecommitType, c.vals)
	ext, err := cmttypes.MakeExtCommit(id, hdr.Height, 0, vs, c.privs, hdr.Time, false)
	if err != nil {
		t.Fatal(err)
	}
	cp.Header, cp.Commit, cp.Validators = mustJSON(t, hdr), mustJSON(t, ext.ToCommit()), mustJSON(t, c.vals)
	return cp
}

func (c *chain) bundle(t *testing.T, index uint64, cp audit.Checkpoint) bundle.Bundle {
	t.Helper()
	leaf, err := audit.Entry(c.kv, index)
	if err != nil {
		t.Fatal(err)
	}
	p, err := audit.InclusionProof(c.kv, index, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.New(audit.Record{Index: index, Leaf: leaf}, p, cp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *chain) trusted() *bundle.Trusted {
	return &bundle.Trusted{ChainID: chainID, Set: c.vals}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := cmtjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes raw CometBFT JSON into a fresh *T, lets f change it and
// encodes it again.
func edit[T any](t *testing.T, raw *json.RawMessage, f func(*T)) {
	t.Helper()
	v := new(T)
	if err := cmtjson.Unmarshal(*raw, v); err != nil {
		t.Fatal(err)
	}
	f(v)
	*raw = mustJSON(t, v)
}

func flip(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)/2] ^= 1
	return b
}

func newFixture(t *testing.T) (*chain, bundle.Bundle) {
	t.Helper()
	c := newChain(t, 4)
	c.append(event(0, "chain.genesis", "supply", "1000"), txLeaf(5, 1), event(5, "bank.transfer", "amount", "5", "to", "bob"))
	c.append(txLeaf(6, 2), event(6, "bank.transfer", "amount", "6"))
	return c, c.bundle(t, 2, c.checkpoint(t, 6))
}

func TestVerifyGoodBundle(t *testing.T) {
	c, b := newFixture(t)
	// Through a file, as the CLI hands it over.
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b, err = bundle.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(b, c.trusted())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK || len(rep.Checks) != 7 {
		t.Fatalf("report %+v, want 7 passed checks", rep)
	}
	names := []string{bundle.CheckFormat, bundle.CheckValidators, bundle.CheckSignatures, bundle.CheckAppHash, bundle.CheckNote, bundle.CheckInclusion, bundle.CheckEntry}
	for i, ch := range rep.Checks {
		if !ch.OK || ch.N != i+1 || ch.Name != names[i] {
			t.Errorf("check %d = %+v, want %q passed", i+1, ch, names[i])
		}
	}
	if e := rep.Entry; e == nil || e.Event == nil || e.Event.Type != "bank.transfer" || e.Event.Attributes[1] != (bundle.Attr{Key: "to", Value: "bob"}) {
		t.Errorf("entry = %+v, want the bank.transfer event to bob", rep.Entry)
	}
	if rep.Checkpoint.Size != 5 || rep.Checkpoint.Height != 6 || rep.Checkpoint.ChainID != chainID {
		t.Errorf("checkpoint = %+v", rep.Checkpoint)
	}
}

// TestVerifyRefusesAChangedByte changes each part of a good bundle, as a
// node or anyone passing the file on could, and checks that the check which
// owns that part is the one that fails.
func TestVerifyRefusesAChangedByte(t *testing.T) {
	tests := []struct {
		name  string
		check string
		edit  func(t *testing.T, b *bundle.Bundle)
	}{
		{"format tag", bundle.CheckFormat, func(t *testing.T, b *bundle.Bundle) { b.Format = "stratus-audit-bundle/v0" }},
		{"leaf", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) { b.Entry.Leaf = flip(b.Entry.Leaf) }},
		{"leaf's last byte", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) {
			b.Entry.Leaf = bytes.Clone(b.Entry.Leaf)
			b.Entry.Leaf[len(b.Entry.Leaf)-1] ^= 1
		}},
		{"entry index", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) { b.Entry.Index++ }},
		{"proof index", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) { b.Inclusion.Index++; b.Entry.Index++ }},
		{"proof hash", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) { b.Inclusion.Hashes[0] = flip(b.Inclusion.Hashes[0]) }},
		{"last proof hash", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) {
			n := len(b.Inclusion.Hashes) - 1
			b.Inclusion.Hashes[n] = flip(b.Inclusion.Hashes[n])
		}},
		{"proof root", bundle.CheckInclusion, func(t *testing.T, b *bundle.Bundle) { b.Inclusion.Root = flip(b.Inclusion.Root) }},
		{"root", bundle.CheckAppHash, func(t *testing.T, b *bundle.Bundle) { b.Checkpoint.Root = flip(b.Checkpoint.Root) }},
		{"size", bundle.CheckAppHash, func(t *testing.T, b *bundle.Bundle) { b.Checkpoint.Size++; b.Inclusion.Size++ }},
		{"height", bundle.CheckAppHash, func(t *testing.T, b *bundle.Bundle) { b.Checkpoint.Height-- }},
		{"prev_app_hash", bundle.CheckAppHash, func(t *testing.T, b *bundle.Bundle) { b.Checkpoint.PrevAppHash = flip(b.Checkpoint.PrevAppHash) }},
		{"writes_hash", bundle.CheckAppHash, func(t *testing.T, b *bundle.Bundle) { b.Checkpoint.WritesHash = flip(b.Checkpoint.WritesHash) }},
		{"note", bundle.CheckNote, func(t *testing.T, b *bundle.Bundle) {
			b.Checkpoint.Note = strings.Replace(b.Checkpoint.Note, "\n5\n", "\n6\n", 1)
		}},
		{"header app hash", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Header, func(h *cmttypes.Header) { h.AppHash = flip(h.AppHash) })
		}},
		{"header time", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Header, func(h *cmttypes.Header) { h.Time = h.Time.Add(time.Nanosecond) })
		}},
		{"header chain id", bundle.CheckValidators, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Header, func(h *cmttypes.Header) { h.ChainID = "stratus-tesu" })
		}},
		{"header validators hash", bundle.CheckValidators, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Header, func(h *cmttypes.Header) { h.ValidatorsHash = flip(h.ValidatorsHash) })
		}},
		{"header not JSON", bundle.CheckFormat, func(t *testing.T, b *bundle.Bundle) { b.Checkpoint.Header = json.RawMessage(`{"height":"x"}`) }},
		{"first commit signature", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Commit, func(c *cmttypes.Commit) { c.Signatures[0].Signature = flip(c.Signatures[0].Signature) })
		}},
		// The last signer is beyond two thirds: checking only until the
		// power suffices would miss it.
		{"last commit signature", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Commit, func(c *cmttypes.Commit) { c.Signatures[3].Signature = flip(c.Signatures[3].Signature) })
		}},
		{"commit signature time", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Commit, func(c *cmttypes.Commit) { c.Signatures[1].Timestamp = c.Signatures[1].Timestamp.Add(time.Millisecond) })
		}},
		{"commit block id", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Commit, func(c *cmttypes.Commit) { c.BlockID.Hash = flip(c.BlockID.Hash) })
		}},
		{"half the signatures", bundle.CheckSignatures, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Commit, func(c *cmttypes.Commit) {
				c.Signatures[0] = cmttypes.CommitSig{BlockIDFlag: cmttypes.BlockIDFlagAbsent}
				c.Signatures[2] = cmttypes.CommitSig{BlockIDFlag: cmttypes.BlockIDFlagAbsent}
			})
		}},
		{"validator power", bundle.CheckValidators, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Validators, func(v *cmttypes.ValidatorSet) { v.Validators[0].VotingPower = 1000 })
		}},
		{"validator pubkey", bundle.CheckValidators, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Validators, func(v *cmttypes.ValidatorSet) {
				v.Validators[1].PubKey = ed25519.PubKey(flip(v.Validators[1].PubKey.Bytes()))
				v.Validators[1].Address = v.Validators[1].PubKey.Address()
			})
		}},
		// CometBFT derives the address from the key: a key changed alone is
		// not even a validator set.
		{"validator pubkey only", bundle.CheckFormat, func(t *testing.T, b *bundle.Bundle) {
			edit(t, &b.Checkpoint.Validators, func(v *cmttypes.ValidatorSet) {
				v.Validators[1].PubKey = ed25519.PubKey(flip(v.Validators[1].PubKey.Bytes()))
			})
		}},
		{"decoded summary", bundle.CheckEntry, func(t *testing.T, b *bundle.Bundle) { b.Entry.Decoded.Event.Attributes[0].Value = "5000" }},
		{"decoded kind", bundle.CheckEntry, func(t *testing.T, b *bundle.Bundle) { b.Entry.Decoded.Kind = "tx" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, b := newFixture(t)
			tt.edit(t, &b)
			// Through the file again: the edit must survive JSON.
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if b, err = bundle.Parse(raw); err != nil {
				t.Fatal(err)
			}
			rep, err := bundle.Verify(b, c.trusted())
			var ce *bundle.CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want check %q to fail", err, tt.check)
			}
			if ce.Name != tt.check {
				t.Fatalf("failed %v, want check %q to fail", err, tt.check)
			}
			if !strings.HasPrefix(err.Error(), "check ") || !strings.Contains(err.Error(), "("+tt.check+")") {
				t.Errorf("error %q does not name the check", err)
			}
			last := rep.Checks[len(rep.Checks)-1]
			if rep.OK || rep.Entry != nil || last.OK || last.Name != tt.check || last.N != ce.N {
				t.Errorf("report %+v, want it to end with check %q failed", rep, tt.check)
			}
		})
	}
}

// TestVerifyRefusesAnotherValidatorSet: a bundle signed by validators the
// verifier does not trust fails, even when it is consistent in itself (a
// forger's own chain), and so does a trusted set of another chain.
func TestVerifyRefusesAnotherValidatorSet(t *testing.T) {
	real, _ := newFixture(t)
	forger, b := newFixture(t)
	if _, err := bundle.Verify(b, forger.trusted()); err != nil {
		t.Fatalf("the forger's bundle with the forger's set: %v", err)
	}
	_, err := bundle.Verify(b, real.trusted())
	var ce *bundle.CheckError
	if !errors.As(err, &ce) || ce.Name != bundle.CheckValidators {
		t.Errorf("the forger's bundle with the real set: %v, want check %q to fail", err, bundle.CheckValidators)
	}
	_, err = bundle.Verify(b, &bundle.Trusted{ChainID: "other-chain", Set: forger.vals})
	if !errors.As(err, &ce) || ce.Name != bundle.CheckValidators || !strings.Contains(err.Error(), "other-chain") {
		t.Errorf("a set trusted for another chain: %v, want check %q to fail", err, bundle.CheckValidators)
	}
	if _, err := bundle.Verify(b, nil); !errors.As(err, &ce) || ce.Name != bundle.CheckValidators {
		t.Errorf("no trusted set: %v", err)
	}
}

// TestVerifyTwoThirds: three of four equal validators are more than two
// thirds and pass; the same commit with one more missing does not.
func TestVerifyTwoThirds(t *testing.T) {
	c, b := newFixture(t)
	edit(t, &b.Checkpoint.Commit, func(cm *cmttypes.Commit) {
		cm.Signatures[1] = cmttypes.CommitSig{BlockIDFlag: cmttypes.BlockIDFlagAbsent}
	})
	rep, err := bundle.Verify(b, c.trusted())
	if err != nil {
		t.Fatalf("3 of 4 signatures: %v", err)
	}
	if d := rep.Checks[2].Detail; !strings.Contains(d, "30 of 40") {
		t.Errorf("signatures check says %q, want the 30 of 40 power that signed", d)
	}
	edit(t, &b.Checkpoint.Commit, func(cm *cmttypes.Commit) {
		cm.Signatures[3] = cmttypes.CommitSig{BlockIDFlag: cmttypes.BlockIDFlagAbsent}
	})
	if _, err := bundle.Verify(b, c.trusted()); err == nil || !strings.Contains(err.Error(), "check 3 (commit signatures)") {
		t.Errorf("2 of 4 signatures: %v, want check 3 to fail", err)
	}
}

func TestValidatorsFile(t *testing.T) {
	c, b := newFixture(t)
	f, err := bundle.ExportValidators(b.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bundle.ParseValidators(raw)
	if err != nil {
		t.Fatal(err)
	}
	if tr.ChainID != chainID || !bytes.Equal(tr.Set.Hash(), c.vals.Hash()) || f.Height != 7 {
		t.Errorf("exported %+v, want the set of %s at 7", f, chainID)
	}
	if _, err := bundle.Verify(b, tr); err != nil {
		t.Errorf("Verify with the exported file: %v", err)
	}

	// A file whose set was changed, without or with its stated hash.
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	other := newChain(t, 1)
	m["validators"] = json.RawMessage(mustJSON(t, other.vals))
	changed, _ := json.Marshal(m)
	if _, err := bundle.ParseValidators(changed); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "was changed") {
		t.Errorf("a file with another set under the old hash: %v", err)
	}
	m["hash"] = other.trusted().Hash()
	changed, _ = json.Marshal(m)
	tr, err = bundle.ParseValidators(changed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bundle.Verify(b, tr); err == nil || !strings.Contains(err.Error(), "check 2 (validators)") {
		t.Errorf("Verify with another set's file: %v, want check 2 to fail", err)
	}
	for name, in := range map[string]string{
		"not JSON":       "validators",
		"no format":      `{"validators": {}}`,
		"another format": `{"format": "stratus-validators/v9"}`,
		"bad set":        `{"format": "stratus-validators/v1", "validators": {"validators": []}}`,
	} {
		if _, err := bundle.ParseValidators([]byte(in)); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: %v, want an invalid error", name, err)
		}
	}

	// A checkpoint that does not check out is not exported.
	edit(t, &b.Checkpoint.Commit, func(cm *cmttypes.Commit) { cm.Signatures[0].Signature = flip(cm.Signatures[0].Signature) })
	if _, err := bundle.ExportValidators(b.Checkpoint); err == nil || !strings.Contains(err.Error(), "commit signatures") {
		t.Errorf("export from a forged checkpoint: %v", err)
	}
}

// TestConsistent: a later checkpoint of the same log passes; one of a log
// with a changed entry, a shrunk log or a second root for the same block is
// a fork or a rewrite.
func TestConsistent(t *testing.T) {
	c := newChain(t, 4)
	c.append(event(0, "chain.genesis"), txLeaf(1, 1), event(1, "a"))
	old := c.checkpoint(t, 1)
	c.append(txLeaf(2, 2), event(2, "b"), event(2, "c"))
	newer := c.checkpoint(t, 2)
	p, err := audit.ConsistencyProof(c.kv, old.Size, newer.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range []audit.Checkpoint{old, newer} {
		if _, err := bundle.VerifyCheckpoint(cp, c.trusted()); err != nil {
			t.Fatal(err)
		}
	}
	if err := bundle.Consistent(old, newer, p); err != nil {
		t.Errorf("a later checkpoint of the same log: %v", err)
	}
	if err := bundle.Consistent(old, old, audit.Consistency{}); err != nil {
		t.Errorf("the same checkpoint again: %v", err)
	}
	if err := bundle.Consistent(newer, old, p); !errors.Is(err, bundle.ErrBehind) {
		t.Errorf("an older checkpoint: %v, want ErrBehind", err)
	}

	// The same validators sign a rewritten history: entry 1 changed.
	r := newChain(t, 1)
	r.vals, r.privs = c.vals, c.privs
	r.append(event(0, "chain.genesis"), txLeaf(1, 9), event(1, "a"), txLeaf(2, 2), event(2, "b"), event(2, "c"))
	rewritten := r.checkpoint(t, 2)
	rp, err := audit.ConsistencyProof(r.kv, old.Size, rewritten.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Consistent(old, rewritten, rp); !errors.Is(err, bundle.ErrInconsistent) || !errs.Is(err, errs.Conflict) {
		t.Errorf("a rewritten log, its own proof: %v, want ErrInconsistent", err)
	}
	if err := bundle.Consistent(old, rewritten, p); !errors.Is(err, bundle.ErrInconsistent) {
		t.Errorf("a rewritten log, the honest proof: %v, want ErrInconsistent", err)
	}
	// A second, different checkpoint for block 2.
	if err := bundle.Consistent(newer, rewritten, audit.Consistency{}); !errors.Is(err, bundle.ErrInconsistent) || !strings.Contains(err.Error(), "forked") {
		t.Errorf("two checkpoints of block 2: %v, want ErrInconsistent", err)
	}
	// A later block with fewer entries.
	short := newChain(t, 1)
	short.vals, short.privs = c.vals, c.privs
	short.append(event(0, "chain.genesis"))
	if err := bundle.Consistent(old, short.checkpoint(t, 3), audit.Consistency{}); !errors.Is(err, bundle.ErrInconsistent) || !strings.Contains(err.Error(), "removed") {
		t.Errorf("a shrunk log: %v, want ErrInconsistent", err)
	}
	// A proof between other sizes is refused, not taken as a fork.
	p2, _ := audit.ConsistencyProof(c.kv, 1, newer.Size)
	if err := bundle.Consistent(old, newer, p2); !errs.Is(err, errs.Invalid) {
		t.Errorf("a proof from size 1: %v, want invalid", err)
	}
}

// TestAppHashIsTheLedgers holds the verifier's restatement of the app hash
// to the ledger's own.
func TestAppHashIsTheLedgers(t *testing.T) {
	in := ledger.AppHashInputs{Height: 41, PrevAppHash: rnd(32), WritesHash: rnd(32), AuditSize: 1234, AuditRoot: rnd(32)}
	got := bundle.AppHash(in.PrevAppHash, in.Height, in.WritesHash, in.AuditSize, in.AuditRoot)
	if !bytes.Equal(got, in.AppHash()) {
		t.Fatalf("bundle.AppHash = %X, ledger's = %X", got, in.AppHash())
	}
	in.AuditSize++
	if bytes.Equal(got, in.AppHash()) {
		t.Error("the app hash does not depend on the size")
	}
}

func TestNewRefusesMismatchedParts(t *testing.T) {
	c, b := newFixture(t)
	rec := audit.Record{Index: 2, Leaf: b.Entry.Leaf}
	if _, err := bundle.New(audit.Record{Index: 1, Leaf: b.Entry.Leaf}, b.Inclusion, b.Checkpoint); err == nil {
		t.Error("an entry that is not the proof's")
	}
	p, _ := audit.InclusionProof(c.kv, 2, 4)
	if _, err := bundle.New(rec, p, b.Checkpoint); err == nil {
		t.Error("a proof to another size than the checkpoint's")
	}
	if _, err := bundle.New(audit.Record{Index: 2, Leaf: []byte("x")}, b.Inclusion, b.Checkpoint); err == nil {
		t.Error("a leaf that does not decode")
	}
}
