package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// storeClient returns an object storage client for the node. Its warnings
// (a provider routed around, a shard left for the garbage collector) go to
// stderr, unless the output is JSON.
func (g *globals) storeClient(stderr io.Writer) *storeclient.Client {
	sc := storeclient.New(g.client())
	if g.output == "text" {
		sc.SetLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	return sc
}

// storeKey loads the --from key; without --from, a devnet or testnet home
// signs with its demo key, as `lease list` reads the demo key's leases.
func (g *globals) storeKey(from string) (*identity.Key, error) {
	return g.loadKey(g.defaultFrom(from))
}

func (g *globals) defaultFrom(from string) string {
	if from != "" {
		return from
	}
	if cfg, err := node.LoadConfig(g.home); err == nil && cfg.DevMode() {
		if _, err := g.keystore().Show(node.DemoKey); err == nil {
			return node.DemoKey
		}
	}
	return ""
}

func newStoreCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "Store files on the providers: put, get, ls, info, renew, rm, and grants on private ones",
		Long: `store keeps files as objects: each is erasure-coded into k+m shards a
segment, spread over k+m distinct storage providers, paid for by one storage
lease with each, and named by an ID that is the hash of its content. Any k
healthy providers give it back, verified. An object lives while its leases
are paid: renew it before the date store info shows. A private object
(put --private) is encrypted before it leaves this machine, and read only by
its owner and the DIDs it grants access. See docs/storage.md.`,
	}
	c.AddCommand(newStorePutCmd(g), newStoreGetCmd(g), newStoreLsCmd(g), newStoreInfoCmd(g), newStoreRenewCmd(g), newStoreRmCmd(g))
	c.AddCommand(newStoreGrantCmd(g), newStoreRevokeCmd(g), newStoreGrantsCmd(g))
	c.AddCommand(newStoreAccessCmd(g), newStoreRepairsCmd(g))
	return c
}

