package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
)

func newBenchMarketCmd(g *globals) *cobra.Command {
	var o bench.MarketOptions
	c := &cobra.Command{
		Use:   "market [--leases 100000] [--touch 1000] [--cold]",
		Short: "Cost of a block that touches a fixed number of leases, with 1,000 and with --leases open leases in state",
		Long: `bench market runs the ledger's state machine with the market module over
Pebble stores in a temporary folder, as a node does, without consensus or
network. It builds two chains: one with 1,000 open leases and one with
--leases, opened and acknowledged --per-block at a time. It then times blocks
of --touch top-ups on distinct leases (BeginBlock, every transaction,
EndBlock and the synced commit), alternating between the two chains so that
a noisy machine slows both alike, and prints the median block times and
their ratio. Before that it reads each store through once, as a running
node has, so that both chains find their leases in Pebble's cache (--cold
skips it). Settlement is lazy when the ratio is near 1 (target: at most
1.5).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Leases <= bench.SmallLeases || o.Touch <= 0 || o.Touch > bench.SmallLeases || o.Blocks <= 0 || o.PerBlock <= 0 {
				return errs.E(errs.Invalid, "--leases must be over %d, --touch between 1 and %d, --blocks and --per-block positive", bench.SmallLeases, bench.SmallLeases)
			}
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			res, err := bench.Market(o)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "setup:          %d leases opened and acknowledged in %.1fs (%.0f/s), store %.0f MiB\n", res.Leases, res.SetupS, res.SetupLeasesPerS, res.StoreMiB)
				fmt.Fprintf(w, "block:          %d top-ups on distinct leases, median of %d blocks\n", res.Touch, res.Blocks)
				fmt.Fprintf(w, "block_ms_1k:    %.1f  (%d leases; commit %.1f)\n", res.BlockMs1k, res.SmallLeases, res.CommitMs1k)
				fmt.Fprintf(w, "block_ms_100k:  %.1f  (%d leases; commit %.1f)\n", res.BlockMs100k, res.Leases, res.CommitMs100k)
				fmt.Fprintf(w, "ratio:          %.2f  (target <= 1.5)\n", res.Ratio)
			})
		},
	}
	c.Flags().IntVar(&o.Leases, "leases", 100_000, "open leases in the large state")
	c.Flags().IntVar(&o.Touch, "touch", 1000, "leases each measured block tops up")
	c.Flags().IntVar(&o.Blocks, "blocks", 7, "measured blocks in each state (the median counts)")
	c.Flags().IntVar(&o.PerBlock, "per-block", 5000, "leases each setup block opens")
	c.Flags().BoolVar(&o.Cold, "cold", false, "measure without reading each store through first, so the large chain's top-ups mostly miss Pebble's block cache")
	c.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured blocks to this file, labelled state=small (1,000 leases) and state=large (go tool pprof -tagfocus state=large)")
	return c
}
