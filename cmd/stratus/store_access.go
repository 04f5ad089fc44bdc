package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/provider"
	"github.com/stratus-cloud/stratus/storeclient"
)

func newStoreAccessCmd(g *globals) *cobra.Command {
	var from, since, receipts string
	c := &cobra.Command{
		Use:   "access ID [--since TIME] [--from KEY] [--receipts FILE]",
		Short: "List who read an object, checked against each reader's signature and the providers' anchors on the ledger",
		Long: `access asks every provider of the object's shards for its access records,
signed by the owner's key (only the owner may ask), and checks each: the
reader's own RFC 9421 signature over the request it sent, and the record's
inclusion proof against the root its provider anchored on the ledger for
that epoch. A record of an epoch not anchored yet is listed as unanchored.
A record that fails a check is listed as FAILED, and the command exits
non-zero. See docs/storage.md "Access logs".

--since is an RFC 3339 time, unix milliseconds, or a duration back from now
(24h, 7d).

--receipts FILE takes the receipts a reader kept (stratus store get
--receipts FILE): each signed read of this object's shards in it must have
a record in its provider's log, or the provider served a read it did not
log; such a receipt is listed as NOT LOGGED and the command exits non-zero.`,
		Example: `  stratus store access bafk...
  stratus store access bafk... --since 24h --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sinceMs, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			key, err := g.storeKey(from)
			if err != nil {
				return err
			}
			var reqs []httpsig.Recorded
			if receipts != "" {
				if reqs, err = readReceipts(receipts); err != nil {
					return err
				}
			}
			rep, err := provider.GatherAccess(cmd.Context(), g.client(), nil, key, args[0], sinceMs)
			if err != nil {
				return err
			}
			rep.CheckReceipts(reqs)
			if err := g.print(cmd.OutOrStdout(), rep, func(w io.Writer) { printAccess(w, rep) }); err != nil {
				return err
			}
			for _, p := range rep.Unreachable {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: provider %s did not answer, its records are missing: %s\n", p.Provider, p.Error)
			}
			return accessError(rep)
		},
	}
	c.Flags().StringVar(&from, "from", "", "the owner's key name (default: the devnet's demo key)")
	c.Flags().StringVar(&since, "since", "", "only reads served at or after this time")
	c.Flags().StringVar(&receipts, "receipts", "", "a reader's receipts (store get --receipts FILE): check that every read in them is in the log")
	return c
}

// parseSince reads --since: empty for all, unix ms, RFC 3339, or a
// duration back from now.
func parseSince(s string, now time.Time) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return max(t.UnixMilli(), 0), nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, errs.E(errs.Invalid, "--since %q: give an RFC 3339 time (2026-01-02T15:04:05Z), unix milliseconds, or a duration back from now (24h, 7d)", s)
	}
	return max(now.Add(-d).UnixMilli(), 0), nil
}

func printAccess(w io.Writer, rep *provider.AccessReport) {
	if len(rep.Records) == 0 {
		// Receipts matter most when the log is empty.
		fmt.Fprintf(w, "No reads of %s recorded by its providers.\n", rep.Object)
		printReceipts(w, rep)
		return
	}
	fmt.Fprintf(w, "%-20s %-56s %-12s %10s %-8s %-10s %s\n", "TIME", "READER", "SHARD", "BYTES", "SIGNED", "ANCHORED", "PROVIDER")
	for _, r := range rep.Records {
		signed := "ok"
		if !r.SignatureOK {
			signed = "FAILED"
		}
		anchored := "unanchored"
		switch {
		case r.AnchorOK:
			anchored = "ok"
		case r.AnchorFailed:
			anchored = "FAILED"
		case r.Overdue:
			anchored = "OVERDUE"
		}
		fmt.Fprintf(w, "%-20s %-56s %-12s %10d %-8s %-10s %s\n", formatMs(r.ServedMs), r.Reader, r.Shard.String()[:12], r.Bytes, signed, anchored, r.Provider)
	}
	for _, r := range rep.Records {
		if r.Failed() {
			fmt.Fprintf(w, "FAILED: epoch %d record %d from %s: %s\n", r.Epoch, r.Index, r.Provider, r.Problem)
		}
	}
	printReceipts(w, rep)
}

func printReceipts(w io.Writer, rep *provider.AccessReport) {
	if len(rep.Receipts) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%-20s %-56s %-12s %-10s %s\n", "SIGNED", "RECEIPT OF", "SHARD", "LOGGED", "ANCHORED")
	for _, c := range rep.Receipts {
		logged, anchored := "ok", "unanchored"
		switch {
		case c.Problem != "":
			logged, anchored = "NOT LOGGED", "-"
		case c.Anchored:
			anchored = "ok"
		}
		fmt.Fprintf(w, "%-20s %-56s %-12s %-10s %s\n", formatMs(c.SignedMs), c.Reader, c.Shard.String()[:12], logged, anchored)
	}
	for _, c := range rep.Receipts {
		if c.Problem != "" {
			fmt.Fprintf(w, "NOT LOGGED: %s\n", c.Problem)
		}
	}
}

// readReceipts reads the signed requests of a receipts file.
func readReceipts(path string) ([]httpsig.Recorded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.E(errs.NotFound, "--receipts: %v", err)
	}
	var rs []storeclient.Receipt
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, errs.E(errs.Invalid, "--receipts %s is not a receipts file (a JSON array, as store get --receipts writes): %v", path, err)
	}
	out := make([]httpsig.Recorded, len(rs))
	for i, r := range rs {
		out[i] = r.Request
	}
	return out, nil
}

// accessError is store access's verdict: nil when every record checks out
// (or is only unanchored), else an Invalid error naming the first failure.
// The records were listed already, failures included, so the error only
// sums them up.
func accessError(rep *provider.AccessReport) error {
	bad := rep.Failed()
	if unlogged := rep.Unlogged(); len(bad) == 0 && len(unlogged) > 0 {
		return errs.E(errs.Invalid, "%d of %d receipts have no record in the providers' logs (first: %s): a provider served a read it did not log, or kept its record from you",
			len(unlogged), len(rep.Receipts), unlogged[0].Problem)
	}
	if len(bad) == 0 {
		return nil
	}
	return errs.E(errs.Invalid, "%d of %d access records failed verification (first: epoch %d record %d from %s: %s): the provider's log does not match what the reader signed or what it anchored on the ledger",
		len(bad), len(rep.Records), bad[0].Epoch, bad[0].Index, bad[0].Provider, bad[0].Problem)
}

// keepReceipts makes sc keep a receipt of each signed shard read, and
// returns the function that writes them to path as a JSON array (warning
// on stderr if it cannot): a reader's evidence of the reads it made
// (docs/storage.md "Access logs"). It writes even after a failed get.
func keepReceipts(sc *storeclient.Client, path string, stderr io.Writer) func() {
	var mu sync.Mutex
	rs := []storeclient.Receipt{}
	sc.KeepReceipts(func(r storeclient.Receipt) {
		mu.Lock()
		defer mu.Unlock()
		rs = append(rs, r)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		b, err := json.MarshalIndent(rs, "", "  ")
		if err == nil {
			err = os.WriteFile(path, append(b, '\n'), 0o600)
		}
		if err != nil {
			fmt.Fprintf(stderr, "warning: cannot write the receipts to %s: %v\n", path, err)
		}
	}
}
