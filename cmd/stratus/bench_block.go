package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
)

func newBenchBlockCmd(g *globals) *cobra.Command {
	o := bench.BlockOptions{Sizes: slices.Clone(bench.DefaultBlockSizes)}
	c := &cobra.Command{
		Use:   "block [--sizes 1000,4000,16000] [--rounds 3]",
		Short: "Execution time per transaction of blocks of market/open_lease of growing size",
		Long: `bench block runs the ledger's state machine with the market module over
Pebble stores in a temporary folder, as a node does, without consensus or
network: one chain per block size, each from the same genesis (1,000 funded
consumers; 8 providers, each offering 1 PiB of storage at its own fixed
price). It signs, ahead of time, --rounds blocks of each of --sizes
market/open_lease transactions (1 GiB each) that name no provider, so the
market chooses one for each. It then executes them, rotating the order of the
sizes each round so that a noisy machine slows all alike, and times
BeginBlock, every transaction and EndBlock (the synced commit is timed
apart). It prints the median time per transaction of each size and ratio,
the largest size's over the smallest's: block work is linear in its
transactions when the ratio is near 1 (target: at most 1.3).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Sizes) < 2 || !slices.IsSorted(o.Sizes) || o.Sizes[0] <= 0 || len(slices.Compact(slices.Clone(o.Sizes))) != len(o.Sizes) || o.Rounds <= 0 {
				return errs.E(errs.Invalid, "--sizes must list at least two distinct positive sizes in ascending order, and --rounds must be positive")
			}
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			res, err := bench.Block(o)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "genesis:  %d consumers, %d providers (1 PiB of storage each, fixed prices)\n", res.Consumers, res.Providers)
				fmt.Fprintf(w, "blocks:   market/open_lease of 1 GiB, provider chosen by the market; median of %d blocks per size\n", res.Rounds)
				for _, b := range res.Blocks {
					fmt.Fprintf(w, "txs %-6d per_tx_us: %8.1f  (block %.1f ms, commit %.1f ms, %d/%d succeeded)\n", b.Txs, b.PerTxUs, b.ExecMs, b.CommitMs, b.OK, b.Txs*res.Rounds)
				}
				first, last := res.Blocks[0].Txs, res.Blocks[len(res.Blocks)-1].Txs
				fmt.Fprintf(w, "ratio:    %.2f  (per transaction at %d / at %d; target <= 1.3)\n", res.Ratio, last, first)
			})
		},
	}
	c.Flags().IntSliceVar(&o.Sizes, "sizes", o.Sizes, "transactions per measured block, ascending; the ratio compares the last with the first")
	c.Flags().IntVar(&o.Rounds, "rounds", 3, "measured blocks of each size (the median counts)")
	c.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured blocks to this file, labelled block=txs<size> (go tool pprof -tagfocus block=txs16000)")
	return c
}
