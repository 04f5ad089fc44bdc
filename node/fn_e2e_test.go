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
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/internal/testnet"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestDevnetFunction stores a module, deploys it on a devnet and calls it
// through the gateway: storage, the ledger, compute0's agent and service,
// and the gateway together.
func TestDevnetFunction(t *testing.T) {
	// A minute more than the others: the cron run waits for the next
	// minute of block time.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout+time.Minute)
	defer cancel()
	d := startDevnet(t, market.DefaultGenesis())
	mod := testnet.HelloWasm()
	put, err := storeclient.New(d.c).Put(ctx, d.demo, bytes.NewReader(mod), int64(len(mod)), storeclient.PutOptions{})
	if err != nil {
		t.Fatalf("store the module: %v", err)
	}
	spec := functions.Spec{
		Module: put.ID, SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
		Env:     map[string]string{"GREETING": "hello"},
		Cron:    []functions.CronJob{{Schedule: "* * * * *", Path: "/tick", Body: "ping"}},
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

	// At the next minute of block time the ledger gives the cron run to
	// the replica, and compute0 serves it: its log, which only the owner
	// may read, says so. (Up to a minute's wait: schedules run at most
	// once a minute.)
	var v functions.DeploymentView
	if err := d.c.Get(ctx, "/v1/functions/"+id, &v); err != nil {
		t.Fatal(err)
	}
	var prov market.Provider
	if err := d.c.Get(ctx, "/v1/providers/"+v.Replicas[0].Provider.String(), &prov); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(75 * time.Second)
	for {
		if err := d.c.Get(ctx, "/v1/functions/"+id, &v); err != nil {
			t.Fatal(err)
		}
		log := fnLog(ctx, t, prov.Endpoint, id, d.demo)
		if v.CronRuns > 0 && strings.Contains(log, "stratus: cron run 0 (* * * * * POST /tick, due ") {
			if !strings.Contains(log, "200 OK in ") || len(v.CronRecent) == 0 || v.CronRecent[0].Lease != v.Replicas[0].Lease {
				t.Fatalf("cron run 0 of %+v:\n%s", v.CronRecent, log)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cron run served: %d runs, recent %+v, log:\n%s", v.CronRuns, v.CronRecent, log)
		}
		time.Sleep(time.Second)
	}
}

// fnLog reads deployment id's log from a provider, signed by the owner.
func fnLog(ctx context.Context, t *testing.T, endpoint, id string, owner *identity.Key) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/fn/"+id+"/_logs", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := httpsig.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	if err := httpsig.Sign(req, owner, time.Now(), nonce); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logs: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
