package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
)

// The commands of private objects: store grant, revoke and grants. store
// put --private and store get --from are in store.go.

// readerKey is the key store get reads with: --from, else a devnet home's
// demo key, else none (enough for a public object).
func (g *globals) readerKey(from string) (*identity.Key, error) {
	if from != "" {
		return g.loadKey(from)
	}
	if def := g.defaultFrom(""); def != "" {
		return g.loadKey(def)
	}
	return nil, nil
}

// getAdvice adds the CLI's advice to a refused read of a private object.
func getAdvice(err error, key *identity.Key) error {
	switch {
	case key == nil && errs.Is(err, errs.Unauthorized):
		return errs.E(errs.Unauthorized, "%v: pass --from KEY", err)
	case key != nil && errs.Is(err, errs.Forbidden):
		return errs.E(errs.Forbidden, "%v (reading as %s, the --from key)", err, key.Address())
	}
	return err
}

func newStoreGrantCmd(g *globals) *cobra.Command {
	var until string
	var f txFlags
	c := &cobra.Command{
		Use:   "grant ID DID [--until TIME] [--from KEY]",
		Short: "Let a DID read a private object (until a time)",
		Long: `grant lets DID (a did:key, or the name of a key in this home) read private
object ID, which the --from key owns: it opens the object's data key with
the owner's key, wraps it to DID's key, and records the grant on the ledger
(objects/grant). The grantee then reads the object with
stratus store get ID --from KEY, like the owner; providers serve it the
shards on its signed requests. Granting again replaces the grant.

--until ends the grant at TIME: an RFC 3339 time (2026-12-31T23:00:00Z), a
date (2026-12-31, midnight UTC) or a duration from now (90m, 7d). Without
it, the grant lasts until stratus store revoke. An object has at most 64
grants.`,
		Example: `  stratus store grant bafk... did:key:z6Mk... --until 7d
  stratus store grant bafk... bob --from alice --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := storage.ParseID(args[0]); err != nil {
				return err
			}
			grantee, err := g.resolveAddress(args[1])
			if err != nil {
				return err
			}
			var end time.Time
			if until != "" {
				if end, err = parseUntil(until, time.Now()); err != nil {
					return err
				}
			}
			key, err := g.storeKey(f.from)
			if err != nil {
				return err
			}
			o, err := f.options()
			if err != nil {
				return err
			}
			res, err := g.storeClient(cmd.ErrOrStderr()).Grant(cmd.Context(), key, args[0], grantee, end, o)
			if err != nil {
				return err
			}
			if err := g.sent(res.Result); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "granted %s read access to %s in block %d", res.Grantee, res.ID, res.Height)
				if res.UntilMs != 0 {
					fmt.Fprintf(w, ", until %s", formatMs(res.UntilMs))
				}
				fmt.Fprintf(w, "\nthe grantee reads it with: stratus store get %s --from KEY\n", res.ID)
			})
		},
	}
	c.Flags().StringVar(&until, "until", "", "end the grant at this time: RFC 3339, a date, or a duration from now such as 7d")
	f.register(c)
	c.Flags().Lookup("from").Usage = "name of the owner's key (default: demo in a devnet home)"
	return c
}

// parseUntil reads --until: an RFC 3339 time, a date, or a duration from
// now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, errs.E(errs.Invalid, "--until %q is not a time: give an RFC 3339 time (2026-12-31T23:00:00Z), a date (2026-12-31) or a duration from now (7d, 12h)", s)
}

func newStoreRevokeCmd(g *globals) *cobra.Command {
	var f txFlags
	c := &cobra.Command{
		Use:   "revoke ID DID [--from KEY]",
		Short: "End a DID's grant on a private object",
		Long: `revoke ends DID's grant to read private object ID (objects/revoke). From
the block that commits it, providers refuse the grantee's reads of the
object's shards (they cache the ledger's answer for at most a second). It
cannot take back what the grantee already read: a grantee who downloaded
the object still has it.`,
		Example: `  stratus store revoke bafk... did:key:z6Mk...`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := storage.ParseID(args[0]); err != nil {
				return err
			}
			grantee, err := g.resolveAddress(args[1])
			if err != nil {
				return err
			}
			key, err := g.storeKey(f.from)
			if err != nil {
				return err
			}
			o, err := f.options()
			if err != nil {
				return err
			}
			res, err := g.storeClient(cmd.ErrOrStderr()).Revoke(cmd.Context(), key, args[0], grantee, o)
			if err != nil {
				return err
			}
			if err := g.sent(res.Result); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "revoked %s's access to %s in block %d\n", res.Grantee, res.ID, res.Height)
			})
		},
	}
	f.register(c)
	c.Flags().Lookup("from").Usage = "name of the owner's key (default: demo in a devnet home)"
	return c
}

func newStoreGrantsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "grants ID",
		Short: "List who may read a private object, and until when",
		Long: `grants lists the grants of private object ID: each grantee's DID, when it
was granted and when it ends. Expired grants stay listed (and count toward
the object's 64) until they are revoked or replaced.`,
		Example: `  stratus store grants bafk...
  stratus store grants bafk... --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := storage.ParseID(args[0]); err != nil {
				return err
			}
			gs, err := g.storeClient(cmd.ErrOrStderr()).Grants(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := struct {
				ID     string                `json:"id"`
				Grants []objects.GrantRecord `json:"grants"`
			}{args[0], gs}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				if len(gs) == 0 {
					fmt.Fprintf(w, "No grants on %s: only its owner reads it. Grant access with `stratus store grant %s DID`.\n", args[0], args[0])
					return
				}
				now := time.Now().UnixMilli()
				fmt.Fprintf(w, "%-58s %-20s %s\n", "GRANTEE", "GRANTED", "UNTIL")
				for _, gr := range gs {
					until := "until revoked"
					if gr.UntilMs != 0 {
						until = formatMs(gr.UntilMs)
						if !gr.Live(now) {
							until += " (ended)"
						}
					}
					fmt.Fprintf(w, "%-58s %-20s %s\n", gr.Grantee, formatMs(gr.GrantedMs), strings.TrimSpace(until))
				}
			})
		},
	}
}