func newStorePutCmd(g *globals) *cobra.Command {
	var from, redundancy, expires, prepay string
	var private bool
	c := &cobra.Command{
		Use:   "put FILE [--from KEY] [--private] [--redundancy k+m] [--expires DURATION] [--prepay DURATION]",
		Short: "Store a file and print its object ID",
		Long: `put stores FILE as an object owned by the --from key and prints its ID on
stdout (a summary goes to stderr). It opens one storage lease with each of
k+m providers, the cheapest that are up, uploads the shards and commits the
manifest on the ledger. If it fails before the commit, it closes the leases
it opened and their escrow is refunded.

Before it spends anything, put computes the object's ID and asks the ledger
for it: bytes this key already stored (with the same redundancy) are not
stored again, and put prints the existing ID at no cost.

The object lives while its leases are paid: when the first lease's deposit
runs out the ledger drops the object and the providers delete its shards.
Extend it with stratus store renew.

FILE - reads stdin. It is first copied to a temporary file (in $TMPDIR),
since the object is encoded from a file of known size: that needs as much
free space as the input.

DURATION is a Go duration (90m, 720h) or days (30d, 1d12h). --expires removes
the object that long after it is stored; --prepay is how long the leases'
deposits last (default: until --expires and an hour for the upload, else
30d).

--private encrypts the file here, with a fresh key, before it is coded and
sent: providers store and serve only ciphertext, and serve it only to the
owner and the DIDs granted access (stratus store grant). The ID is the
ciphertext's, so the same file stored twice privately is two objects.`,
		Example: `  stratus store put photo.jpg
  stratus store put contract.pdf --private
  stratus store put backup.tar --from demo --redundancy 4+1 --prepay 90d
  tar c dir | stratus store put - --expires 7d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := storeclient.PutOptions{Private: private}
			var err error
			if o.K, o.M, err = storage.ParseRedundancy(redundancy); err != nil {
				return err
			}
			if expires != "" {
				if o.Expires, err = parseDuration(expires); err != nil {
					return fmt.Errorf("--expires: %w", err)
				}
			}
			if prepay != "" {
				if o.Prepay, err = parseDuration(prepay); err != nil {
					return fmt.Errorf("--prepay: %w", err)
				}
			}
			key, err := g.storeKey(from)
			if err != nil {
				return err
			}
			f, size, cleanup, err := openInput(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			defer cleanup()
			p := g.newProgress("put")
			o.Progress = p.callback()
			res, err := g.storeClient(p).Put(cmd.Context(), key, f, size, o)
			p.done()
			if err != nil {
				return err
			}
			out := struct {
				*storeclient.PutResult
				Redundancy string `json:"redundancy"`
			}{res, res.Params.Redundancy()}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintln(w, res.ID)
				printPut(cmd.ErrOrStderr(), res)
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "name of the signing key, the object's owner (default: demo in a devnet home)")
	c.Flags().StringVar(&redundancy, "redundancy", storage.DefaultParams().Redundancy(), "k+m: k data and m parity shards a segment, each on a different provider; any k rebuild it")
	c.Flags().StringVar(&expires, "expires", "", "remove the object after this long, e.g. 30d or 12h (default: keep it until `stratus store rm`)")
	c.Flags().StringVar(&prepay, "prepay", "", "how long the lease deposits last, e.g. 90d (default: until --expires and an hour, else 30d)")
	c.Flags().BoolVar(&private, "private", false, "encrypt the file before it leaves this machine; only the owner and DIDs it grants can read it")
	return c
}

func printPut(w io.Writer, r *storeclient.PutResult) {
	if r.Existing {
		fmt.Fprintf(w, "already stored by this key: nothing was spent\n")
		if r.PaidUntilMs != 0 {
			fmt.Fprintf(w, "paid until %s\n", formatPaidUntil(r.PaidUntilMs))
		}
		warnUnpaid(w, r.ID, r.ExpiresMs, r.PaidUntilMs, time.Now())
		fmt.Fprintf(w, "get it with: stratus store get %s --out FILE\n", r.ID)
		return
	}
	if len(r.Leases) == 0 {
		fmt.Fprintf(w, "stored an empty object in block %d: it needs no providers and costs nothing\n", r.Height)
	} else {
		fmt.Fprintf(w, "stored %s with %s redundancy on %d providers in block %d\n", formatBytes(r.Size), r.Params.Redundancy(), len(r.Providers), r.Height)
		fmt.Fprintf(w, "leases %s: %s deposited, %s/day\n", joinIDs(r.Leases), money.Format(r.Deposit), money.Format(mulDivFloor(r.Rate, 86400, market.NanoPerUstr)))
	}
	if r.ExpiresMs != 0 {
		fmt.Fprintf(w, "expires %s\n", formatMs(r.ExpiresMs))
	}
	if r.Private {
		fmt.Fprintf(w, "private: encrypted here; only this key and the DIDs it grants read it (stratus store grant %s DID)\n", r.ID)
	}
	fmt.Fprintf(w, "get it with: stratus store get %s --out FILE\n", r.ID)
}

func newStoreGetCmd(g *globals) *cobra.Command {
	var out, rng, from, receipts string
	c := &cobra.Command{
		Use:   "get ID [--out FILE] [--range START-END] [--from KEY]",
		Short: "Get an object, verified, to stdout or to a file",
		Long: `get reads object ID from the k fastest providers that hold each segment,
checks every shard against the object's manifest, and rebuilds the segments
around any provider that is down, slow or sends wrong bytes. It writes the
object to stdout, or with --out to FILE: first to a temporary file in the
same folder, renamed to FILE once complete, so a failed get leaves no half
file behind.

--range selects bytes as HTTP does, both ends included: 0-99 is the first
100 bytes, 100- everything from byte 100, -100 the last 100 bytes.

A provider that sent bytes that do not match the manifest is named in a
warning on stderr.

A private object is read with the --from key (default: demo in a devnet
home): its owner's, or one it was granted to (stratus store grant). Its
shards are fetched with requests signed by that key, and decrypted here.`,
		Example: `  stratus store get bafk... -o photo.jpg
  stratus store get bafk... --range 0-1023 | xxd | head
  stratus store get bafk... --out photo.jpg --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if _, err := storage.ParseID(id); err != nil {
				return err
			}
			r := byteRange{To: -1}
			if rng != "" {
				var err error
				if r, err = parseRange(rng); err != nil {
					return err
				}
			}
			key, err := g.readerKey(from)
			if err != nil {
				return err
			}
			var size int64
			if r.Last > 0 {
				v, err := g.client().Object(cmd.Context(), id)
				if err != nil {
					return err
				}
				if size = v.Size; !v.Public {
					if size, err = storeclient.PlainSize(v.Size); err != nil {
						return err
					}
				}
			}
			o := storeclient.GetOptions{Key: key}
			o.Offset, o.Length = r.options(size)
			p := g.newProgress("get")
			o.Progress = p.callback()
			sc := g.storeClient(p)
			if receipts != "" {
				defer keepReceipts(sc, receipts, cmd.ErrOrStderr())()
			}
			var w io.Writer = cmd.OutOrStdout()
			var dst *atomicFile
			if out != "" {
				var err error
				if dst, err = createAtomic(out); err != nil {
					return err
				}
				defer dst.abort()
				w = dst
			}
			res, err := sc.Get(cmd.Context(), id, w, o)
			p.done()
			if err != nil {
				return getAdvice(err, key)
			}
			if dst != nil {
				if err := dst.commit(); err != nil {
					return err
				}
			}
			reportFaults(cmd.ErrOrStderr(), res, g.output == "json")
			if dst == nil {
				return nil // stdout holds the object, and nothing else
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				what := "object " + res.ID
				switch {
				case res.Bytes == 0 && res.Size > 0:
					what = "no bytes of object " + res.ID
				case o.Offset != 0 || res.Bytes != res.Size:
					what = fmt.Sprintf("bytes %d-%d of object %s", res.Offset, res.Offset+res.Bytes-1, res.ID)
				}
				fmt.Fprintf(w, "wrote %s (%s) to %s\n", what, formatBytes(res.Bytes), out)
			})
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "write the object to FILE instead of stdout, replacing it only once complete")
	c.Flags().StringVar(&receipts, "receipts", "", "keep the signed requests of a private object's reads, and a hash of what came back, in FILE (JSON): see docs/storage.md \"Access logs\"")
	c.Flags().StringVar(&rng, "range", "", "bytes to read, both ends included: 0-99, 100- (to the end) or -100 (the last 100)")
	c.Flags().StringVar(&from, "from", "", "name of the reading key, for a private object: its owner's or a grantee's (default: demo in a devnet home)")
	return c
}

