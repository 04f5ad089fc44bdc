package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
)

func newBenchAuditCmd(g *globals) *cobra.Command {
	var o bench.AuditOptions
	c := &cobra.Command{
		Use:   "audit [--leaves 1000000] [--duration 5s] [--clients N]",
		Short: "Audit log appends per second in block execution, and inclusion proofs served per second at a million entries",
		Long: `bench audit runs the ledger's state machine over a Pebble store in a
temporary folder, as a node does, without consensus or network. Its blocks
carry --txs transactions of a benchmark message that emits --events events
shaped like a transfer's, and it grows the audit log to --leaves entries,
timing each block from BeginBlock to End: append_per_s is the log entries
appended per second of that time (each entry is encoded, hashed, stored with
the perfect subtrees it completes, and folded into the app hash).

It then serves inclusion proofs of random entries over loopback HTTP, as
GET /v1/audit/proof/inclusion does (a Pebble snapshot and a query context
per request), to --clients clients for --duration, which verify every 16th
proof with transparency-dev/merkle: proof_per_s.

Last it measures how many RFC 6962 node hashes (SHA-256) one core does per
second, and prints ratio = append_per_s / that: the share of raw hashing
speed the log keeps while doing everything else an append needs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Leaves == 0 || o.Duration <= 0 || o.Clients <= 0 || o.EventsPerTx <= 0 || o.TxsPerBlock <= 0 {
				return errs.E(errs.Invalid, "--leaves, --duration, --clients, --events and --txs must be positive")
			}
			if o.EventsPerTx > 10_000 {
				return errs.E(errs.Invalid, "--events is at most 10000 per transaction")
			}
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			res, err := bench.Audit(o)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "log:          %d entries in %d blocks of %d\n", res.Leaves, res.Blocks, res.LeavesPerBlock)
				fmt.Fprintf(w, "append_per_s: %.0f  (block %.1f ms, commit %.1f ms, medians)\n", res.AppendPerS, res.BlockMs, res.CommitMs)
				fmt.Fprintf(w, "proof_per_s:  %.0f  (at %d entries, %d clients, p50 %.2f ms, p99 %.2f ms; %d of %d verified)\n", res.ProofPerS, res.Leaves, res.Clients, res.ProofP50Ms, res.ProofP99Ms, res.Verified, res.Proofs)
				fmt.Fprintf(w, "sha256_node_hash_per_s: %.0f  (one core)\n", res.HashPerS)
				fmt.Fprintf(w, "ratio:        %.3f  (append_per_s / sha256_node_hash_per_s)\n", res.Ratio)
			})
		},
	}
	c.Flags().Uint64Var(&o.Leaves, "leaves", 1_000_000, "grow the audit log to this many entries before serving proofs")
	c.Flags().DurationVar(&o.Duration, "duration", 5*time.Second, "how long proofs are served")
	c.Flags().IntVar(&o.Clients, "clients", 4, "concurrent HTTP clients asking for proofs")
	c.Flags().IntVar(&o.EventsPerTx, "events", 100, "events each transaction emits")
	c.Flags().IntVar(&o.TxsPerBlock, "txs", 100, "transactions per block")
	c.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the blocks that grow the log to this file")
	return c
}
