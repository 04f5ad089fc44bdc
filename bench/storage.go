package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/storeclient"
)

// StorageOptions configure the storage benchmark.
type StorageOptions struct {
	// Size of the random file, in bytes.
	Size int64
	// Dir holds the devnet and the files; empty means a new temporary
	// folder, removed afterwards.
	Dir string
	// CPUProfile, if set, receives a CPU profile of the upload and the
	// download, labelled phase=upload and phase=download.
	CPUProfile string
	Logger     *slog.Logger
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
}

// StorageResult is what `stratus bench storage` prints.
type StorageResult struct {
	SizeBytes     int64   `json:"size_bytes"`
	Redundancy    string  `json:"redundancy"`
	Providers     int     `json:"providers"`
	UploadMBps    float64 `json:"upload_mb_per_s"`
	DownloadMBps  float64 `json:"download_mb_per_s"`
	CopyMBps      float64 `json:"copy_mb_per_s"`
	UploadRatio   float64 `json:"upload_ratio"`
	DownloadRatio float64 `json:"download_ratio"`
	UploadS       float64 `json:"upload_s"`
	DownloadS     float64 `json:"download_s"`
	CopyS         float64 `json:"copy_s"`
	// The same copy done by the kernel (copy_file_range, as cp does), for
	// comparison: the bytes never pass through a program.
	KernelCopyMBps float64 `json:"kernel_copy_mb_per_s"`
	KernelCopyS    float64 `json:"kernel_copy_s"`
	// The limit's copy done once more after the download, for comparison:
	// how fast the disk writes once the put's shards are on it.
	CopyAfterMBps  float64 `json:"copy_after_mb_per_s"`
	CopyAfterS     float64 `json:"copy_after_s"`
	ID             string  `json:"id"`
	Cores          int     `json:"cores"`
	StoredBytes    int64   `json:"stored_bytes"`    // shard bytes on the providers' disks
	DownloadFaults int     `json:"download_faults"` // shards routed around (0 on a healthy devnet)
	Verified       bool    `json:"verified_sha256"` // the download's SHA-256 equals the file's
}

const mb = 1e6

