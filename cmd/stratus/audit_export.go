package main

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stratus-cloud/stratus/audit"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
)

// csvHeader is the columns of `audit export --format csv`.
var csvHeader = []string{"index", "height", "time", "kind", "type", "tx", "attributes", "leaf_b64", "proof_b64"}

// exportSummary is what `audit export -o FILE --output json` prints.
type exportSummary struct {
	File           string `json:"file"`
	CheckpointFile string `json:"checkpoint_file,omitempty"`
	Records        int    `json:"records"`
	Skipped        int    `json:"skipped"`
	CheckpointSize uint64 `json:"checkpoint_size"`
	Height         int64  `json:"checkpoint_height"`
}

// newAuditExportCmd is `stratus audit export`: the leaves a query chooses,
// each with its inclusion proof in one checkpoint, checked before it is
// written, for a compliance report.
func newAuditExportCmd(g *globals) *cobra.Command {
	var q client.AuditQuery
	var format, out string
	c := &cobra.Command{
		Use:   "export [--resource R] [--account A] [--kind K] [--from T] [--to T] [--format json|csv] [-o FILE]",
		Short: "Export audit log records with their inclusion proofs, for a compliance report",
		Long: `Export the audit log records a query chooses (as GET /v1/audit/events), each
with its leaf and its inclusion proof in one checkpoint fetched at the start.
Every proof is checked against the checkpoint's root before its record is
written; check the checkpoint itself with stratus audit verify.

--from is inclusive and --to exclusive; each is a block height or an RFC 3339
time. JSON is one document: the checkpoint, the query, then the records.
CSV (needs -o FILE) writes the records to FILE and the checkpoint to
FILE.checkpoint.json. Records appended after the checkpoint are left out,
and counted on stderr. See docs/audit.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "csv" {
				return errs.E(errs.Invalid, "--format %q is not json or csv", format)
			}
			if format == "csv" && out == "" {
				return errs.E(errs.Invalid, "--format csv writes the records and the checkpoint to two files: pass -o FILE.csv")
			}
			if q.Account != "" {
				addr, err := g.resolveAddress(q.Account)
				if err != nil {
					return err
				}
				q.Account = addr.String()
			}
			ctx := cmd.Context()
			cl := g.client()
			// A bad query fails here, before anything is written.
			if _, err := cl.AuditEventsPage(ctx, q, client.PageOptions{Limit: 1}); err != nil {
				return err
			}
			cp, err := cl.AuditCheckpoint(ctx)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			var f *os.File
			if out != "" {
				if f, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*"); err != nil {
					return errs.E(errs.Invalid, "cannot write %s: %v", out, err)
				}
				defer os.Remove(f.Name())
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			stderr := cmd.ErrOrStderr()
			showProgress := g.output == "text" && term.IsTerminal(int(os.Stderr.Fd()))
			progress := func(n int) {
				if showProgress && n%100 == 0 {
					fmt.Fprintf(stderr, "\rexported %d records", n)
				}
			}
			var n, skipped int
			if format == "json" {
				n, skipped, err = exportJSON(cmd, cl, bw, q, cp, progress)
			} else {
				n, skipped, err = exportCSV(cmd, cl, bw, q, cp, progress)
			}
			if showProgress {
				fmt.Fprint(stderr, "\r\033[K")
			}
			if err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			sum := exportSummary{File: out, Records: n, Skipped: skipped, CheckpointSize: cp.Size, Height: cp.Height}
			if f != nil {
				if err := f.Sync(); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if format == "csv" {
					sum.CheckpointFile = out + ".checkpoint.json"
					raw, _ := json.MarshalIndent(cp, "", "  ")
					if err := os.WriteFile(sum.CheckpointFile, append(raw, '\n'), 0o644); err != nil {
						return err
					}
				}
				if err := os.Rename(f.Name(), out); err != nil {
					return err
				}
			}
			if skipped > 0 {
				fmt.Fprintf(stderr, "Left out %d records appended after the checkpoint (size %d, height %d): export again once a later checkpoint covers them.\n", skipped, cp.Size, cp.Height)
			}
			if out == "" {
				return nil
			}
			return g.print(cmd.OutOrStdout(), sum, func(w io.Writer) {
				fmt.Fprintf(w, "Exported %d records, each proven in the checkpoint of size %d (height %d), to %s", n, cp.Size, cp.Height, out)
				if sum.CheckpointFile != "" {
					fmt.Fprintf(w, " (checkpoint in %s)", sum.CheckpointFile)
				}
				fmt.Fprintln(w, ".")
			})
		},
	}
	fl := c.Flags()
	fl.StringVar(&q.Resource, "resource", "", "only records that name this resource: lease:ID, deployment:ID or object:ID")
	fl.StringVar(&q.Account, "account", "", "only records that name this account (DID or key name)")
	fl.StringVar(&q.Kind, "kind", "", "only events of this type (bank.transfer), or tx for transactions")
	fl.StringVar(&q.From, "from", "", "first block, inclusive: a height or an RFC 3339 time")
	fl.StringVar(&q.To, "to", "", "end block, exclusive: a height or an RFC 3339 time")
	fl.StringVar(&format, "format", "json", "json or csv")
	fl.StringVarP(&out, "out", "o", "", "write to FILE (replaced only once complete) instead of stdout")
	return c
}

// exportJSON writes {"checkpoint", "query", "records": [...], "skipped"}.
func exportJSON(cmd *cobra.Command, cl *client.Client, w io.Writer, q client.AuditQuery, cp audit.Checkpoint, progress func(int)) (int, int, error) {
	head := struct {
		Checkpoint audit.Checkpoint  `json:"checkpoint"`
		Query      client.AuditQuery `json:"query"`
	}{cp, q}
	raw, err := json.Marshal(head)
	if err != nil {
		return 0, 0, err
	}
	// The header's closing brace gives way to the records.
	if _, err := fmt.Fprintf(w, "%s,\n\"records\": [", raw[:len(raw)-1]); err != nil {
		return 0, 0, err
	}
	n := 0
	skipped, err := cl.ExportAudit(cmd.Context(), q, cp, func(r client.ProvenRecord) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sep := ",\n"
		if n == 0 {
			sep = "\n"
		}
		n++
		_, err = fmt.Fprintf(w, "%s%s", sep, b)
		return err
	}, progress)
	if err != nil {
		return n, skipped, err
	}
	_, err = fmt.Fprintf(w, "\n],\n\"count\": %d,\n\"skipped\": %d\n}\n", n, skipped)
	return n, skipped, err
}

// exportCSV writes one row per record under csvHeader.
func exportCSV(cmd *cobra.Command, cl *client.Client, w io.Writer, q client.AuditQuery, cp audit.Checkpoint, progress func(int)) (int, int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return 0, 0, err
	}
	n := 0
	skipped, err := cl.ExportAudit(cmd.Context(), q, cp, func(r client.ProvenRecord) error {
		attrs, _ := json.Marshal(r.Attrs)
		if r.Attrs == nil {
			attrs = []byte("[]")
		}
		proof := make([]string, len(r.Proof))
		for i, h := range r.Proof {
			proof[i] = base64.StdEncoding.EncodeToString(h)
		}
		t := ""
		if !r.Time.IsZero() {
			t = r.Time.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
		}
		n++
		return cw.Write([]string{strconv.FormatUint(r.Index, 10), strconv.FormatInt(r.Height, 10), t, r.Kind, r.Type, r.Tx,
			string(attrs), base64.StdEncoding.EncodeToString(r.Leaf), strings.Join(proof, " ")})
	}, progress)
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	return n, skipped, err
}
