package node_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/internal/testnet"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestDevnetFunction stores a module, deploys it on a devnet and calls it
// through the gateway: storage, the ledger, compute0's agent and service,
// and the gateway together.
func TestDevnetFunction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	d := startDevnet(t, market.DefaultGenesis())
	mod := testnet.HelloWasm()
	put, err := storeclient.New(d.c).Put(ctx, d.demo, bytes.NewReader(mod), int64(len(mod)), storeclient.PutOptions{})
	if err != nil {
		t.Fatalf("store the module: %v", err)
	}
	spec := functions.Spec{
		Module: put.ID, SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
		Scaling: functions.Scaling{Min: 1, Max: 1, TargetConcurrency: 8, CooldownSeconds: 60}, SpendLimit: 100_000_000,
	}
	res, err := d.c.Send(ctx, d.demo, &functions.Deploy{Name: "hello", Spec: spec, Deposit: 10_000_000}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, e := range res.Events {
		if e.Type == "function.deployed" {
			id = e.Attrs["deployment"]
		}
	}
	// compute0's agent acknowledges the replica's lease, and its service
	// fetches the module; until then calls get 503.
	deadline := time.Now().Add(testTimeout / 2)
	for {
		resp, err := http.Get(d.n.APIURL() + "/fn/" + id + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if string(b) != testnet.HelloBody || resp.Header.Get("Content-Type") != "text/plain" {
				t.Errorf("call = %q %v, want hello from wat", b, resp.Header)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the function still answers %d: %s", resp.StatusCode, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