// Storage runs the storage benchmark: a devnet with its storage providers
// in a folder, a random file of Size bytes put on them and got back through
// package storeclient, and a plain copy of the same file on the same disk
// (read, write, fsync), which is the limit the two are divided by.
func Storage(ctx context.Context, o StorageOptions) (StorageResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	res := StorageResult{SizeBytes: o.Size, Cores: runtime.GOMAXPROCS(0)}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "stratus-bench-storage-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	n, demo, err := startDevnet(ctx, dir, node.DefaultModuleGenesis(), o.Logger)
	if err != nil {
		return res, err
	}
	defer n.Close()

	src := filepath.Join(dir, "random.bin")
	o.Progress("writing a %d-byte random file", o.Size)
	sum, err := writeRandom(src, o.Size)
	if err != nil {
		return res, err
	}

	// The copies are quick and noisy (writeback of earlier files can slow
	// one down threefold), so each is the median of three.
	o.Progress("copying it three times (the limit)")
	for _, kernel := range []bool{false, true} {
		var times []float64
		for range 3 {
			start := time.Now()
			if err := copyFile(src, filepath.Join(dir, "copy.bin"), kernel); err != nil {
				return res, err
			}
			times = append(times, time.Since(start).Seconds())
			os.Remove(filepath.Join(dir, "copy.bin"))
		}
		slices.Sort(times)
		if kernel {
			res.KernelCopyS = times[1]
		} else {
			res.CopyS = times[1]
		}
	}

	sc := storeclient.New(client.New(n.APIURL()))
	// The providers' lease agents acknowledge within a block or two; wait
	// for the chain to be up so the put measures storage, not start-up.
	if err := waitProviders(ctx, sc.API()); err != nil {
		return res, err
	}
	stopProfile, err := StartCPUProfile(o.CPUProfile)
	if err != nil {
		return res, err
	}
	defer stopProfile()

	o.Progress("uploading")
	in, err := os.Open(src)
	if err != nil {
		return res, err
	}
	defer in.Close()
	var put *storeclient.PutResult
	start := time.Now()
	pprof.Do(ctx, pprof.Labels("phase", "upload"), func(ctx context.Context) {
		put, err = sc.Put(ctx, demo, in, o.Size, storeclient.PutOptions{})
	})
	if err != nil {
		return res, err
	}
	res.UploadS = time.Since(start).Seconds()
	res.ID, res.Redundancy, res.Providers = put.ID, put.Params.Redundancy(), len(put.Providers)
	if info, err := sc.Info(ctx, put.ID); err == nil {
		for _, p := range info.Placement {
			res.StoredBytes += p.Bytes
		}
	}

	o.Progress("downloading %s", put.ID)
	dst := filepath.Join(dir, "download.bin")
	start = time.Now()
	var got *storeclient.GetResult
	pprof.Do(ctx, pprof.Labels("phase", "download"), func(ctx context.Context) {
		got, err = getToFile(ctx, sc, put.ID, dst)
	})
	if err != nil {
		return res, err
	}
	res.DownloadS = time.Since(start).Seconds()
	stopProfile()
	res.DownloadFaults = len(got.Faults)
	dsum, err := fileSHA256(dst)
	if err != nil {
		return res, err
	}
	res.Verified = bytes.Equal(dsum, sum)
	if !res.Verified {
		return res, fmt.Errorf("the downloaded file differs from the uploaded one")
	}
	// Once more after the download (before, it would change what the
	// download meets): the disk is often slower by then.
	os.Remove(dst)
	start = time.Now()
	if err := copyFile(src, filepath.Join(dir, "copy.bin"), false); err != nil {
		return res, err
	}
	res.CopyAfterS = time.Since(start).Seconds()
	os.Remove(filepath.Join(dir, "copy.bin"))

	size := float64(o.Size)
	res.CopyMBps = size / mb / res.CopyS
	res.KernelCopyMBps = size / mb / res.KernelCopyS
	res.CopyAfterMBps = size / mb / res.CopyAfterS
	res.UploadMBps = size / mb / res.UploadS
	res.DownloadMBps = size / mb / res.DownloadS
	res.UploadRatio = res.UploadMBps / res.CopyMBps
	res.DownloadRatio = res.DownloadMBps / res.CopyMBps
	return res, nil
}

// waitProviders waits until the devnet's storage providers are registered
// and the chain makes blocks.
func waitProviders(ctx context.Context, c *client.Client) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Height >= 2 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the devnet made no blocks within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeRandom(path string, size int64) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{'s', 't', 'r', 'a', 't', 'u', 's'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		rng.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return nil, err
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return h.Sum(nil), f.Close()
}

// copyFile copies src to dst and fsyncs dst, as a program that reads and
// writes files does: through a 1 MiB buffer in user space. With kernel,
// io.Copy's own path is taken instead, which on Linux is
// copy_file_range: the kernel copies without the bytes ever reaching the
// program (what cp does).
func copyFile(src, dst string, kernel bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if kernel {
		_, err = io.Copy(out, in)
	} else {
		// The struct wrappers hide ReadFrom and WriteTo.
		_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, make([]byte, 1<<20))
	}
	if err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

func getToFile(ctx context.Context, sc *storeclient.Client, id, path string) (*storeclient.GetResult, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	got, err := sc.Get(ctx, id, f, storeclient.GetOptions{})
	if err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return got, f.Close()
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// startDevnet lays out a devnet home under dir with the modules' genesis
// sections mods, on free loopback ports, starts it, and returns it with its
// funded demo key. The caller closes the node.
func startDevnet(ctx context.Context, dir string, mods node.ModuleGenesis, log *slog.Logger) (*node.Node, *identity.Key, error) {
	home := filepath.Join(dir, "devnet")
	cfg := node.DefaultConfig()
	cfg.API.Listen, cfg.Consensus.RPCListen, cfg.Consensus.P2PListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if _, err := node.InitDevnetModules(home, cfg, "", mods); err != nil {
		return nil, nil, err
	}
	// The home's config has the storage providers the init laid out.
	cfg, err := node.LoadConfig(home)
	if err != nil {
		return nil, nil, err
	}
	n, err := node.Start(ctx, home, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		n.Close()
		return nil, nil, err
	}
	return n, demo, nil
}
