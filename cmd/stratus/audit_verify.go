package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/audit/bundle"
	"github.com/stratus-cloud/stratus/errs"
)

func newAuditProofCmd(g *globals) *cobra.Command {
	var tx, out string
	var index int64
	var wait time.Duration
	c := &cobra.Command{
		Use:   "proof (--tx HASH | --index N) -o FILE",
		Short: "Write an audit log entry with its proof, checkpoint, signed header and validators to a bundle file",
		Long: `proof asks the node for one entry of the audit log (a transaction by its
hash, or any entry by its index), its inclusion proof to the latest
checkpoint, and that checkpoint with the header that carries its app hash,
the validators' commit and the validator set, and writes them to FILE as
one self-contained bundle. stratus audit verify checks it with no network.

An entry of the newest block is in no checkpoint until the next block:
proof waits for it (--wait). Nothing in the bundle is trusted
until audit verify checks it. See docs/audit.md "Offline verification".`,
		Example: `  stratus audit proof --tx 3f2a... -o transfer.json
  stratus audit proof --index 0 -o genesis.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			byIndex := cmd.Flags().Changed("index")
			switch {
			case tx != "" && byIndex:
				return errs.E(errs.Invalid, "give either --tx or --index, not both")
			case tx == "" && !byIndex:
				return errs.E(errs.Invalid, "say which entry to prove: --tx HASH or --index N")
			case byIndex && index < 0:
				return errs.E(errs.Invalid, "--index %d: entries are numbered from 0", index)
			case out == "":
				return errs.E(errs.Invalid, "say where to write the bundle: -o FILE")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			var b bundle.Bundle
			var err error
			if tx != "" {
				b, err = g.client().AuditTxBundle(ctx, strings.ToLower(strings.TrimPrefix(tx, "0x")))
			} else {
				b, err = g.client().AuditBundle(ctx, uint64(index))
			}
			if err != nil {
				return err
			}
			if err := writeJSONFile(out, b); err != nil {
				return err
			}
			res := proofResult{File: out, Index: b.Entry.Index, Height: b.Checkpoint.Height, Size: b.Checkpoint.Size, Entry: b.Entry.Decoded}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "wrote entry %d (%s), proved to the checkpoint of block %d (%d entries), to %s\n", res.Index, entryLine(res.Entry), res.Height, res.Size, out)
			})
		},
	}
	c.Flags().StringVar(&tx, "tx", "", "the hash of a transaction (hex): prove its entry")
	c.Flags().Int64Var(&index, "index", 0, "the index of an entry, from 0")
	c.Flags().StringVarP(&out, "out", "o", "", "the bundle file to write")
	c.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for a checkpoint that covers the entry")
	return c
}

type proofResult struct {
	File   string         `json:"file"`
	Index  uint64         `json:"index"`
	Height int64          `json:"height"`
	Size   uint64         `json:"size"`
	Entry  bundle.Summary `json:"entry"`
}

func newAuditValidatorsCmd(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "validators -o FILE",
		Short: "Write the validator set that signs the audit log's checkpoints to a file to trust",
		Long: `validators fetches the latest checkpoint, checks that its validator set
signed it, and writes that set to FILE: the one thing audit verify and
audit watch trust. It is only as good as the node it came from, so compare
the hash it prints with the one other operators or nodes give you before
trusting it. When the chain's validators change, export the set again.`,
		Example: `  stratus audit validators -o validators.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errs.E(errs.Invalid, "say where to write the validator set: -o FILE")
			}
			cp, err := g.client().AuditCheckpoint(cmd.Context())
			if err != nil {
				return err
			}
			f, err := bundle.ExportValidators(cp)
			if err != nil {
				return errs.E(errs.Invalid, "%v: ask another node", err)
			}
			tr, err := bundle.ParseValidators(mustMarshal(f))
			if err != nil {
				return err
			}
			if err := writeJSONFile(out, f); err != nil {
				return err
			}
			res := validatorsResult{File: out, ChainID: f.ChainID, Height: f.Height, Hash: f.Hash, Validators: tr.Set.Size(), Power: tr.Set.TotalVotingPower()}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "wrote the validator set of %s at block %d to %s: %s, voting power %d\nhash %s: compare it with other sources before you trust the file\n",
					res.ChainID, res.Height, out, bundle.Plural(res.Validators, "validator"), res.Power, res.Hash)
			})
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "the validator set file to write")
	return c
}

type validatorsResult struct {
	File       string `json:"file"`
	ChainID    string `json:"chain_id"`
	Height     int64  `json:"height"`
	Hash       string `json:"hash"`
	Validators int    `json:"validators"`
	Power      int64  `json:"voting_power"`
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var vals string
	c := &cobra.Command{
		Use:   "verify BUNDLE --validators FILE",
		Short: "Check a proof bundle against a trusted validator set, with no network",
		Long: `verify checks a bundle that audit proof wrote, using nothing but the bundle
and the validator set in FILE (audit validators), in this order:

  1 format             the bundle is v1; CometBFT reads its header, commit, validators
  2 validators         the bundle's validator set is the trusted one, and the header's
  3 commit signatures  more than 2/3 of the voting power signed the header
  4 app hash           the signed app hash commits to the checkpoint's size and root
  5 note               the checkpoint's note names the same chain, size and root
  6 inclusion          the entry is in the log with that root
  7 entry              the entry decodes, and the bundle's summary is what it says

and then prints what the entry says. It stops at the first check that fails,
names it, and exits 2. See docs/audit.md "Offline verification".`,
		Example: `  stratus audit verify transfer.json --validators validators.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tr, err := readValidators(vals)
			if err != nil {
				return err
			}
			raw, err := readFile(args[0], "bundle")
			if err != nil {
				return err
			}
			b, err := bundle.Parse(raw)
			if err != nil {
				return errs.E(errs.Invalid, "%s is %v", args[0], err)
			}
			rep, err := bundle.Verify(b, tr)
			if err != nil {
				return errs.E(errs.Invalid, "%w: do not trust this bundle", err)
			}
			return g.print(cmd.OutOrStdout(), rep, func(w io.Writer) { printReport(w, rep) })
		},
	}
	c.Flags().StringVar(&vals, "validators", "", "the trusted validator set file (audit validators)")
	return c
}

