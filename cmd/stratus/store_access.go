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
	"github.com/stratus-cloud/stratus/provider"
	"github.com/stratus-cloud/stratus/storeclient"
)

func newStoreAccessCmd(g *globals) *cobra.Command {
	var from, since string
	c := &cobra.Command{
		Use:   "access ID [--since TIME] [--from KEY]",
		Short: "List who read an object, checked against each reader's signature and the providers' anchors on the ledger",
		Long: `access asks every provider of the object's shards for its access records,
signed by the owner's key (only the owner may ask), and checks each: the
reader's own RFC 9421 signature over the request it sent, and the record's
inclusion proof against the root its provider anchored on the ledger for
that epoch. A record of an epoch not anchored yet is listed as unanchored.
A record that fails a check is listed as FAILED, and the command exits
non-zero. See docs/storage.md "Access logs".

--since is an RFC 3339 time, unix milliseconds, or a duration back from now
(24h, 7d).`,
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
			rep, err := provider.GatherAccess(cmd.Context(), g.client(), nil, key, args[0], sinceMs)
			if err != nil {
				return err
			}
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
		fmt.Fprintf(w, "No reads of %s recorded by its providers.\n", rep.Object)
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
		}
		fmt.Fprintf(w, "%-20s %-56s %-12s %10d %-8s %-10s %s\n", formatMs(r.ServedMs), r.Reader, r.Shard.String()[:12], r.Bytes, signed, anchored, r.Provider)
	}
	for _, r := range rep.Records {
		if r.Failed() {
			fmt.Fprintf(w, "FAILED: epoch %d record %d from %s: %s\n", r.Epoch, r.Index, r.Provider, r.Problem)
		}
	}
}

// accessError is store access's verdict: nil when every record checks out
// (or is only unanchored), else an Invalid error naming the first failure.
// The records were listed already, failures included, so the error only
// sums them up.
func accessError(rep *provider.AccessReport) error {
	bad := rep.Failed()
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
