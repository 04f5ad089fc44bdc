// Package testnet runs Stratus networks on one machine: as separate OS
// processes (what `stratus testnet` does, the same topology as production),
// or in-process for tests (Cluster).
package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/node"
)

// NodeStatus is one node of a testnet as `stratus testnet status` reports
// it. For a storage node, Address is its provider's and API its shard API's
// URL, and it is up when that answers /healthz; likewise for a compute node
// and its function server.
type NodeStatus struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Address string `json:"address"`
	PID     int    `json:"pid"`
	API     string `json:"api"`
	Up      bool   `json:"up"`
}

// LogFile is where a node process started by Start writes its log.
func LogFile(home string) string { return filepath.Join(home, "node.log") }

// Start starts one `exe node --home` process per node of the testnet in dir
// that is not already running, validators first, writes their pid files,
// and returns once every node answers: a validator's API, a storage node's
// shard API, a compute node's function server (or ctx ends, or a process
// dies).
func Start(ctx context.Context, dir, exe string) ([]NodeStatus, error) {
	nodes, err := node.TestnetNodes(dir)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if pid := readPID(n.Home); pid > 0 && alive(pid) {
			continue
		}
		logf, err := os.OpenFile(LogFile(n.Home), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, "node", "--home", n.Home)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), "STRATUS_NODE=")
		// A session of its own: the node outlives this command and a
		// Ctrl-C in the terminal that started it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = cmd.Start()
		logf.Close()
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", n.Name, err)
		}
		if err := os.WriteFile(node.PIDFile(n.Home), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
			return nil, err
		}
		go cmd.Wait() // reap it if it dies while we wait
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		sts, err := Status(dir)
		if err != nil {
			return nil, err
		}
		allUp := true
		for _, s := range sts {
			if !s.Up {
				allUp = false
				if s.PID == 0 || !alive(s.PID) {
					return sts, fmt.Errorf("%s exited during start; its log ends:\n%s", s.Name, tail(LogFile(filepath.Join(dir, s.Name)), 20))
				}
			}
		}
		if allUp {
			return sts, nil
		}
		if time.Now().After(deadline) {
			return sts, fmt.Errorf("testnet did not answer within 90s: see the node.log files under %s", dir)
		}
		select {
		case <-ctx.Done():
			return sts, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Status reports each node of the testnet in dir.
func Status(dir string) ([]NodeStatus, error) {
	nodes, err := node.TestnetNodes(dir)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	out := make([]NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		cfg, err := node.LoadConfig(n.Home)
		if err != nil {
			return nil, err
		}
		s := NodeStatus{Name: n.Name, Role: n.Role, API: "http://" + cfg.API.Listen}
		keyName, probe := node.OperatorKey, "/v1/status"
		switch {
		case n.Role == node.RoleStorage && len(cfg.Storage) > 0:
			keyName, probe = cfg.Storage[0].Name, "/healthz"
			s.API = "http://" + cfg.Storage[0].Listen
		case n.Role == node.RoleCompute && len(cfg.Compute) > 0:
			keyName, probe = cfg.Compute[0].Name, "/healthz"
			s.API = "http://" + cfg.Compute[0].Listen
		}
		if info, err := identity.OpenKeystore(node.KeysDir(n.Home)).Show(keyName); err == nil {
			s.Address = info.Address
		}
		if pid := readPID(n.Home); pid > 0 && alive(pid) {
			s.PID = pid
			if resp, err := hc.Get(s.API + probe); err == nil {
				s.Up = resp.StatusCode == http.StatusOK
				resp.Body.Close()
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Stop sends SIGTERM to every running node of the testnet in dir, waits for
// them to exit (SIGKILL after 15s), and removes the pid files.
func Stop(dir string) ([]NodeStatus, error) {
	nodes, err := node.TestnetNodes(dir)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, n := range nodes {
		if pid := readPID(n.Home); pid > 0 && alive(pid) {
			syscall.Kill(pid, syscall.SIGTERM)
			pids = append(pids, pid)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, n := range nodes {
		os.Remove(node.PIDFile(n.Home))
	}
	return Status(dir)
}

func readPID(home string) int {
	b, err := os.ReadFile(node.PIDFile(home))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
