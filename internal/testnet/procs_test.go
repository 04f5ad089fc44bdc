package testnet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
)

// stratusCmd runs the stratus binary and returns its stdout; it fails the
// test if the command fails.
func stratusCmd(ctx context.Context, t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("stratus %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// testnetStatus runs `stratus testnet status` and decodes its JSON.
func testnetStatus(ctx context.Context, t *testing.T, bin, dir string) []NodeStatus {
	t.Helper()
	var sts []NodeStatus
	out := stratusCmd(ctx, t, bin, "testnet", "status", "--dir", dir, "--output", "json")
	if err := json.Unmarshal(out, &sts); err != nil {
		t.Fatalf("testnet status printed %q: %v", out, err)
	}
	return sts
}

// TestTestnetProcesses drives `stratus testnet` as a user would: init,
// start, a transfer from the client home, kill -9 of one validator while
// the others go on, start again to bring it back, and stop.
func TestTestnetProcesses(t *testing.T) {
	t.Parallel()
	bin := stratusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	const n, victim = 4, 2
	dir := filepath.Join(t.TempDir(), "testnet")

	stratusCmd(ctx, t, bin, "testnet", "init", "--validators", fmt.Sprint(n), "--dir", dir, "--output", "json")
	// Whatever happens below, no node outlives the test.
	t.Cleanup(func() {
		if _, err := Stop(dir); err != nil {
			t.Errorf("stop the testnet: %v", err)
		}
	})
	stratusCmd(ctx, t, bin, "testnet", "start", "--dir", dir, "--output", "json")

	sts := testnetStatus(ctx, t, bin, dir)
	if len(sts) != n {
		t.Fatalf("testnet status lists %d nodes, want %d: %+v", len(sts), n, sts)
	}
	clients := make([]*client.Client, n)
	for i, s := range sts {
		if s.Name != fmt.Sprintf("validator%d", i) || s.Role != "validator" || !s.Up || s.PID <= 0 ||
			!strings.HasPrefix(s.Address, "did:key:") || !strings.HasPrefix(s.API, "http://127.0.0.1:") {
			t.Errorf("node %d: %+v; want validator%d, role validator, up, a pid, a did:key address and a loopback API", i, s, i)
		}
		clients[i] = client.New(s.API)
	}
	if t.Failed() {
		t.FailNow()
	}

	// A transfer from the client home, as its user would send it.
	to := newAddress(t)
	out := stratusCmd(ctx, t, bin, "--home", node.ClientHome(dir), "tx", "send", "--from", "demo", "--to", to.String(), "--amount", "2STR", "--output", "json")
	var sent struct {
		Hash   string `json:"hash"`
		Height int64  `json:"height"`
	}
	if err := json.Unmarshal(out, &sent); err != nil {
		t.Fatalf("tx send printed %q: %v", out, err)
	}
	if b, err := hex.DecodeString(sent.Hash); err != nil || len(b) != 32 || sent.Height <= 0 {
		t.Fatalf("tx send printed %q: want a 64-hex-digit hash and a height", out)
	}

	// kill -9 one validator: it shows down, and the others go on.
	pid := readPID(filepath.Join(dir, fmt.Sprintf("validator%d", victim)))
	if pid != sts[victim].PID {
		t.Fatalf("validator%d's pid file says %d, status said %d", victim, pid, sts[victim].PID)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 validator%d: %v", victim, err)
	}
	eventually(ctx, t, "killed validator shows down", func() error {
		s := testnetStatus(ctx, t, bin, dir)[victim]
		if s.Up || s.PID != 0 {
			return fmt.Errorf("status of validator%d: %+v", victim, s)
		}
		return nil
	})
	h, err := chainHeight(ctx, clients[0])
	if err != nil {
		t.Fatal(err)
	}
	waitChainHeight(ctx, t, clients[0], h+3)
	for i, s := range testnetStatus(ctx, t, bin, dir) {
		if i != victim && (!s.Up || s.PID != sts[i].PID) {
			t.Errorf("after validator%d's kill: %+v, want up with pid %d", victim, s, sts[i].PID)
		}
	}

	// start again brings back only the one that is down, and it catches up.
	stratusCmd(ctx, t, bin, "testnet", "start", "--dir", dir, "--output", "json")
	again := testnetStatus(ctx, t, bin, dir)
	for i, s := range again {
		switch {
		case !s.Up:
			t.Errorf("after start again: %s is down", s.Name)
		case i == victim && (s.PID <= 0 || s.PID == pid):
			t.Errorf("after start again: %s has pid %d, want a new process (it was %d)", s.Name, s.PID, pid)
		case i != victim && s.PID != sts[i].PID:
			t.Errorf("after start again: %s has pid %d, want it left running as %d", s.Name, s.PID, sts[i].PID)
		}
	}
	target, err := chainHeight(ctx, clients[0])
	if err != nil {
		t.Fatal(err)
	}
	waitChainHeight(ctx, t, clients[victim], target)
	for i, c := range clients {
		if got := balance(ctx, t, c, to); got != 2*money.UstrPerSTR {
			t.Errorf("validator%d: the recipient has %d ustr, want 2 STR", i, got)
		}
		checkSupply(ctx, t, c, GenesisSupply(n))
	}
	if tx, err := clients[victim].Tx(ctx, sent.Hash); err != nil || tx.Height != sent.Height || tx.Code != 0 {
		t.Errorf("validator%d: transfer %s: %+v, %v; want it at height %d with code 0", victim, sent.Hash, tx, err, sent.Height)
	}

	// stop stops every node.
	var stopped []NodeStatus
	if err := json.Unmarshal(stratusCmd(ctx, t, bin, "testnet", "stop", "--dir", dir, "--output", "json"), &stopped); err != nil {
		t.Fatal(err)
	}
	for _, sts := range [][]NodeStatus{stopped, testnetStatus(ctx, t, bin, dir)} {
		for _, s := range sts {
			if s.Up || s.PID != 0 {
				t.Errorf("after stop: %+v, want down with no pid", s)
			}
		}
	}
	for _, s := range again {
		if alive(s.PID) {
			t.Errorf("after stop: %s (pid %d) is still running", s.Name, s.PID)
		}
	}
}
