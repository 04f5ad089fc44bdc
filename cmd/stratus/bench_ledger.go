package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
)

func newBenchLedgerCmd(g *globals) *cobra.Command {
	var o bench.LedgerOptions
	var cpuProfile, logLevel string
	c := &cobra.Command{
		Use:   "ledger [--duration 20s] [--senders N]",
		Short: "Finalized transfers per second on a fresh devnet, against this machine's ed25519 verification rate",
		Long: `bench ledger starts its own devnet in a temporary folder, funds --senders
accounts, and has each stream signed transfers through the REST API, waiting
for every commit. It prints finalized transactions per second, p50 and p99
latency from submission to commit, the ed25519 verifications per second of
this machine on all cores (measured in the same run), and their ratio.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Duration <= 0 || o.Senders <= 0 {
				return errs.E(errs.Invalid, "--duration and --senders must be positive")
			}
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			if logLevel != "" {
				o.Logger = newLogger(logLevel)
			}
			stop, err := bench.StartCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			res, err := bench.Ledger(cmd.Context(), o)
			stop()
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "finalized transfers:   %d in %.0fs over %d blocks (%d failed)\n", res.Committed, res.DurationS, res.Blocks, res.Failed)
				fmt.Fprintf(w, "tx_per_s:              %.0f\n", res.TxPerS)
				fmt.Fprintf(w, "p50_ms:                %.1f\n", res.P50Ms)
				fmt.Fprintf(w, "p99_ms:                %.1f\n", res.P99Ms)
				fmt.Fprintf(w, "verify_limit_per_s:    %.0f  (ed25519, %d cores)\n", res.VerifyLimit, res.Cores)
				fmt.Fprintf(w, "ratio:                 %.3f  (target >= 0.15)\n", res.Ratio)
			})
		},
	}
	c.Flags().DurationVar(&o.Duration, "duration", 20*time.Second, "how long to stream transfers")
	c.Flags().IntVar(&o.Senders, "senders", 3000, "accounts streaming transfers, one in flight each")
	c.Flags().StringVar(&logLevel, "log-level", "", "show the devnet's logs at this level (debug shows each block's timings)")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	return c
}