func printReport(w io.Writer, rep bundle.Report) {
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "✓ %d %s: %s\n", c.N, c.Name, c.Detail)
	}
	cp := rep.Checkpoint
	fmt.Fprintf(w, "entry %d of the audit log of %s, in the checkpoint of block %d (%d entries):\n", rep.Index, cp.ChainID, cp.Height, cp.Size)
	e := rep.Entry
	switch {
	case e.Tx != nil:
		fmt.Fprintf(w, "  kind:     tx\n  height:   %d\n  position: %d\n  hash:     %s\n  code:     %d\n", e.Tx.Height, e.Tx.Index, e.Tx.Hash, e.Tx.Code)
		if e.Tx.Signer != "" {
			fmt.Fprintf(w, "  signer:   %s\n  msg type: %s\n", e.Tx.Signer, e.Tx.MsgType)
		}
	case e.Event != nil:
		fmt.Fprintf(w, "  kind:   event\n  height: %d\n", e.Event.Height)
		if e.Event.Tx >= 0 {
			fmt.Fprintf(w, "  tx:     %d\n", e.Event.Tx)
		} else {
			fmt.Fprintf(w, "  tx:     none (an event of the block)\n")
		}
		fmt.Fprintf(w, "  type:   %s\n", e.Event.Type)
		for _, a := range e.Event.Attributes {
			fmt.Fprintf(w, "  %s = %s\n", a.Key, a.Value)
		}
	}
}

// entryLine is a one-line description of an entry.
func entryLine(e bundle.Summary) string {
	switch {
	case e.Tx != nil && e.Tx.MsgType != "":
		return fmt.Sprintf("%s transaction %s at height %d", e.Tx.MsgType, e.Tx.Hash, e.Tx.Height)
	case e.Tx != nil:
		return fmt.Sprintf("transaction %s at height %d", e.Tx.Hash, e.Tx.Height)
	case e.Event != nil:
		return fmt.Sprintf("%s event at height %d", e.Event.Type, e.Event.Height)
	}
	return string(e.Kind)
}

