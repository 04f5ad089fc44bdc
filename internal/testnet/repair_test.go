package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storeclient"
)

// repairTestGenesis are the proof and repair rules of TestKilledProviderIsRepaired:
// 2-second proof epochs, 6 s to answer, and a provider lost as a whole after
// four misses in a row (two epochs of its two challenges each). The probes
// keep the market's 60-second epochs, so here the proofs alone find the
// killed provider out.
func repairTestGenesis() objects.Genesis {
	og := objects.DefaultGenesis()
	og.Params.ProofEpochSeconds = 2
	og.Params.ProofWindowSeconds = 6
	og.Params.LostAfterMisses = 2
	og.Params.ProviderLostAfterMisses = 4
	og.Params.RepairDeadlineSeconds = 60
	return og
}

// repairEpochBound is the documented bound, in proof epochs, from the kill
// to the last shard rebuilt: the killed provider misses its first
// challenges one window (3 epochs) after they are issued, is lost at its
// fourth miss (2 epochs later), its shards are assigned in the next blocks
// and rebuilt and committed by the assignees, which look every second.
// Ten epochs for that; the test waits for the condition with a generous
// deadline and logs how many epochs it took.
const repairEpochBound = 10

// TestKilledProviderIsRepaired runs a testnet of one validator and six
// storage providers, each its own process, stores two objects with 3+2
// coding, and kills -9 one provider that holds shards of both, for good.
// The ledger finds it out by its missed proofs, and the other providers'
// repair workers rebuild every shard it held: `store info` no longer places
// any shard on it. Then two more of the objects' original providers are
// killed; without the repairs, three shards of every segment would be gone
// and nothing could be read; with them, every object reads back byte for
// byte from the three left.
func TestKilledProviderIsRepaired(t *testing.T) {
	t.Parallel()
	bin := stratusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*testTimeout)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "testnet")
	og := repairTestGenesis()
	if _, err := node.InitTestnetOf(dir, node.TestnetSize{Validators: 1, Storage: 6, Objects: &og}, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := Stop(dir); err != nil {
			t.Errorf("stop the testnet: %v", err)
		}
	})
	stratusCmd(ctx, t, bin, "testnet", "start", "--dir", dir, "--output", "json")
	var api string
	storage := map[string]NodeStatus{} // by provider address
	for _, s := range testnetStatus(ctx, t, bin, dir) {
		switch s.Role {
		case "validator":
			api = s.API
		case "storage":
			storage[s.Address] = s
		}
	}
	if api == "" || len(storage) != 6 {
		t.Fatalf("want a validator and 6 storage nodes, have %q and %d", api, len(storage))
	}
	c := client.New(api)
	sc := storeclient.New(c)
	demo, err := identity.OpenKeystore(node.KeysDir(node.ClientHome(dir))).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}

	// Two objects; a put needs five providers up, so the first may wait
	// for the storage processes to come up.
	files := [][]byte{
		randomFile(t, filepath.Join(t.TempDir(), "a"), 9<<20+5),
		randomFile(t, filepath.Join(t.TempDir(), "b"), 4<<20+1),
	}
	var puts []*storeclient.PutResult
	for _, data := range files {
		var put *storeclient.PutResult
		eventually(ctx, t, "a put", func() error {
			put, err = sc.Put(ctx, demo, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{K: 3, M: 2})
			return err
		})
		puts = append(puts, put)
	}
	// The victim holds shards of both objects.
	holds := map[string]int{}
	for _, p := range puts {
		for _, d := range p.Providers {
			holds[d]++
		}
	}
	var victim string
	for _, d := range puts[0].Providers {
		if holds[d] == 2 {
			victim = d
			break
		}
	}
	if victim == "" {
		t.Fatalf("no provider holds shards of both objects: %v", holds)
	}
	// Proofs work before the kill: the victim passes some.
	eventually(ctx, t, "the victim passes a proof", func() error {
		st, err := c.ProofStats(ctx, victim)
		if err != nil {
			return err
		}
		if st.Passed == 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})

	killed := time.Now()
	if err := syscall.Kill(storage[victim].PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", storage[victim].Name, err)
	}
	t.Logf("killed %s (%s)", storage[victim].Name, victim)
	eventually(ctx, t, "every shard of the killed provider rebuilt elsewhere", func() error {
		for _, p := range puts {
			info, err := sc.Info(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, pl := range info.Placement {
				if pl.Provider == victim {
					return fmt.Errorf("object %s still has %d shards on %s", p.ID, pl.Shards, storage[victim].Name)
				}
			}
		}
		return nil
	})
	epochs := time.Since(killed).Seconds() / float64(og.Params.ProofEpochSeconds)
	t.Logf("repaired within %.1f proof epochs of the kill (documented bound %d)", epochs, repairEpochBound)
	st, err := c.ProofStats(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if st.LostMs == 0 || st.Missed == 0 {
		t.Errorf("the killed provider's stats: %+v; want it missed and lost", st)
	}
	// As a user sees it: `store info` places nothing on it.
	for _, p := range puts {
		out := stratusCmd(ctx, t, bin, "--home", node.ClientHome(dir), "store", "info", p.ID, "--output", "json")
		var info storeclient.Info
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("store info printed %s: %v", out, err)
		}
		for _, pl := range info.Placement {
			if pl.Provider == victim {
				t.Fatalf("store info %s places %d shards on the killed provider", p.ID, pl.Shards)
			}
		}
	}

	// Two more of the first object's original providers, for good.
	var more []string
	for _, d := range puts[0].Providers {
		if d != victim && len(more) < 2 {
			more = append(more, d)
		}
	}
	for _, d := range more {
		if err := syscall.Kill(storage[d].PID, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %s: %v", storage[d].Name, err)
		}
	}
	for i, p := range puts {
		var buf bytes.Buffer
		if _, err := storeclient.New(c).Get(ctx, p.ID, &buf, storeclient.GetOptions{}); err != nil {
			t.Fatalf("object %s with three providers killed after the repair: %v", p.ID, err)
		}
		if !bytes.Equal(buf.Bytes(), files[i]) {
			t.Fatalf("object %s read back %d bytes that differ from the %d stored", p.ID, buf.Len(), len(files[i]))
		}
	}
}
