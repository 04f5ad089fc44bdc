package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
)

func parseLeaseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, errs.E(errs.Invalid, "%q is not a lease id: see `stratus lease list`", s)
	}
	return id, nil
}

// parseSplit reads "DID:BPS,..." where DID may also be a key name,
// "provider" or "treasury".
func (g *globals) parseSplit(s string) ([]market.Payee, error) {
	if s == "" {
		return nil, nil
	}
	var out []market.Payee
	for _, part := range strings.Split(s, ",") {
		i := strings.LastIndex(part, ":")
		if i <= 0 {
			return nil, errs.E(errs.Invalid, "split entry %q: write PAYEE:BPS, e.g. provider:9000,treasury:300,did:key:...:700", part)
		}
		who, b := part[:i], part[i+1:]
		bps, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			return nil, errs.E(errs.Invalid, "split entry %q: %q is not a number of basis points", part, b)
		}
		if who != "provider" && who != market.PayeeTreasury {
			a, err := g.resolveAddress(who)
			if err != nil {
				return nil, err
			}
			who = a.String()
		}
		out = append(out, market.Payee{To: who, Bps: bps})
	}
	return out, nil
}

// leaseArg fetches the lease an argument names.
func (g *globals) leaseArg(cmd *cobra.Command, arg string) (market.LeaseView, error) {
	id, err := parseLeaseID(arg)
	if err != nil {
		return market.LeaseView{}, err
	}
	return g.client().Lease(cmd.Context(), id)
}

func leaseIDFromEvents(res api.TxResult) string {
	for _, e := range res.Events {
		if k := market.Events.LeaseOpened; e.Type == k.Type {
			return e.Attrs[k.Key("lease")]
		}
	}
	return ""
}

func newLeaseCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "lease", Short: "Rent storage or compute: open, show, list, topup, close, ack, sla"}

	var f txFlags
	var resource, quantity, deposit, maxPrice, provider, split string
	var slaBps uint64
	var slaWindow time.Duration
	var float bool
	open := &cobra.Command{
		Use:   "open --from KEY --resource storage|compute --quantity Q --deposit AMOUNT",
		Short: "Open a lease; the market picks the provider unless --provider names one",
		Example: `  stratus lease open --from demo --resource storage --quantity 1GiB --deposit 5STR
  stratus lease open --from demo --resource compute --quantity 2cu --deposit 10STR --sla 9900 \
      --split provider:9000,alice:700,treasury:300`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if resource != market.ClassStorage && resource != market.ClassCompute {
				return errs.E(errs.Invalid, "--resource must be storage or compute")
			}
			q, err := parseQuantity(quantity, resource)
			if err != nil {
				return err
			}
			if deposit == "" {
				return errs.E(errs.Invalid, "lease open needs --deposit AMOUNT, the escrow the lease is paid from (e.g. --deposit 5STR)")
			}
			dep, err := money.Parse(deposit)
			if err != nil {
				return err
			}
			m := &market.OpenLease{Class: resource, Quantity: q, Deposit: dep, Float: float}
			if maxPrice != "" {
				if m.MaxPrice, err = parsePrice(maxPrice, resource); err != nil {
					return err
				}
			}
			if provider != "" {
				a, err := g.resolveAddress(provider)
				if err != nil {
					return err
				}
				m.Provider = &a
			}
			if slaBps > 0 {
				m.SLA = market.SLA{TargetBps: slaBps, WindowSeconds: int64(slaWindow / time.Second)}
			}
			if m.Split, err = g.parseSplit(split); err != nil {
				return err
			}
			res, err := g.submit(cmd.Context(), &f, m)
			if err != nil {
				return err
			}
			id := leaseIDFromEvents(res)
			return g.print(cmd.OutOrStdout(), map[string]any{"id": id, "hash": res.Hash, "height": res.Height, "state": market.LeasePending}, func(w io.Writer) {
				fmt.Fprintf(w, "lease %s opened in block %d; it becomes active when the provider acknowledges it\nsee it with: stratus lease show %s\n", id, res.Height, id)
			})
		},
	}
	f.register(open)
	open.Flags().StringVar(&resource, "resource", "", "storage or compute")
	open.Flags().StringVar(&quantity, "quantity", "", "how much: 1GiB, 512MiB, 2cu")
	open.Flags().StringVar(&deposit, "deposit", "", "escrow to deposit, e.g. 5STR")
	open.Flags().StringVar(&maxPrice, "max-price", "", "highest price to accept, e.g. 2STR/GiB-month or 0.02STR/cu-hour")
	open.Flags().StringVar(&provider, "provider", "", "a provider's DID (or key name) instead of the market's choice")
	open.Flags().Uint64Var(&slaBps, "sla", 0, "availability target in basis points, e.g. 9900 for 99%")
	open.Flags().DurationVar(&slaWindow, "sla-window", time.Hour, "SLA accounting window, a whole number of market epochs")
	open.Flags().StringVar(&split, "split", "", "payees and basis points: provider:9000,alice:700,treasury:300 (default: all to the provider)")
	open.Flags().BoolVar(&float, "float", false, "let the rate follow the provider's price, re-rated at every market epoch (capped by --max-price)")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a lease: state, rate, escrow, what each payee was paid, refunds, time left",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.leaseArg(cmd, args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), l, func(w io.Writer) { printLease(w, l) })
		},
	}

	var consumer, ofProvider, state string
	var pf pageFlags
	list := &cobra.Command{
		Use:   "list [--consumer DID|KEY] [--provider DID|KEY] [--state open|pending|active|grace|closed] [--limit N] [--after ID]",
		Short: "List the leases of a consumer (default: the demo key) or a provider, or the consumer's with that provider",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if consumer == "" && ofProvider == "" {
				consumer = "demo"
			}
			f := client.LeaseFilter{State: state}
			for _, r := range []struct {
				name string
				did  *string
			}{{consumer, &f.Consumer}, {ofProvider, &f.Provider}} {
				if r.name == "" {
					continue
				}
				a, err := g.resolveAddress(r.name)
				if err != nil {
					return err
				}
				*r.did = a.String()
			}
			a := f.Consumer
			if a == "" {
				a = f.Provider
			}
			c := g.client()
			pg, err := fetchList(cmd.Context(), pf,
				func(ctx context.Context, o client.PageOptions) (api.Page[market.LeaseView], error) {
					return c.LeasesPage(ctx, f, o)
				},
				func(ctx context.Context) ([]market.LeaseView, error) { return c.AllLeases(ctx, f) })
			if err != nil {
				return err
			}
			ls := pg.Items
			return printList(g, cmd, pf, pg, func(w io.Writer) {
				if len(ls) == 0 {
					fmt.Fprintf(w, "No leases for %s.\n", a)
				}
				fmt.Fprintf(w, "%-6s %-8s %-8s %-10s %-14s %s\n", "ID", "STATE", "CLASS", "QUANTITY", "ESCROW", "PROVIDER")
				for _, l := range ls {
					fmt.Fprintf(w, "%-6d %-8s %-8s %-10s %-14s %s\n", l.ID, l.State, l.Class, formatQuantity(l.Quantity, l.Class), money.Format(l.Escrow), l.Provider)
				}
			})
		},
	}
	list.Flags().StringVar(&consumer, "consumer", "", "the consumer's DID or key name")
	list.Flags().StringVar(&ofProvider, "provider", "", "the provider's DID or key name")
	list.Flags().StringVar(&state, "state", "", "only leases in this state: open (pending, active or grace), pending, active, grace or closed")
	pf.register(list)

	var tf txFlags
	var amount string
	topup := &cobra.Command{
		Use:   "topup ID --from KEY --amount AMOUNT",
		Short: "Add escrow to a lease; a lease in grace becomes active again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLeaseID(args[0])
			if err != nil {
				return err
			}
			amt, err := money.Parse(amount)
			if err != nil {
				return err
			}
			res, err := g.submit(cmd.Context(), &tf, &market.TopupLease{ID: id, Amount: amt})
			return g.printTx(cmd, res, err, fmt.Sprintf("lease %d topped up with %s", id, money.Format(amt)))
		},
	}
	tf.register(topup)
	topup.Flags().StringVar(&amount, "amount", "", "amount to add, e.g. 5STR")

	byID := func(use, short string, msg func(uint64) ledger.Msg, done string) *cobra.Command {
		var sf txFlags
		cc := &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := parseLeaseID(args[0])
				if err != nil {
					return err
				}
				res, err := g.submit(cmd.Context(), &sf, msg(id))
				return g.printTx(cmd, res, err, fmt.Sprintf("lease %d %s", id, done))
			},
		}
		sf.register(cc)
		return cc
	}
	closeCmd := byID("close ID --from KEY", "Close a lease: it is settled and the rest of the escrow is refunded",
		func(id uint64) ledger.Msg { return &market.CloseLease{ID: id} }, "closed")
	closeRun := closeCmd.RunE
	closeCmd.RunE = func(cmd *cobra.Command, args []string) error {
		return closeAdvice(closeRun(cmd, args))
	}
	ack := byID("ack ID --from PROVIDER_KEY", "Acknowledge a lease as its provider: it becomes active and starts paying",
		func(id uint64) ledger.Msg { return &market.AckLease{ID: id} }, "acknowledged")

	sla := &cobra.Command{
		Use:   "sla ID",
		Short: "Show each SLA window of a lease: availability, breaches and refunds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.leaseArg(cmd, args[0])
			if err != nil {
				return err
			}
			id := l.ID
			out := map[string]any{"id": strconv.FormatUint(id, 10), "sla": l.SLA, "windows": l.Windows,
				"consecutive_breaches": l.ConsecutiveBreaches, "sla_refunded": strconv.FormatUint(l.SLARefunded, 10)}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				if l.SLA.TargetBps == 0 {
					fmt.Fprintf(w, "lease %d has no SLA\n", id)
					return
				}
				fmt.Fprintf(w, "lease %d: target %s over %s windows; refunded %s; %d breaches in a row\n",
					id, bpsPercent(l.SLA.TargetBps), time.Duration(l.SLA.WindowSeconds)*time.Second, money.Format(l.SLARefunded), l.ConsecutiveBreaches)
				fmt.Fprintf(w, "%-6s %-20s %-13s %-7s %-12s %s\n", "WINDOW", "END", "AVAILABILITY", "BREACH", "CHARGES", "REFUND")
				for _, win := range l.Windows {
					avail := "no quorum"
					if win.Quorum {
						avail = bpsPercent(win.AvailabilityBps)
					}
					refund := money.Format(win.Refund)
					if win.Shortfall > 0 {
						refund += fmt.Sprintf(" (%s unpaid: the provider's collateral ran out)", money.Format(win.Shortfall))
					}
					if win.ProRata {
						refund += " (pro rata: cut short by the close)"
					}
					fmt.Fprintf(w, "%-6d %-20s %-13s %-7v %-12s %s\n", win.Index, time.UnixMilli(win.EndMs).UTC().Format("2006-01-02T15:04:05Z"), avail, win.Breach, money.Format(win.Charges), refund)
				}
			})
		},
	}
	c.AddCommand(open, show, list, topup, closeCmd, ack, sla)
	return c
}