func newAuditWatchCmd(g *globals) *cobra.Command {
	var vals, state string
	var interval time.Duration
	var once bool
	c := &cobra.Command{
		Use:   "watch --validators FILE [--state FILE] [--interval D] [--once]",
		Short: "Follow the audit log's checkpoints and alarm on a fork or a rewritten history",
		Long: `watch keeps the last checkpoint it trusts in the state file (default
audit-watch.json under --home). Every --interval it fetches the node's
latest checkpoint, checks it against the trusted validator set (checks 1 to
5 of audit verify) and checks the node's consistency proof that the new log
extends the trusted one, then trusts the new checkpoint. The first run
trusts the first checkpoint that passes.

It prints one line per checkpoint it accepts (one JSON object per line with
--output json). A checkpoint that does not extend the trusted one (a fork,
or entries changed or removed) stops it with exit 6; one that fails a check
with exit 2. A node behind the trusted checkpoint, or one that does not
answer, is reported on stderr and asked again. --once checks once and
exits.`,
		Example: `  stratus audit watch --validators validators.json
  stratus audit watch --validators validators.json --once --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return errs.E(errs.Invalid, "--interval %v: give a positive duration, such as 10s", interval)
			}
			tr, err := readValidators(vals)
			if err != nil {
				return err
			}
			if state == "" {
				state = filepath.Join(g.home, "audit-watch.json")
			}
			last, err := readWatchState(state, tr)
			if err != nil {
				return err
			}
			for {
				next, err := g.client().AuditAdvance(cmd.Context(), tr, last)
				switch {
				case errors.Is(err, bundle.ErrInconsistent):
					return fmt.Errorf("ALARM: %w; the trusted checkpoint stays in %s", err, state)
				case err != nil && (once || errs.Is(err, errs.Invalid) || errors.As(err, new(*bundle.CheckError))):
					if ce := new(bundle.CheckError); errors.As(err, &ce) {
						return errs.E(errs.Invalid, "the node's checkpoint fails %w: it is not signed by the trusted validators (or they changed: export them again)", err)
					}
					return err
				case err != nil:
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s; trying again in %v\n", oneLine(err.Error()), interval)
				default:
					line := watchLine{Height: next.Height, Size: next.Size, Root: next.Root, Status: "first"}
					if last != nil {
						line.Status, line.FromHeight, line.FromSize = "consistent", last.Height, last.Size
						if next.Height == last.Height {
							line.Status = "unchanged"
						}
					}
					if line.Status != "unchanged" {
						if err := writeWatchState(state, next); err != nil {
							return err
						}
					}
					if line.Status != "unchanged" || once {
						if err := g.print(cmd.OutOrStdout(), line, func(w io.Writer) { printWatchLine(w, line) }); err != nil {
							return err
						}
					}
					last = &next
				}
				if once {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	c.Flags().StringVar(&vals, "validators", "", "the trusted validator set file (audit validators)")
	c.Flags().StringVar(&state, "state", "", "the file that keeps the last trusted checkpoint (default: audit-watch.json under --home)")
	c.Flags().DurationVar(&interval, "interval", 10*time.Second, "how often to fetch the latest checkpoint")
	c.Flags().BoolVar(&once, "once", false, "check once and exit")
	return c
}

type watchLine struct {
	Height     int64  `json:"height"`
	Size       uint64 `json:"size"`
	Root       []byte `json:"root"`
	Status     string `json:"status"` // first, consistent or unchanged
	FromHeight int64  `json:"from_height,omitempty"`
	FromSize   uint64 `json:"from_size,omitempty"`
}

func printWatchLine(w io.Writer, l watchLine) {
	head := fmt.Sprintf("block %d: %d entries, root %s", l.Height, l.Size, base64.StdEncoding.EncodeToString(l.Root))
	switch l.Status {
	case "first":
		fmt.Fprintf(w, "%s: first checkpoint, trusted from now on\n", head)
	case "unchanged":
		fmt.Fprintf(w, "%s: unchanged\n", head)
	default:
		fmt.Fprintf(w, "%s: consistent with block %d (%d entries)\n", head, l.FromHeight, l.FromSize)
	}
}

// watchStateFormat tags the state file of audit watch.
const watchStateFormat = "stratus-audit-watch/v1"

type watchState struct {
	Format     string           `json:"format"`
	Checkpoint audit.Checkpoint `json:"checkpoint"`
}

// readWatchState returns the trusted checkpoint in path, nil if there is
// none yet. The checkpoint is checked again: a state file edited on disk is
// refused, not trusted.
func readWatchState(path string, tr *bundle.Trusted) (*audit.Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.E(errs.Invalid, "--state %s: %v", path, err)
	}
	var s watchState
	if err := json.Unmarshal(raw, &s); err != nil || s.Format != watchStateFormat {
		return nil, errs.E(errs.Invalid, "--state %s is not an audit watch state file (%s): move it away to start from the node's latest checkpoint", path, watchStateFormat)
	}
	if _, err := bundle.VerifyCheckpoint(s.Checkpoint, tr); err != nil {
		return nil, errs.E(errs.Invalid, "the checkpoint in --state %s does not verify against --validators, %v; move it away to start from the node's latest checkpoint", path, err)
	}
	return &s.Checkpoint, nil
}

// writeWatchState replaces the state file whole, so a crash leaves the old
// trusted checkpoint or the new one, never half of one.
func writeWatchState(path string, cp audit.Checkpoint) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := writeJSONFile(tmp, watchState{Format: watchStateFormat, Checkpoint: cp}); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readValidators(path string) (*bundle.Trusted, error) {
	if path == "" {
		return nil, errs.E(errs.Invalid, "say which validators you trust: --validators FILE (write one with stratus audit validators -o FILE)")
	}
	raw, err := readFile(path, "validator set")
	if err != nil {
		return nil, err
	}
	tr, err := bundle.ParseValidators(raw)
	if err != nil {
		return nil, errs.E(errs.Invalid, "--validators %s: %w", path, err)
	}
	return tr, nil
}

func readFile(path, what string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errs.E(errs.NotFound, "no %s file %s", what, path)
	}
	if err != nil {
		return nil, errs.E(errs.Invalid, "%s file %s: %v", what, path, err)
	}
	return raw, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return errs.E(errs.Invalid, "cannot write %s: %v", path, err)
	}
	return nil
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
