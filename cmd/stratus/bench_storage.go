package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/market"
)

func newBenchStorageCmd(g *globals) *cobra.Command {
	var (
		o    bench.StorageOptions
		size string
	)
	c := &cobra.Command{
		Use:   "storage [--size 256MiB]",
		Short: "Upload and download speed of a random file through a devnet's storage providers, against a plain file copy",
		Long: `bench storage starts a devnet with its five storage providers in a temporary
folder, writes a random file of --size there, and times three things on the
same disk: a plain copy of the file (read and write through a 1 MiB
buffer, then fsync: what a program that copies bytes does), a put of it (3+2
erasure coding, leases, parallel signed uploads, fsync on every provider,
the manifest committed), and a get of it back to a file (parallel verified
reads, fsync). It prints the speeds in MB/s (10^6 bytes) and the put and
get speeds divided by the copy speed. Targets on a 2-core machine:
upload_ratio at least 0.25, download_ratio at least 0.4.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseQuantity(size, market.ClassStorage)
			if err != nil {
				return err
			}
			if n == 0 || n > 64<<30 {
				return errs.E(errs.Invalid, "--size must be between 1B and 64GiB, not %s", size)
			}
			o.Size = int64(n)
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			res, err := bench.Storage(cmd.Context(), o)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "object:             %s (%d bytes, %s on %d providers, %d shard bytes stored)\n", res.ID, res.SizeBytes, res.Redundancy, res.Providers, res.StoredBytes)
				fmt.Fprintf(w, "copy_mb_per_s:      %.1f  (%.2fs; read and write through a buffer, then fsync)\n", res.CopyMBps, res.CopyS)
				fmt.Fprintf(w, "kernel_copy:        %.1f MB/s  (%.2fs; copy_file_range, as cp does; not the limit)\n", res.KernelCopyMBps, res.KernelCopyS)
				fmt.Fprintf(w, "copy_after:         %.1f MB/s  (%.2fs; the same copy after the download; not the limit)\n", res.CopyAfterMBps, res.CopyAfterS)
				fmt.Fprintf(w, "upload_mb_per_s:    %.1f  (%.2fs)\n", res.UploadMBps, res.UploadS)
				fmt.Fprintf(w, "download_mb_per_s:  %.1f  (%.2fs, %d shards routed around)\n", res.DownloadMBps, res.DownloadS, res.DownloadFaults)
				fmt.Fprintf(w, "upload_ratio:       %.3f  (target >= 0.25)\n", res.UploadRatio)
				fmt.Fprintf(w, "download_ratio:     %.3f  (target >= 0.4)\n", res.DownloadRatio)
			})
		},
	}
	c.Flags().StringVar(&size, "size", "256MiB", "size of the random file")
	c.Flags().StringVar(&o.Dir, "dir", "", "folder for the devnet and the files (default: a new temporary folder, removed afterwards)")
	c.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the put and the get to this file, labelled phase=upload and phase=download (go tool pprof -tagfocus phase=upload)")
	return c
}
