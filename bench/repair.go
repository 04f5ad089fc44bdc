package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// RepairOptions configure the repair benchmark.
type RepairOptions struct {
	// Size of the random file, in bytes.
	Size int64
	// Dir holds the devnet and the files; empty means a new temporary
	// folder, removed afterwards.
	Dir string
	// Timeout bounds the wait for the repairs; 0 means 15 minutes.
	Timeout time.Duration
	Logger  *slog.Logger
	// Progress, if set, receives a line now and then.
	Progress func(format string, args ...any)
}

// RepairProviders is how many storage providers the repair benchmark's
// devnet runs: 3+2 needs five, and a sixth is left to repair onto.
const RepairProviders = 6

// repairEpochSeconds is the benchmark devnet's market epoch: short, so that
// a provider taken away is found out in seconds, not minutes.
const repairEpochSeconds = 2

// RepairResult is what `stratus bench repair` prints.
type RepairResult struct {
	SizeBytes  int64  `json:"size_bytes"`
	Redundancy string `json:"redundancy"`
	Providers  int    `json:"providers"`
	ID         string `json:"id"`
	// Stopped is the provider taken away (its storage service stopped).
	Stopped string `json:"stopped"`
	// RepairedShards and RepairedBytes are the shards of the object that
	// were rebuilt and committed, and their bytes.
	RepairedShards int   `json:"repaired_shards"`
	RepairedBytes  int64 `json:"repaired_bytes"`
	// RepairS runs from the first repair's assignment to the block of the
	// last repair's commit, both ledger times; DetectS from the stop to
	// the first assignment (the ledger finding the provider gone).
	RepairS    float64 `json:"repair_s"`
	DetectS    float64 `json:"detect_s"`
	RepairMBps float64 `json:"repair_mb_per_s"`
	UploadS    float64 `json:"upload_s"`
	UploadMBps float64 `json:"upload_mb_per_s"`
	// Ratio is RepairMBps / UploadMBps; the target is at least 0.5.
	Ratio float64 `json:"ratio"`
	// ProofVerifyPerS is storage proofs verified per second as block
	// execution verifies them; ProofVerifyWhat says how it was measured.
	ProofVerifyPerS float64 `json:"proof_verify_per_s"`
	ProofVerifyWhat string  `json:"proof_verify_measured"`
	// Verified says the object read back byte for byte, with the stopped
	// provider still down and another stopped too, so that the rebuilt
	// shards were needed.
	Verified bool `json:"verified_sha256"`
	Cores    int  `json:"cores"`
}