// reportFaults tells on stderr which providers sent wrong bytes, always,
// and how many shards were routed around for other reasons, in text only.
func reportFaults(w io.Writer, res *storeclient.GetResult, jsonOut bool) {
	for _, prov := range res.Corrupt() {
		var shards []string
		for _, f := range res.Faults {
			if f.Kind == "corrupt" && f.Provider == prov {
				shards = append(shards, fmt.Sprintf("segment %d shard %d", f.Segment, f.Shard))
			}
		}
		fmt.Fprintf(w, "warning: provider %s sent bytes that do not match the manifest (%s); they were rebuilt from other providers, and the object is intact\n", prov, strings.Join(shards, ", "))
	}
	other := 0
	for _, f := range res.Faults {
		if f.Kind != "corrupt" {
			other++
		}
	}
	if other > 0 && !jsonOut {
		noun := "shards"
		if other == 1 {
			noun = "shard"
		}
		fmt.Fprintf(w, "routed around %d unavailable %s\n", other, noun)
	}
}

func newStoreLsCmd(g *globals) *cobra.Command {
	var owner, from string
	var pf pageFlags
	c := &cobra.Command{
		Use:   "ls [--owner DID|KEY] [--limit N] [--after ID]",
		Short: "List an owner's objects (default: the --from key, else demo)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			who := owner
			if who == "" {
				who = from
			}
			if who == "" {
				who = node.DemoKey
			}
			a, err := g.resolveAddress(who)
			if err != nil {
				return err
			}
			pg, err := fetchList(cmd.Context(), pf,
				func(ctx context.Context, o client.PageOptions) (api.Page[objects.ObjectView], error) {
					return g.client().ObjectsPage(ctx, a.String(), o)
				},
				func(ctx context.Context) ([]objects.ObjectView, error) {
					return storeclient.New(g.client()).List(ctx, a.String())
				})
			if err != nil {
				return err
			}
			list := pg.Items
			return printList(g, cmd, pf, pg, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintf(w, "No objects for %s. Store one with `stratus store put FILE`.\n", a)
					return
				}
				fmt.Fprintf(w, "%-60s %10s %-10s %-20s %-20s %s\n", "ID", "SIZE", "REDUNDANCY", "CREATED", "EXPIRES", "PAID UNTIL")
				for _, o := range list {
					fmt.Fprintf(w, "%-60s %10s %-10s %-20s %-20s %s\n", o.ID, formatBytes(o.Size), fmt.Sprintf("%d+%d", o.K, o.M), formatMs(o.CreatedMs), formatMs(o.ExpiresMs), formatPaidMs(o.PaidUntilMs))
				}
				now := time.Now()
				for _, o := range list {
					warnUnpaid(cmd.ErrOrStderr(), o.ID, o.ExpiresMs, o.PaidUntilMs, now)
				}
			})
		},
	}
	c.Flags().StringVar(&owner, "owner", "", "the owner's DID or key name")
	c.Flags().StringVar(&from, "from", "", "a key name: list its objects (as --owner does)")
	pf.register(c)
	return c
}

func newStoreInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info ID",
		Short: "Show an object: size, redundancy, who holds its shards, its leases and what it costs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := storeclient.New(g.client()).Info(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), in, func(w io.Writer) {
				printInfo(w, in)
				warnUnpaid(cmd.ErrOrStderr(), in.ID, in.ExpiresMs, in.PaidUntilMs, time.Now())
			})
		},
	}
}

// unpaidWarning is how long before an object's escrow runs out store ls,
// info and put start to warn.
const unpaidWarning = 7 * 24 * time.Hour

// warnUnpaid warns on w when object id is paid until less than a week
// after now, unless it expires (expiresMs) before that anyway.
func warnUnpaid(w io.Writer, id string, expiresMs, paidUntilMs int64, now time.Time) {
	if paidUntilMs == 0 || paidUntilMs == math.MaxInt64 || (expiresMs != 0 && expiresMs <= paidUntilMs) {
		return
	}
	left := time.UnixMilli(paidUntilMs).Sub(now)
	if left >= unpaidWarning {
		return
	}
	fmt.Fprintf(w, "warning: object %s is paid for only %s more: the ledger drops it at %s unless you renew it with `stratus store renew %s --prepay 30d`\n",
		id, formatLeft(left), formatMs(paidUntilMs), id)
}

// formatPaidMs shows a paid-until time: "-" for an object without leases,
// "never" when no lease runs out.
func formatPaidMs(ms int64) string {
	if ms == math.MaxInt64 {
		return "never"
	}
	return formatMs(ms)
}

// formatPaidUntil is formatPaidMs with the time left, as in
// "2027-03-07T17:00:00Z (in 89d23h)".
func formatPaidUntil(ms int64) string {
	if ms == 0 || ms == math.MaxInt64 {
		return formatPaidMs(ms)
	}
	left := time.UnixMilli(ms).Sub(time.Now())
	if left <= 0 {
		return formatMs(ms) + " (past: the object is being dropped)"
	}
	return fmt.Sprintf("%s (in %s)", formatMs(ms), formatLeft(left))
}

// formatLeft shows a time left in days and hours, or hours and minutes, or
// minutes and seconds: 89d23h, 5h7m, 3m20s.
func formatLeft(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
}

