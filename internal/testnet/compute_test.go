package testnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/storeclient"
)

// call sends method to url with body and returns the status and body.
func call(ctx context.Context, method, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestComputeProvidersAsProcesses runs a testnet of one validator, three
// storage and two compute providers, each its own process, deploys a
// function with a replica on each compute provider, and kills -9 one of
// them: calls through the validator's gateway go on, served by the other.
func TestComputeProvidersAsProcesses(t *testing.T) {
	t.Parallel()
	bin := stratusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "testnet")
	stratusCmd(ctx, t, bin, "testnet", "init", "--validators", "1", "--storage", "3", "--compute", "2", "--dir", dir, "--output", "json")
	t.Cleanup(func() {
		if _, err := Stop(dir); err != nil {
			t.Errorf("stop the testnet: %v", err)
		}
	})
	stratusCmd(ctx, t, bin, "testnet", "start", "--dir", dir, "--output", "json")
	var api string
	compute := map[string]NodeStatus{} // by provider address
	for _, s := range testnetStatus(ctx, t, bin, dir) {
		switch s.Role {
		case "validator":
			api = s.API
		case "compute":
			compute[s.Address] = s
		}
		if !s.Up {
			t.Errorf("after start: %+v is down", s)
		}
	}
	if api == "" || len(compute) != 2 {
		t.Fatalf("testnet status: want a validator and 2 compute nodes, got %s and %v", api, compute)
	}
	c := client.New(api)
	demo, err := identity.OpenKeystore(node.KeysDir(node.ClientHome(dir))).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}
	mod := HelloWasm()
	put, err := storeclient.New(c).Put(ctx, demo, bytes.NewReader(mod), int64(len(mod)), storeclient.PutOptions{K: 2, M: 1})
	if err != nil {
		t.Fatalf("store the module: %v", err)
	}
	spec := functions.Spec{
		Module: put.ID, SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
		Scaling: functions.Scaling{Min: 2, Max: 2, TargetConcurrency: 8, CooldownSeconds: 60}, SpendLimit: 100_000_000,
	}
	res, err := c.Send(ctx, demo, &functions.Deploy{Name: "hello", Spec: spec, Deposit: 10_000_000}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, e := range res.Events {
		if e.Type == "function.deployed" {
			id = e.Attrs["deployment"]
		}
	}
	url := api + "/fn/" + id + "/"

	// Both replicas' leases acknowledged by their providers' agents, and
	// both providers serving the function.
	eventually(ctx, t, "both replicas serve", func() error {
		var d functions.DeploymentView
		if err := c.Get(ctx, "/v1/functions/"+id, &d); err != nil {
			return err
		}
		if len(d.Replicas) != 2 {
			return fmt.Errorf("%d replicas", len(d.Replicas))
		}
		for _, r := range d.Replicas {
			if r.LeaseState != market.LeaseActive {
				return fmt.Errorf("lease %d is %s", r.Lease, r.LeaseState)
			}
			if _, ok := compute[r.Provider.String()]; !ok {
				return fmt.Errorf("replica on %s, not a compute node of the testnet", r.Provider)
			}
		}
		for _, s := range compute {
			code, body, err := call(ctx, http.MethodGet, s.API+"/fn/"+id+"/", "")
			if err != nil || code != http.StatusOK || body != HelloBody {
				return fmt.Errorf("%s answers %d %q %v", s.Name, code, body, err)
			}
		}
		return nil
	})
	for i := range 4 {
		if code, body, err := call(ctx, http.MethodGet, url, ""); err != nil || code != http.StatusOK || body != HelloBody {
			t.Fatalf("call %d through the gateway: %d %q %v", i, code, body, err)
		}
	}

	// kill -9 one compute provider: every call still succeeds, the GETs
	// retried on the other replica, the POSTs sent there once the gateway
	// knows the first is down (or because its connection is refused).
	var victim NodeStatus
	for _, s := range compute {
		victim = s
		break
	}
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", victim.Name, err)
	}
	eventually(ctx, t, "the killed provider shows down", func() error {
		for _, s := range testnetStatus(ctx, t, bin, dir) {
			if s.Name == victim.Name && s.Up {
				return fmt.Errorf("%s is still up", s.Name)
			}
		}
		return nil
	})
	for i := range 6 {
		method := http.MethodGet
		if i%2 == 1 {
			method = http.MethodPost
		}
		if code, body, err := call(ctx, method, url, "ping"); err != nil || code != http.StatusOK || body != HelloBody {
			t.Errorf("%s %d after %s's kill: %d %q %v", method, i, victim.Name, code, body, err)
		}
	}
}