func bpsPercent(b uint64) string { return fmt.Sprintf("%d.%02d%%", b/100, b%100) }

func (g *globals) printTx(cmd *cobra.Command, res api.TxResult, err error, done string) error {
	if err != nil {
		return err
	}
	return g.print(cmd.OutOrStdout(), map[string]any{"hash": res.Hash, "height": res.Height}, func(w io.Writer) {
		fmt.Fprintf(w, "%s in block %d\n", done, res.Height)
	})
}

func printLease(w io.Writer, l market.LeaseView) {
	at := func(ms int64) string {
		if ms == 0 {
			return "-"
		}
		return time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "lease:      %d (%s)\n", l.ID, l.State)
	if l.CloseReason != "" {
		fmt.Fprintf(w, "closed:     %s, reason %s\n", at(l.ClosedMs), l.CloseReason)
	}
	fmt.Fprintf(w, "consumer:   %s\nprovider:   %s\nresource:   %s %s\n", l.Consumer, l.Provider, formatQuantity(l.Quantity, l.Class), l.Class)
	fmt.Fprintf(w, "price:      %s (rate %s/day)\n", formatPrice(l.Price, l.Class), money.Format(mulDivFloor(l.Rate, 86400, market.NanoPerUstr)))
	fmt.Fprintf(w, "deposited:  %s\nescrow:     %s\npaid:       %s\nrefunded:   %s (escrow) + %s (SLA, from collateral)\n",
		money.Format(l.Deposited), money.Format(l.Escrow), money.Format(l.Settled), money.Format(l.Refunded), money.Format(l.SLARefunded))
	for _, p := range l.Split {
		fmt.Fprintf(w, "  payee %-56s %5s  paid %s\n", p.To, bpsPercent(p.Bps), money.Format(p.Paid))
	}
	if l.Pending > 0 {
		fmt.Fprintf(w, "  pending rounding: %s\n", money.Format(l.Pending))
	}
	if l.State == market.LeaseActive || l.State == market.LeaseGrace {
		left := "more than a lifetime"
		if l.SecondsLeft >= 0 {
			left = (time.Duration(l.SecondsLeft) * time.Second).String()
		}
		fmt.Fprintf(w, "time left:  %s at the current rate\n", left)
	}
	fmt.Fprintf(w, "opened:     %s\nactive:     %s\n", at(l.OpenedMs), at(l.ActivatedMs))
	if l.SLA.TargetBps > 0 {
		fmt.Fprintf(w, "sla:        %s per %s window, %d windows, %d breaches in a row\n", bpsPercent(l.SLA.TargetBps), time.Duration(l.SLA.WindowSeconds)*time.Second, l.WindowCount, l.ConsecutiveBreaches)
	}
}