func newStoreRenewCmd(g *globals) *cobra.Command {
	var prepay string
	var f txFlags
	c := &cobra.Command{
		Use:   "renew ID [--prepay DURATION] [--from KEY]",
		Short: "Pay for an object for longer: top up every one of its leases in one transaction",
		Long: `renew pays for object ID for DURATION more (default 30d): one transaction
tops up each of the object's leases with its rate times DURATION, rounded up
to whole ustr, from the --from key (any key may pay for any object). The
object is paid until the first of its leases runs out of escrow; store info
shows that date, and store ls and info warn when it is less than 7 days
away. An object whose lease runs out is dropped, and its shards deleted.

DURATION is a Go duration (90m, 720h) or days (30d, 1d12h).`,
		Example: `  stratus store renew bafk... --prepay 90d
  stratus store renew bafk... --from alice --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := storage.ParseID(args[0]); err != nil {
				return err
			}
			d, err := parseDuration(prepay)
			if err != nil {
				return fmt.Errorf("--prepay: %w", err)
			}
			if d < time.Second {
				return errs.E(errs.Invalid, "--prepay %s is less than a second: renew for longer", prepay)
			}
			key, err := g.storeKey(f.from)
			if err != nil {
				return err
			}
			o, err := f.options()
			if err != nil {
				return err
			}
			res, err := g.storeClient(cmd.ErrOrStderr()).Renew(cmd.Context(), key, args[0], d, o)
			if err != nil {
				return err
			}
			if err := g.sent(res.Result); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "renewed %s for %s in block %d: %d leases topped up with %s\n", res.ID, prepay, res.Height, len(res.Leases), money.Format(res.Amount))
				fmt.Fprintf(w, "paid until %s\n", formatPaidUntil(res.PaidUntilMs))
			})
		},
	}
	c.Flags().StringVar(&prepay, "prepay", "30d", "how much longer to pay for, e.g. 90d")
	f.register(c)
	c.Flags().Lookup("from").Usage = "name of the paying key (default: demo in a devnet home)"
	return c
}

func printInfo(w io.Writer, in *storeclient.Info) {
	perDay := func(rate uint64) string {
		return money.Format(mulDivFloor(rate, 86400, market.NanoPerUstr)) + "/day"
	}
	fmt.Fprintf(w, "object:     %s\nowner:      %s\n", in.ID, in.Owner)
	fmt.Fprintf(w, "size:       %s (%d bytes)\n", formatBytes(in.Size), in.Size)
	segs := "segments"
	if in.Segments == 1 {
		segs = "segment"
	}
	fmt.Fprintf(w, "redundancy: %s, %d %s of up to %s, %d shards each\n", in.Params.Redundancy(), in.Segments, segs, formatBytes(in.Params.SegmentSize), in.Params.Shards())
	// An object with leases lives only while they are paid: it never
	// "expires: never" while its escrow is finite.
	expires := "never"
	switch {
	case in.ExpiresMs != 0 && (in.PaidUntilMs == 0 || in.ExpiresMs <= in.PaidUntilMs):
		expires = formatMs(in.ExpiresMs)
	case in.PaidUntilMs != 0 && in.PaidUntilMs != math.MaxInt64:
		expires = formatMs(in.PaidUntilMs) + ", when its escrow runs out"
	}
	fmt.Fprintf(w, "created:    %s\nexpires:    %s\n", formatMs(in.CreatedMs), expires)
	if in.PaidUntilMs != 0 {
		fmt.Fprintf(w, "paid until: %s\n", formatPaidUntil(in.PaidUntilMs))
	}
	fmt.Fprintf(w, "public:     %v\n", in.Public)
	if len(in.Placement) > 0 {
		fmt.Fprintf(w, "placement:\n  %-56s %6s %10s  %s\n", "PROVIDER", "SHARDS", "BYTES", "ENDPOINT")
		for _, p := range in.Placement {
			ep := p.Endpoint
			if ep == "" {
				ep = "(not registered)"
			}
			fmt.Fprintf(w, "  %-56s %6d %10s  %s\n", p.Provider, p.Shards, formatBytes(p.Bytes), ep)
		}
	}
	if len(in.Leases) > 0 {
		fmt.Fprintf(w, "leases:\n  %-6s %-56s %-8s %-20s %s\n", "ID", "PROVIDER", "STATE", "PRICE", "RATE")
		for _, l := range in.Leases {
			fmt.Fprintf(w, "  %-6d %-56s %-8s %-20s %s\n", l.ID, l.Provider, l.State, formatPrice(l.Price, market.ClassStorage), perDay(l.Rate))
		}
	}
	fmt.Fprintf(w, "rate:       %s\npaid:       %s\n", perDay(in.Rate), money.Format(in.Paid))
	left := int64(-1)
	for _, l := range in.Leases {
		if l.State != market.LeaseClosed && l.SecondsLeft >= 0 && (left < 0 || l.SecondsLeft < left) {
			left = l.SecondsLeft
		}
	}
	if left >= 0 {
		fmt.Fprintf(w, "escrow:     %s, which lasts %s at the current rate\n", money.Format(in.Escrow), time.Duration(left)*time.Second)
	} else {
		fmt.Fprintf(w, "escrow:     %s\n", money.Format(in.Escrow))
	}
}

func newStoreRmCmd(g *globals) *cobra.Command {
	var from string
	c := &cobra.Command{
		Use:   "rm ID [--from KEY]",
		Short: "Remove an object: its leases close, their escrow is refunded, the providers delete its shards",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := storage.ParseID(args[0]); err != nil {
				return err
			}
			key, err := g.storeKey(from)
			if err != nil {
				return err
			}
			sc := g.storeClient(cmd.ErrOrStderr())
			res, err := sc.Remove(cmd.Context(), key, args[0])
			if err != nil {
				return err
			}
			out := struct {
				*storeclient.RemoveResult
				Refunded uint64 `json:"refunded,string"`
			}{RemoveResult: res}
			out.Refunded = refunded(cmd.Context(), g, res.Closed)
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "removed %s in block %d\n", res.ID, res.Height)
				if len(res.Closed) > 0 {
					fmt.Fprintf(w, "closed leases %s: %s refunded\n", strings.Join(res.Closed, ", "), money.Format(out.Refunded))
				}
				fmt.Fprintf(w, "shards: %d deleted", res.Deleted)
				if res.Kept > 0 {
					fmt.Fprintf(w, ", %d kept (another of your objects uses them)", res.Kept)
				}
				if res.Deferred > 0 {
					fmt.Fprintf(w, ", %d left to the providers' garbage collectors", res.Deferred)
				}
				fmt.Fprintln(w)
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "name of the owner's key (default: demo in a devnet home)")
	return c
}

// refunded adds up the escrow refunded by the leases a remove closed. The
// object is gone either way, so a lease that cannot be read counts 0.
func refunded(ctx context.Context, g *globals, ids []string) uint64 {
	var sum uint64
	api := g.client()
	for _, s := range ids {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		if l, err := api.Lease(ctx, id); err == nil {
			sum += l.Refunded
		}
	}
	return sum
}

// openInput opens put's FILE. Stdin ("-"), a pipe or anything else that is
// not a regular file is copied to a temporary file first, since an object is
// encoded from random reads of a known size. cleanup closes, and removes the
// copy.
func openInput(path string, stdin io.Reader) (f *os.File, size int64, cleanup func(), err error) {
	var src io.Reader = stdin
	name := "stdin"
	if path != "-" {
		if f, err = os.Open(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, 0, nil, errs.E(errs.NotFound, "%s does not exist: give the path of the file to store, or - for stdin", path)
			}
			return nil, 0, nil, errs.E(errs.Invalid, "cannot read %s: %v", path, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, nil, errs.E(errs.Invalid, "cannot read %s: %v", path, err)
		}
		if st.Mode().IsRegular() {
			return f, st.Size(), func() { f.Close() }, nil
		}
		if st.IsDir() {
			f.Close()
			return nil, 0, nil, errs.E(errs.Invalid, "%s is a folder: store a file (an archive of the folder, say: tar c %s | stratus store put -)", path, path)
		}
		defer f.Close()
		src, name = f, path
	}
	tmp, err := os.CreateTemp("", "stratus-put-*")
	if err != nil {
		return nil, 0, nil, errs.E(errs.Invalid, "cannot make a temporary file to copy %s to: %v (set TMPDIR to a folder with room)", name, err)
	}
	cleanup = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	size, err = io.Copy(tmp, src)
	if err != nil {
		cleanup()
		return nil, 0, nil, errs.E(errs.Invalid, "copying %s to %s: %v (set TMPDIR to a folder with room)", name, tmp.Name(), err)
	}
	return tmp, size, cleanup, nil
}

// atomicFile is get's --out: a temporary file beside the target, renamed
// over it by commit, and removed by abort unless committed.
type atomicFile struct {
	*os.File
	target string
	mode   fs.FileMode
	done   bool
}

func createAtomic(target string) (*atomicFile, error) {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(target); err == nil {
		if !st.Mode().IsRegular() {
			return nil, errs.E(errs.Invalid, "--out %s is not a regular file: name a file to write", target)
		}
		mode = st.Mode().Perm()
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.partial")
	if err != nil {
		return nil, errs.E(errs.Invalid, "cannot write to %s: %v", dir, err)
	}
	return &atomicFile{File: f, target: target, mode: mode}, nil
}

func (a *atomicFile) commit() error {
	name := a.Name()
	err := a.Chmod(a.mode)
	if err == nil {
		err = a.Sync()
	}
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, a.target)
	}
	if err != nil {
		os.Remove(name)
		a.done = true
		return errs.E(errs.Invalid, "writing %s: %v", a.target, err)
	}
	a.done = true
	// Make the rename itself durable; a failure here loses nothing.
	if d, err := os.Open(filepath.Dir(a.target)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (a *atomicFile) abort() {
	if !a.done {
		a.Close()
		os.Remove(a.Name())
	}
}

// byteRange is a --range. From and To are byte offsets, both included; To
// < 0 reads to the end, so {To: -1} is the whole object. Last > 0 selects
// the last Last bytes instead.
type byteRange struct{ From, To, Last int64 }

// parseRange reads a --range as an HTTP byte range without the unit:
// "0-99", "100-" or "-100"; a "bytes=" prefix is allowed.
func parseRange(s string) (byteRange, error) {
	bad := errs.E(errs.Invalid, "range %q: write START-END (bytes, both included, e.g. 0-99), START- (to the end) or -N (the last N bytes)", s)
	a, b, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(s), "bytes="), "-")
	if !ok {
		return byteRange{}, bad
	}
	num := func(t string) (int64, bool) {
		if t == "" || strings.TrimLeft(t, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(t, 10, 64)
		return n, err == nil
	}
	switch {
	case a == "":
		n, ok := num(b)
		if !ok || n == 0 {
			return byteRange{}, bad
		}
		return byteRange{Last: n}, nil
	case b == "":
		n, ok := num(a)
		if !ok {
			return byteRange{}, bad
		}
		return byteRange{From: n, To: -1}, nil
	}
	from, ok1 := num(a)
	to, ok2 := num(b)
	if !ok1 || !ok2 {
		return byteRange{}, bad
	}
	if to < from {
		return byteRange{}, errs.E(errs.Invalid, "range %q ends before it starts: write START-END with END >= START", s)
	}
	return byteRange{From: from, To: to}, nil
}

// options returns the GetOptions offset and length of r in an object of
// size bytes (size matters only for Last).
func (r byteRange) options(size int64) (offset, length int64) {
	switch {
	case r.Last > 0:
		offset = max(0, size-r.Last)
		return offset, size - offset
	case r.To < 0:
		return r.From, -1
	}
	return r.From, r.To - r.From + 1
}

// parseDuration reads a Go duration ("90m", "720h") or days, alone or
// followed by a Go duration ("30d", "1.5d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	bad := errs.E(errs.Invalid, "duration %q: write a Go duration such as 90m or 720h, or days such as 30d or 1d12h", s)
	days, rest, hasDays := strings.Cut(t, "d")
	if !hasDays {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, bad
		}
		if d < 0 {
			return 0, errs.E(errs.Invalid, "duration %q is negative", s)
		}
		return d, nil
	}
	if days == "" || strings.TrimLeft(days, "0123456789.") != "" {
		return 0, bad
	}
	r, ok := new(big.Rat).SetString(days)
	if !ok {
		return 0, bad
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(24*time.Hour)))
	var extra time.Duration
	if rest != "" {
		var err error
		if extra, err = time.ParseDuration(rest); err != nil || extra < 0 || strings.HasPrefix(rest, "+") {
			return 0, bad
		}
	}
	r.Add(r, new(big.Rat).SetInt64(int64(extra)))
	// Round down to whole nanoseconds, as time.ParseDuration does.
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, errs.E(errs.Invalid, "duration %q is too long: at most about 290 years", s)
	}
	return time.Duration(n.Int64()), nil
}

// formatBytes shows a size in the largest binary unit it reaches: whole
// when it is a whole number of them, else to one decimal.
func formatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for i < len(units)-1 && n>>(10*(i+1)) > 0 {
		i++
	}
	if i == 0 || n%(1<<(10*i)) == 0 {
		return fmt.Sprintf("%d%s", n>>(10*i), units[i])
	}
	return fmt.Sprintf("%.1f%s", float64(n)/float64(int64(1)<<(10*i)), units[i])
}

// formatMs shows a unix-millisecond time as lease.go does, "-" for none.
func formatMs(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func joinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(s, ", ")
}