// Repair runs the repair benchmark: a devnet with six storage providers in
// a folder, a random file of Size bytes put with 3+2 coding (timed: the
// upload speed), one of the providers holding its shards stopped for good,
// and the ledger and the providers' repair workers left to rebuild every
// shard it held on the sixth. The repair speed is the shard bytes rebuilt
// and committed over the ledger time from the first assignment to the last
// commit.
func Repair(ctx context.Context, o RepairOptions) (RepairResult, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
	}
	res := RepairResult{SizeBytes: o.Size, Cores: runtime.GOMAXPROCS(0)}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "stratus-bench-repair-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	n, demo, err := startDevnet(ctx, dir, RepairGenesis(), o.Logger)
	if err != nil {
		return res, err
	}
	defer n.Close()
	c := client.New(n.APIURL())
	sc := storeclient.New(c)
	if err := waitProviders(ctx, c); err != nil {
		return res, err
	}

	o.Progress("measuring storage proof verification")
	res.ProofVerifyPerS, res.ProofVerifyWhat = ProofVerifyRate(2 * time.Second)

	src := filepath.Join(dir, "random.bin")
	o.Progress("writing a %d-byte random file", o.Size)
	sum, err := writeRandom(src, o.Size)
	if err != nil {
		return res, err
	}
	o.Progress("uploading")
	in, err := os.Open(src)
	if err != nil {
		return res, err
	}
	defer in.Close()
	start := time.Now()
	put, err := sc.Put(ctx, demo, in, o.Size, storeclient.PutOptions{K: 3, M: 2})
	if err != nil {
		return res, err
	}
	res.UploadS = time.Since(start).Seconds()
	res.UploadMBps = float64(o.Size) / mb / res.UploadS
	res.ID, res.Redundancy, res.Providers = put.ID, put.Params.Redundancy(), RepairProviders

	names := map[string]string{} // address -> name
	for _, s := range n.StorageStates() {
		names[s.Address] = s.Name
	}
	victim := put.Providers[0]
	res.Stopped = names[victim]
	st, err := c.Status(ctx)
	if err != nil {
		return res, err
	}
	fromHeight := st.Height
	o.Progress("stopping %s (%s) for good", res.Stopped, victim)
	stoppedAt := time.Now()
	if err := n.StopStorage(res.Stopped); err != nil {
		return res, err
	}

	// Wait until no shard of the object is placed on the stopped provider
	// and no repair of it is left, noting the first assignment.
	o.Progress("waiting for the repairs")
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var firstAssigned int64
	for {
		jobs, err := c.Repairs(wctx, "")
		if err != nil && wctx.Err() != nil {
			return res, fmt.Errorf("the repairs did not finish within %s", o.Timeout)
		}
		left := 0
		for _, j := range jobs {
			if j.Object != put.ID {
				continue
			}
			left++
			if j.AssignedMs > 0 && (firstAssigned == 0 || j.AssignedMs < firstAssigned) {
				firstAssigned = j.AssignedMs
			}
		}
		if err == nil && left == 0 && firstAssigned > 0 {
			_, m, merr := sc.Object(wctx, put.ID)
			if merr == nil && placedOn(m, victim) == 0 {
				break
			}
		}
		select {
		case <-wctx.Done():
			return res, fmt.Errorf("the repairs did not finish within %s (%d left)", o.Timeout, left)
		case <-time.After(200 * time.Millisecond):
		}
	}
	res.DetectS = time.UnixMilli(firstAssigned).Sub(stoppedAt).Seconds()

	// The commits, from the blocks since the stop.
	_, m, err := sc.Object(ctx, put.ID)
	if err != nil {
		return res, err
	}
	last, shards, nbytes, err := repairCommits(ctx, c, put.ID, m, fromHeight)
	if err != nil {
		return res, err
	}
	res.RepairedShards, res.RepairedBytes = shards, nbytes
	res.RepairS = last.Sub(time.UnixMilli(firstAssigned)).Seconds()
	if res.RepairS > 0 {
		res.RepairMBps = float64(nbytes) / mb / res.RepairS
	}
	if res.UploadMBps > 0 {
		res.Ratio = res.RepairMBps / res.UploadMBps
	}

	// With the stopped provider still down and one more stopped, every
	// segment needs its rebuilt shard.
	other := names[put.Providers[1]]
	o.Progress("reading it back with %s and %s down", res.Stopped, other)
	if err := n.StopStorage(other); err != nil {
		return res, err
	}
	dst := filepath.Join(dir, "download.bin")
	if _, err := getToFile(ctx, sc, put.ID, dst); err != nil {
		return res, fmt.Errorf("reading the repaired object back: %w", err)
	}
	dsum, err := fileSHA256(dst)
	if err != nil {
		return res, err
	}
	res.Verified = bytes.Equal(dsum, sum)
	if !res.Verified {
		return res, fmt.Errorf("the repaired object reads back different from the file")
	}
	return res, nil
}

