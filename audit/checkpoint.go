package audit

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// Checkpoint is the log's head after a block, with what binds it to
// consensus: the inputs of that block's app hash and the next block's
// header, which carries the app hash, its commit and the validator set that
// signed it. Header, Commit and Validators are CometBFT's own JSON (as its
// RPC serves them), so cometbft/types and cometbft/libs/json read them back.
type Checkpoint struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	// Note is the transparency-log signed-note body; it carries no note
	// signature: the validators' commit is what signs it.
	Note string `json:"note"`
	// Height is the block after which the log had Size entries.
	Height      int64  `json:"height"`
	PrevAppHash []byte `json:"prev_app_hash"`
	WritesHash  []byte `json:"writes_hash"`

	Header     json.RawMessage `json:"header"`
	Commit     json.RawMessage `json:"commit"`
	Validators json.RawMessage `json:"validators"`
}

// Note returns the body of a transparency-log checkpoint (the signed-note
// format of C2SP tlog-checkpoint): origin, size and base64 root, one a line.
func Note(origin string, size uint64, root []byte) string {
	return origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
}
