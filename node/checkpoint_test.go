package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// TestAuditCheckpointVerifies fetches the checkpoint after a transfer and
// checks it as an auditor who trusts only the validator set would, with
// CometBFT's own types: the commit carries more than two thirds of the
// voting power for the header, the header's app hash is recomputed from the
// checkpoint's fields, and the root is the log's root at that size.
func TestAuditCheckpointVerifies(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	to, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: to.Address(), Amount: 1}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cp audit.Checkpoint
	for cp.Height < res.Height {
		if cp, err = d.c.AuditCheckpoint(ctx); err != nil && ctx.Err() != nil {
			t.Fatalf("checkpoint at or after height %d: %v", res.Height, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var hdr cmttypes.Header
	var commit cmttypes.Commit
	var vals cmttypes.ValidatorSet
	for name, v := range map[string]any{"header": &hdr, "commit": &commit, "validators": &vals} {
		raw := map[string][]byte{"header": cp.Header, "commit": cp.Commit, "validators": cp.Validators}[name]
		if err := cmtjson.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, raw)
		}
	}
	if hdr.Height != cp.Height+1 {
		t.Fatalf("header height %d, want %d: the app hash after block H is in block H+1's header", hdr.Height, cp.Height+1)
	}
	if err := vals.ValidateBasic(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hdr.ValidatorsHash, vals.Hash()) {
		t.Fatalf("validator set hash %X, header says %X", vals.Hash(), hdr.ValidatorsHash)
	}
	if !bytes.Equal(commit.BlockID.Hash, hdr.Hash()) {
		t.Fatalf("commit for block %X, header hashes to %X", commit.BlockID.Hash, hdr.Hash())
	}
	if err := vals.VerifyCommitLight(hdr.ChainID, commit.BlockID, hdr.Height, &commit); err != nil {
		t.Fatalf("commit does not carry +2/3 of the voting power: %v", err)
	}
	// A forged signature is refused, so the check above is not vacuous.
	forged := commit.Clone()
	forged.Signatures[0].Signature = bytes.Clone(forged.Signatures[0].Signature)
	forged.Signatures[0].Signature[0] ^= 1
	if err := vals.VerifyCommitLight(hdr.ChainID, forged.BlockID, hdr.Height, forged); err == nil {
		t.Error("a commit with a changed signature byte verified")
	}

	appHash := func(root []byte) []byte {
		s := sha256.New()
		s.Write([]byte("stratus/apphash/v1\n"))
		s.Write(cp.PrevAppHash)
		s.Write(binary.BigEndian.AppendUint64(nil, uint64(cp.Height)))
		s.Write(cp.WritesHash)
		s.Write(binary.BigEndian.AppendUint64(nil, cp.Size))
		s.Write(root)
		return s.Sum(nil)
	}
	if got := appHash(cp.Root); !bytes.Equal(got, hdr.AppHash) {
		t.Fatalf("recomputed app hash %X, the signed header has %X", got, hdr.AppHash)
	}
	bad := bytes.Clone(cp.Root)
	bad[len(bad)-1] ^= 1
	if bytes.Equal(appHash(bad), hdr.AppHash) {
		t.Error("a root with a changed byte gives the signed app hash")
	}

	head, err := d.c.AuditRoot(ctx, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != cp.Size || !bytes.Equal(head.Root, cp.Root) {
		t.Errorf("/v1/audit/root?size=%d = %d %X, checkpoint root %X", cp.Size, head.Size, head.Root, cp.Root)
	}
	if cp.Size == 0 {
		t.Error("the checkpoint after a transfer has an empty log")
	}
	want := "stratus/" + hdr.ChainID + "\n" + strconv.FormatUint(cp.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(cp.Root) + "\n"
	if cp.Note != want {
		t.Errorf("note = %q, want %q", cp.Note, want)
	}
}
