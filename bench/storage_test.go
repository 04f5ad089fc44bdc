package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/storage"
)

// TestStorageSmall runs the storage benchmark end to end on a small file:
// the download is the file, every figure is measured, and each ratio is
// its speed over the copy's.
func TestStorageSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const size = 5 << 20 // two segments: 4 MiB and 1 MiB
	res, err := Storage(ctx, StorageOptions{Size: size, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.DownloadFaults != 0 || res.Redundancy != "3+2" || res.Providers != 5 || res.ID == "" {
		t.Fatalf("result %+v: want a verified 3+2 download from 5 providers without faults", res)
	}
	p := storage.DefaultParams()
	var stored int64
	for i := range p.SegmentCount(size) {
		stored += p.ShardSize(p.SegmentLength(size, i)) * int64(p.Shards())
	}
	if res.StoredBytes != stored {
		t.Errorf("stored_bytes = %d, want %d (5 shards of each segment)", res.StoredBytes, stored)
	}
	for name, v := range map[string]float64{
		"upload": res.UploadMBps, "download": res.DownloadMBps, "copy": res.CopyMBps,
		"kernel copy": res.KernelCopyMBps, "copy after": res.CopyAfterMBps,
	} {
		if !(v > 0) {
			t.Errorf("%s speed = %v, want a measured speed", name, v)
		}
	}
	if res.UploadRatio != res.UploadMBps/res.CopyMBps || res.DownloadRatio != res.DownloadMBps/res.CopyMBps {
		t.Errorf("ratios %v, %v are not the speeds over the copy's", res.UploadRatio, res.DownloadRatio)
	}
}
