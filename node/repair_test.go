package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// repairGenesis is a devnet of six storage providers with 2-second market
// and proof epochs, proofs due within 4 s, and a shard lost at its first
// miss: a test sees a whole cycle in seconds.
func repairGenesis() node.ModuleGenesis {
	mg := market.DefaultGenesis()
	mg.Params.EpochSeconds = 2
	og := objects.DefaultGenesis()
	og.Params.ProofEpochSeconds = 2
	og.Params.ProofWindowSeconds = 4
	og.Params.LostAfterMisses = 1
	og.Params.ProviderLostAfterMisses = 100
	og.Params.DownAfterEpochs = 100 // only proofs decide here
	og.Params.RepairDeadlineSeconds = 60
	return node.ModuleGenesis{Market: mg, Functions: functions.DefaultGenesis(), Objects: og, Storage: 6}
}

// eventually polls cond every 200 ms until it returns nil or ctx ends.
func eventually(ctx context.Context, t *testing.T, what string, cond func() error) {
	t.Helper()
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within the deadline: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestDeletedShardFailsItsProofAndIsRepaired: a provider whose shard
// vanished from its disk cannot answer the next challenge of it, is
// penalized, and the ledger assigns the shard to the sixth provider, whose
// repair worker rebuilds it from the other four, stores it and commits;
// the manifest then places it there and the object reads back whole with
// two of the original providers down.
func TestDeletedShardFailsItsProofAndIsRepaired(t *testing.T) { testRepair(t, false) }

// TestPrivateObjectIsRepaired is the same with a private object: its
// providers serve its shards to the repairer, whose requests are signed
// and which the ledger assigned the repair, and to nobody else.
func TestPrivateObjectIsRepaired(t *testing.T) { testRepair(t, true) }

func testRepair(t *testing.T, private bool) {
	home := filepath.Join(t.TempDir(), "devnet")
	if _, err := node.InitDevnetModules(home, devnetConfig(), "", repairGenesis()); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	n, _ := startNode(t, home, cfg)
	c := client.New(n.APIURL())
	sc := storeclient.New(c)
	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	names := map[string]string{} // address -> name
	for _, s := range n.StorageStates() {
		names[s.Address] = s.Name
	}

	data := make([]byte, 3<<20+17) // one segment: five shards, one a provider
	rand.NewChaCha8([32]byte{1, 2}).Read(data)
	var put *storeclient.PutResult
	eventually(ctx, t, "the put", func() error {
		put, err = sc.Put(ctx, demo, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{Private: private})
		return err
	})
	_, m, err := sc.Object(ctx, put.ID)
	if err != nil {
		t.Fatal(err)
	}
	const lost = 1
	ref := m.Segments[0].Shards[lost]
	victim := ref.Provider

	// The prover answers: the victim passes a proof before anything is
	// deleted.
	eventually(ctx, t, "a passed proof", func() error {
		st, err := c.ProofStats(ctx, victim)
		if err != nil {
			return err
		}
		if st.Passed == 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	before, err := c.ProofStats(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if before.Missed != 0 {
		t.Fatalf("the victim missed proofs before any deletion: %+v", before)
	}
	if err := os.Remove(shardFile(t, n, home, names[victim], ref.Hash)); err != nil {
		t.Fatal(err)
	}

	// Missed, penalized, lost; then repaired elsewhere.
	eventually(ctx, t, "the missed proof", func() error {
		st, err := c.ProofStats(ctx, victim)
		if err != nil {
			return err
		}
		if st.Missed == 0 || st.Penalized == 0 || st.Lost == 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	var repairer string
	eventually(ctx, t, "the repair committed", func() error {
		_, m2, err := sc.Object(ctx, put.ID)
		if err != nil {
			return err
		}
		p := m2.Segments[0].Shards[lost].Provider
		if p == victim {
			return fmt.Errorf("shard %d is still placed on %s", lost, names[victim])
		}
		repairer = p
		return nil
	})
	for _, p := range put.Providers {
		if p == repairer {
			t.Fatalf("the repair went to %s, which holds another shard of the segment", names[p])
		}
	}
	st, err := c.ProofStats(ctx, repairer)
	if err != nil {
		t.Fatal(err)
	}
	if st.Repaired == 0 {
		t.Fatalf("the repairer's stats say it repaired nothing: %+v", st)
	}
	if b, err := os.ReadFile(shardFile(t, n, home, names[repairer], ref.Hash)); err != nil || storage.VerifyShard(ref, m.Params.LeafSize, b) != nil {
		t.Fatalf("the repairer's copy of the shard: %v", err)
	}
	info, err := sc.Info(ctx, put.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, pl := range info.Placement {
		if pl.Provider == victim {
			t.Fatalf("store info still places a shard on %s: %+v", names[victim], info.Placement)
		}
	}
	// The repaired shard is needed: two of the original holders down.
	var others []string
	for _, p := range put.Providers {
		if p != victim && len(others) < 2 {
			others = append(others, names[p])
		}
	}
	for _, name := range others {
		if err := n.StopStorage(name); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := storeclient.New(c).Get(ctx, put.ID, &buf, storeclient.GetOptions{Key: demo}); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("read with %v down after the repair: %d bytes, %v", others, buf.Len(), err)
	}
}

// shardFile is where provider name of the devnet at home keeps shard h.
func shardFile(t *testing.T, n *node.Node, home, name string, h storage.Hash) string {
	t.Helper()
	for _, s := range n.Config.Storage {
		if s.Name == name {
			dir := s.Dir
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(home, dir)
			}
			x := h.String()
			return filepath.Join(dir, "shards", x[:2], x[2:4], x)
		}
	}
	t.Fatalf("no storage provider %s", name)
	return ""
}