func newPricesCmd(g *globals) *cobra.Command {
	var history string
	var pf pageFlags
	c := &cobra.Command{
		Use:   "prices [--history storage|compute [--limit N] [--after EPOCH]]",
		Short: "Show the reference prices, or one class's price history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if history != "" {
				if history != market.ClassStorage && history != market.ClassCompute {
					return errs.E(errs.Invalid, "--history must be storage or compute")
				}
				pg, err := fetchList(cmd.Context(), pf,
					func(ctx context.Context, o client.PageOptions) (api.Page[market.PricePoint], error) {
						return g.client().PriceHistoryPage(ctx, history, o)
					},
					func(ctx context.Context) ([]market.PricePoint, error) { return g.client().PriceHistory(ctx, history) })
				if err != nil {
					return err
				}
				h := pg.Items
				return printList(g, cmd, pf, pg, func(w io.Writer) {
					for _, p := range h {
						fmt.Fprintf(w, "%s  epoch %-10d %s\n", time.UnixMilli(p.StartMs).UTC().Format(time.RFC3339), p.Epoch, formatPrice(p.Reference, history))
					}
				})
			}
			ps, err := g.client().Prices(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ps, func(w io.Writer) {
				for _, p := range ps {
					fmt.Fprintf(w, "%-8s %-24s utilization %s of %s\n", p.Class, formatPrice(p.Reference, p.Class), bpsPercent(p.UtilizationBps), formatQuantity(p.Capacity.Capacity, p.Class))
				}
			})
		},
	}
	c.Flags().StringVar(&history, "history", "", "show this class's reference price by epoch: the latest 1000 epochs, or with --limit the latest N, or with --after EPOCH those after it")
	pf.register(c)
	return c
}

// replicaRefusal matches the ledger's refusal to close a function replica's
// lease directly (functions' LeaseHooks).
var replicaRefusal = regexp.MustCompile(`is a replica of deployment (\d+) \([^)]*\): a replica's lease closes through its deployment, by lowering its scaling \(functions/scale\) or removing it \(functions/remove\)`)

// closeAdvice turns the ledger's refusal to close a lease that a stored
// object uses (objects.LeaseInUse), or that is a function's replica, into
// advice about the store and fn commands.
func closeAdvice(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if m := replicaRefusal.FindStringSubmatchIndex(msg); m != nil {
		id := msg[m[2]:m[3]]
		at := strings.Index(msg[m[0]:m[1]], "by lowering") + m[0]
		msg = msg[:at] + "with `stratus fn scale " + id + " --replicas N` or `stratus fn rm " + id + "`" + msg[m[1]:]
		return errs.E(errs.KindOf(err), "%s", msg)
	}
	_, obj, ok := objects.LeaseInUse(msg)
	if !ok {
		return err
	}
	switch {
	case strings.Contains(msg, "remove the object first (objects/remove)"):
		msg = strings.Replace(msg, "remove the object first (objects/remove)", "remove the object first with `stratus store rm "+obj+"`", 1)
	case strings.Contains(msg, "remove those objects first (objects/remove)"):
		msg = strings.Replace(msg, "remove those objects first (objects/remove)", "remove those objects first with `stratus store rm ID` (`stratus store ls` lists them)", 1)
	default:
		return err
	}
	return errs.E(errs.KindOf(err), "%s", msg)
}
