package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/market"
)

func newBenchRepairCmd(g *globals) *cobra.Command {
	var (
		o        bench.RepairOptions
		size     string
		logLevel string
	)
	c := &cobra.Command{
		Use:   "repair [--size 256MiB]",
		Short: "Speed of rebuilding a lost provider's shards on a devnet, against the upload of the same file",
		Long: `bench repair starts a devnet with six storage providers (2-second market
epochs) in a temporary folder, puts a random file of --size on five of them
with 3+2 coding, then stops the storage service of one of them for good.
The ledger finds it gone and assigns each shard it held to the sixth
provider, whose repair worker fetches k verified shards of each segment
from the others, rebuilds the lost one, stores it and commits
objects/repair. It prints repair_mb_per_s (shard bytes rebuilt and committed
per second, from the first assignment to the block of the last commit,
both ledger times), upload_mb_per_s (the put of the same file, in the same
run) and their ratio (target at least 0.5), and proof_verify_per_s, storage
proofs verified per second (storage.VerifyLeaf, as objects/prove's handler
runs it). Finally it reads the object back with a second provider down too.`,
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
			if logLevel != "" {
				o.Logger = newLogger(logLevel)
			}
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			res, err := bench.Repair(cmd.Context(), o)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "object:              %s (%d bytes, %s on %d providers)\n", res.ID, res.SizeBytes, res.Redundancy, res.Providers)
				fmt.Fprintf(w, "stopped:             %s (found gone %.1fs later)\n", res.Stopped, res.DetectS)
				fmt.Fprintf(w, "repaired:            %d shards, %d bytes in %.2fs\n", res.RepairedShards, res.RepairedBytes, res.RepairS)
				fmt.Fprintf(w, "repair_mb_per_s:     %.1f  (first assignment to last commit, ledger time)\n", res.RepairMBps)
				fmt.Fprintf(w, "upload_mb_per_s:     %.1f  (%.2fs)\n", res.UploadMBps, res.UploadS)
				fmt.Fprintf(w, "ratio:               %.3f  (target >= 0.5)\n", res.Ratio)
				fmt.Fprintf(w, "proof_verify_per_s:  %.0f  (%s)\n", res.ProofVerifyPerS, res.ProofVerifyWhat)
				fmt.Fprintf(w, "read back:           %v (sha256, with two providers down)\n", res.Verified)
			})
		},
	}
	c.Flags().StringVar(&size, "size", "256MiB", "size of the random file")
	c.Flags().StringVar(&o.Dir, "dir", "", "folder for the devnet and the files (default: a new temporary folder, removed afterwards)")
	c.Flags().StringVar(&logLevel, "log-level", "", "show the devnet's logs at this level (info shows each repair's timings)")
	c.Flags().DurationVar(&o.Timeout, "timeout", 0, "how long to wait for the repairs (default 15m)")
	return c
}