// RepairGenesis is the genesis of the repair benchmark's devnet:
// RepairProviders storage providers, short market and proof epochs, so
// that the probes find a provider down within seconds, and a provider
// found down two probing epochs in a row lost.
func RepairGenesis() node.ModuleGenesis {
	mg := market.DefaultGenesis()
	mg.Params.EpochSeconds = repairEpochSeconds
	og := objects.DefaultGenesis()
	og.Params.ProofEpochSeconds = repairEpochSeconds
	og.Params.ProofWindowSeconds = 3 * repairEpochSeconds
	og.Params.DownAfterEpochs = 2
	og.Params.RepairDeadlineSeconds = 120
	return node.ModuleGenesis{Market: mg, Functions: functions.DefaultGenesis(), Objects: og, Storage: RepairProviders}
}

// placedOn counts the shards m places on provider.
func placedOn(m *storage.Manifest, provider string) int {
	n := 0
	for _, seg := range m.Segments {
		for _, sh := range seg.Shards {
			if sh.Provider == provider {
				n++
			}
		}
	}
	return n
}

// repairCommits scans the blocks from height from to the latest for the
// committed objects/repair transactions of object id, and returns the time
// of the last one's block, how many there were and their shards' bytes.
func repairCommits(ctx context.Context, c *client.Client, id string, m *storage.Manifest, from int64) (time.Time, int, int64, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return time.Time{}, 0, 0, err
	}
	var (
		last   time.Time
		shards int
		total  int64
	)
	for h := from; h <= st.Height; h++ {
		b, err := c.Block(ctx, h)
		if err != nil {
			return last, shards, total, err
		}
		for _, th := range b.TxHashes {
			tx, err := c.Tx(ctx, th)
			if err != nil {
				return last, shards, total, err
			}
			if tx.Type != (&objects.Repair{}).Type() || tx.Code != ledger.CodeOK {
				continue
			}
			var r objects.Repair
			if json.Unmarshal(tx.Msg, &r) != nil || r.ID != id {
				continue
			}
			if int(r.Segment) < len(m.Segments) && int(r.Shard) < len(m.Segments[r.Segment].Shards) {
				total += m.Segments[r.Segment].Shards[r.Shard].Size
			}
			shards++
			if b.Time.After(last) {
				last = b.Time
			}
		}
	}
	if shards == 0 {
		return last, 0, 0, fmt.Errorf("no objects/repair transaction of %s in blocks %d to %d", id, from, st.Height)
	}
	return last, shards, total, nil
}

// ProofVerifyRate measures storage proofs verified per second: leaf
// challenges of a 1.4 MiB shard (a 4 MiB segment's shard at 3+2), 4 KiB
// leaves, each verified with storage.VerifyLeaf as objects/prove's handler
// verifies it, on all cores, for about d. It returns the rate and what was
// measured.
func ProofVerifyRate(d time.Duration) (float64, string) {
	p := storage.DefaultParams()
	shard := make([]byte, p.ShardSize(storage.DefaultSegmentSize))
	for i := range shard {
		shard[i] = byte(i * 7)
	}
	h := storage.ShardHash(shard, p.LeafSize)
	n := int(storage.LeafCount(int64(len(shard)), p.LeafSize))
	type proof struct {
		i    int
		leaf []byte
		path [][]byte
	}
	var proofs []proof
	for i := 0; i < n; i += max(1, n/64) {
		leaf, path, err := storage.ShardLeafProof(shard, i, p.LeafSize)
		if err != nil {
			panic(err)
		}
		proofs = append(proofs, proof{i, leaf, path})
	}
	done := make(chan int64)
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		go func() {
			var k int64
			for time.Since(start) < d {
				for _, pr := range proofs {
					if err := storage.VerifyLeaf(h, int64(len(shard)), p.LeafSize, pr.i, pr.leaf, pr.path); err != nil {
						panic(err)
					}
				}
				k += int64(len(proofs))
			}
			done <- k
		}()
	}
	var total int64
	for range runtime.GOMAXPROCS(0) {
		total += <-done
	}
	return float64(total) / time.Since(start).Seconds(), fmt.Sprintf("storage.VerifyLeaf of 4 KiB leaves of a %d-byte shard (the check objects/prove's handler runs), on all cores; not whole transactions", len(shard))
}
