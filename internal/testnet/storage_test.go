package testnet

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/storeclient"
)

func randomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStorageProvidersAsProcesses runs a testnet of one validator and five
// storage providers, each its own process, puts a file through them, and
// kills -9 two of them in the middle of the download: the download goes on
// from the others and returns the same bytes.
func TestStorageProvidersAsProcesses(t *testing.T) {
	t.Parallel()
	bin := stratusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "testnet")
	stratusCmd(ctx, t, bin, "testnet", "init", "--validators", "1", "--storage", "5", "--dir", dir, "--output", "json")
	t.Cleanup(func() {
		if _, err := Stop(dir); err != nil {
			t.Errorf("stop the testnet: %v", err)
		}
	})
	stratusCmd(ctx, t, bin, "testnet", "start", "--dir", dir, "--output", "json")
	sts := testnetStatus(ctx, t, bin, dir)
	var api string
	storage := map[string]NodeStatus{} // by provider address
	for _, s := range sts {
		switch s.Role {
		case "validator":
			api = s.API
		case "storage":
			storage[s.Address] = s
		}
	}
	if api == "" || len(storage) != 5 {
		t.Fatalf("testnet status: %+v; want a validator and 5 storage nodes", sts)
	}

	c := client.New(api)
	sc := storeclient.New(c)
	demo, err := identity.OpenKeystore(node.KeysDir(node.ClientHome(dir))).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the providers to be healthy in the market's eyes: registered
	// at genesis, their shard APIs up.
	eventually(ctx, t, "five storage providers registered", func() error {
		ps, err := c.Providers(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, p := range ps {
			if _, ok := storage[p.Operator.String()]; ok && p.Offers[0].Class == market.ClassStorage {
				n++
			}
		}
		if n != 5 {
			return fmt.Errorf("%d of 5 registered", n)
		}
		return nil
	})

	data := randomFile(t, filepath.Join(t.TempDir(), "f"), 24<<20+123)
	put, err := sc.Put(ctx, demo, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{})
	if err != nil {
		t.Fatalf("put: %v", err)
	}

	// Download slowly enough to kill providers in the middle: one segment
	// at a time, and when a third is written, kill -9 two of the five (m of
	// 3+2). The rest must come from the three left, whichever were being
	// read.
	victims := []NodeStatus{storage[put.Providers[0]], storage[put.Providers[2]]}
	var once sync.Once
	var buf bytes.Buffer
	got, err := sc.Get(ctx, put.ID, &buf, storeclient.GetOptions{Parallel: 1, Progress: func(done, total int64) {
		if done >= total/3 {
			once.Do(func() {
				for _, v := range victims {
					if err := syscall.Kill(v.PID, syscall.SIGKILL); err != nil {
						t.Errorf("kill -9 %s: %v", v.Name, err)
					}
				}
			})
		}
	}})
	if err != nil {
		t.Fatalf("download with %s and %s killed in the middle: %v", victims[0].Name, victims[1].Name, err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("download: %d bytes, not the file's %d", buf.Len(), len(data))
	}
	t.Logf("%d shards routed around", len(got.Faults))
	// After the kills, every segment needed all three survivors, so a read
	// that still succeeds read nothing from the dead.
	// They are really gone.
	eventually(ctx, t, "killed providers show down", func() error {
		for _, s := range testnetStatus(ctx, t, bin, dir) {
			if (s.Name == victims[0].Name || s.Name == victims[1].Name) && s.Up {
				return fmt.Errorf("%s is still up", s.Name)
			}
		}
		return nil
	})
}

// TestCrashDuringUpload kills -9 `stratus store put` in the middle of an
// upload: no object is committed, so no manifest points at missing shards,
// and a put of the same file afterwards succeeds.
func TestCrashDuringUpload(t *testing.T) {
	t.Parallel()
	bin := stratusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	home := filepath.Join(t.TempDir(), "devnet")
	d := startDevnet(t, bin, home)
	c := client.New(d.api)
	file := filepath.Join(t.TempDir(), "big.bin")
	randomFile(t, file, 96<<20)
	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		t.Fatal(err)
	}

	// Start the put and kill it once shards are on the providers' disks.
	cmd := exec.CommandContext(ctx, bin, "--home", home, "store", "put", file, "--from", "demo", "--output", "json")
	cmd.Env = childEnv()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	shardsOnDisk := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(home, "storage"), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.Contains(p, string(filepath.Separator)+"shards"+string(filepath.Separator)) && len(e.Name()) == 64 {
				n++
			}
			return nil
		})
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for shardsOnDisk() < 10 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no shards appeared within a minute; put said: %s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	stored := shardsOnDisk()
	if stored >= 5*24 { // 96 MiB is 24 segments of 5 shards
		t.Fatalf("the put finished (%d shards) before the kill; output %s", stored, out.String())
	}
	// Let a few blocks pass: no commit can be in flight.
	h, err := chainHeight(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	waitChainHeight(ctx, t, c, h+3)
	objs, err := c.Objects(ctx, demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Fatalf("after a killed put the ledger has objects %+v", objs)
	}

	// The same file again, to the end.
	res := stratusCmd(ctx, t, bin, "--home", home, "store", "put", file, "--from", "demo", "--output", "json")
	if !strings.Contains(string(res), `"id"`) {
		t.Fatalf("put after the crash printed %s", res)
	}
	objs, err = c.Objects(ctx, demo.Address().String())
	if err != nil || len(objs) != 1 {
		t.Fatalf("after the second put: %+v, %v", objs, err)
	}
}
