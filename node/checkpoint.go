package node

import (
	"bytes"
	"encoding/json"
	"net/http"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/errs"
)

// checkpoint serves the latest audit checkpoint that validator signatures
// commit to (docs/audit.md, "Checkpoints").
//
// The app hash after block H is in the header of block H+1, so the latest
// checkpoint is for H = top-1, where top is the highest block with a commit
// this node holds: its own seen commit for the top block, or, failing that,
// the canonical commit carried by the top block for the one below.
func (n *Node) checkpoint(r *http.Request) (any, error) {
	meta, commit, err := n.latestSigned()
	if err != nil {
		return nil, err
	}
	return n.checkpointAt(meta, commit)
}

// latestSigned returns the highest block this node holds a commit for, the
// block H+1 of the latest checkpoint, with that commit.
func (n *Node) latestSigned() (*cmttypes.BlockMeta, *cmttypes.Commit, error) {
	bs := n.comet.BlockStore()
	top := bs.Height()
	for b := top; b >= top-1 && b >= 2 && b >= bs.Base(); b-- {
		commit := bs.LoadSeenCommit(b)
		if commit == nil || commit.Height != b {
			commit = bs.LoadBlockCommit(b)
		}
		meta := bs.LoadBlockMeta(b)
		if commit == nil || meta == nil {
			continue
		}
		return meta, commit, nil
	}
	return nil, nil, errs.E(errs.NotFound, "no checkpoint yet: the chain is at height %d and a checkpoint needs two blocks; try again after the next block", top)
}

// checkpointSize returns the log's size at the latest checkpoint.
func (n *Node) checkpointSize() (uint64, error) {
	meta, _, err := n.latestSigned()
	if err != nil {
		return 0, err
	}
	in, err := n.app.AppHashInputs(meta.Header.Height - 1)
	if err != nil {
		return 0, err
	}
	return in.AuditSize, nil
}

func (n *Node) checkpointAt(meta *cmttypes.BlockMeta, commit *cmttypes.Commit) (any, error) {
	b := meta.Header.Height
	in, err := n.app.AppHashInputs(b - 1)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(in.AppHash(), meta.Header.AppHash) {
		return nil, errs.E(errs.Internal, "this node's app-hash inputs of block %d do not give the app hash in block %d's header; ask another node", b-1, b)
	}
	st, err := n.cometState()
	if err != nil {
		return nil, errs.E(errs.Internal, "consensus state: %v", err)
	}
	vals, err := st.LoadValidators(b)
	if err != nil {
		return nil, errs.E(errs.Internal, "validator set at height %d: %v", b, err)
	}
	header, err := cmtjson.Marshal(meta.Header)
	if err != nil {
		return nil, err
	}
	c, err := cmtjson.Marshal(commit)
	if err != nil {
		return nil, err
	}
	v, err := cmtjson.Marshal(vals)
	if err != nil {
		return nil, err
	}
	return audit.Checkpoint{
		Size:        in.AuditSize,
		Root:        in.AuditRoot,
		Note:        audit.Note("stratus/"+meta.Header.ChainID, in.AuditSize, in.AuditRoot),
		Height:      in.Height,
		PrevAppHash: in.PrevAppHash,
		WritesHash:  in.WritesHash,
		Header:      json.RawMessage(header),
		Commit:      json.RawMessage(c),
		Validators:  json.RawMessage(v),
	}, nil
}
