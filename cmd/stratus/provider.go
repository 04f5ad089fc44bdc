package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/objects"
)

type offerFlags struct {
	storage, compute                        string
	pricing, storagePricing, computePricing string
}

func (o *offerFlags) register(c *cobra.Command, defaultPricing string) {
	c.Flags().StringVar(&o.storage, "storage", "", "storage capacity offered, e.g. 1TiB")
	c.Flags().StringVar(&o.compute, "compute", "", "compute capacity offered, e.g. 64cu")
	c.Flags().StringVar(&o.pricing, "pricing", defaultPricing, "pricing rule for every class offered: fixed=PRICE, reference=MULTIPLIER or utilization=BASE,SLOPE (PRICE like 1STR/GiB-month)")
	c.Flags().StringVar(&o.storagePricing, "storage-pricing", "", "pricing rule for storage only (overrides --pricing)")
	c.Flags().StringVar(&o.computePricing, "compute-pricing", "", "pricing rule for compute only (overrides --pricing)")
}

// offers builds the offers the flags describe. A class given without any
// pricing flag keeps its rule from current, if there is one.
func (o *offerFlags) offers(current []market.Offer) ([]market.Offer, error) {
	var out []market.Offer
	for _, c := range []struct{ class, qty, pricing string }{
		{market.ClassStorage, o.storage, o.storagePricing}, {market.ClassCompute, o.compute, o.computePricing},
	} {
		if c.qty == "" {
			continue
		}
		q, err := parseQuantity(c.qty, c.class)
		if err != nil {
			return nil, err
		}
		spec := c.pricing
		if spec == "" {
			spec = o.pricing
		}
		var rule market.Rule
		if spec == "" {
			for _, cur := range current {
				if cur.Class == c.class {
					rule = cur.Pricing
				}
			}
			if rule.Kind == "" {
				return nil, errs.E(errs.Invalid, "%s has no pricing yet: pass --pricing or --%s-pricing", c.class, c.class)
			}
		} else if rule, err = parseRule(spec, c.class); err != nil {
			return nil, err
		}
		out = append(out, market.Offer{Class: c.class, Capacity: q, Pricing: rule})
	}
	return out, nil
}

func newProviderCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "provider", Short: "Offer storage and compute: register, update, retire, show, list"}

	var f txFlags
	var of offerFlags
	var endpoint, region, collateral string
	register := &cobra.Command{
		Use:   "register --from KEY --endpoint URL --storage 1TiB|--compute 64cu --collateral AMOUNT",
		Short: "Register the --from key as a provider, locking collateral",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			offers, err := of.offers(nil)
			if err != nil {
				return err
			}
			if len(offers) == 0 {
				return errs.E(errs.Invalid, "offer something: --storage 1TiB and/or --compute 64cu")
			}
			col, err := money.Parse(collateral)
			if err != nil {
				return err
			}
			res, err := g.submit(cmd.Context(), &f, &market.RegisterProvider{Endpoint: endpoint, Region: region, Offers: offers, Collateral: col})
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"hash": res.Hash, "height": res.Height, "provider": res.Signer}, func(w io.Writer) {
				fmt.Fprintf(w, "provider %s registered in block %d\n", res.Signer, res.Height)
			})
		},
	}
	f.register(register)
	of.register(register, "reference=1")
	register.Flags().StringVar(&endpoint, "endpoint", "", "URL where the provider answers (its health check is ENDPOINT/healthz)")
	register.Flags().StringVar(&region, "region", "local", "region, e.g. eu-west")
	register.Flags().StringVar(&collateral, "collateral", "", "collateral to lock, e.g. 1000STR")

	var uf txFlags
	var uof offerFlags
	var uendpoint, uregion, addCollateral string
	update := &cobra.Command{
		Use:   "update --from KEY [--endpoint URL] [--storage Q] [--compute Q] [--pricing RULE] [--add-collateral AMOUNT]",
		Short: "Change a provider's endpoint, offers, pricing or collateral",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m := &market.UpdateProvider{Endpoint: uendpoint, Region: uregion}
			if uof.storage != "" || uof.compute != "" {
				// Keep the classes and rules the flags leave out.
				key, err := g.loadKey(uf.from)
				if err != nil {
					return err
				}
				cur, err := g.client().Provider(cmd.Context(), key.Address().String())
				if err != nil {
					return err
				}
				offers, err := uof.offers(cur.Offers)
				if err != nil {
					return err
				}
				for _, o := range cur.Offers {
					if (o.Class == market.ClassStorage && uof.storage == "") || (o.Class == market.ClassCompute && uof.compute == "") {
						o.Used = 0
						offers = append(offers, o)
					}
				}
				m.Offers = offers
			}
			if addCollateral != "" {
				v, err := money.Parse(addCollateral)
				if err != nil {
					return err
				}
				m.AddCollateral = v
			}
			res, err := g.submit(cmd.Context(), &uf, m)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), map[string]any{"hash": res.Hash, "height": res.Height}, func(w io.Writer) {
				fmt.Fprintf(w, "provider %s updated in block %d\n", res.Signer, res.Height)
			})
		},
	}
	uf.register(update)
	uof.register(update, "")
	update.Flags().StringVar(&uendpoint, "endpoint", "", "new endpoint URL")
	update.Flags().StringVar(&uregion, "region", "", "new region")
	update.Flags().StringVar(&addCollateral, "add-collateral", "", "collateral to add, e.g. 500STR")

	simple := func(use, short string, msg func() ledger.Msg, done string) *cobra.Command {
		var sf txFlags
		cc := &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				res, err := g.submit(cmd.Context(), &sf, msg())
				if err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), map[string]any{"hash": res.Hash, "height": res.Height}, func(w io.Writer) {
					fmt.Fprintf(w, "provider %s %s in block %d\n", res.Signer, done, res.Height)
				})
			},
		}
		sf.register(cc)
		return cc
	}
	retire := simple("retire --from KEY", "Stop taking leases; collateral unbonds after the delay once leases close",
		func() ledger.Msg { return &market.RetireProvider{} }, "is retiring")
	unbond := simple("unbond --from KEY", "Take back the collateral of a retired provider",
		func() ledger.Msg { return &market.Unbond{} }, "unbonded")

	show := &cobra.Command{
		Use:   "show DID|KEY",
		Short: "Show a provider: offers, prices, collateral, leases and score",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := g.resolveAddress(args[0])
			if err != nil {
				return err
			}
			var p struct {
				market.ProviderView
				Leases []string `json:"leases"`
				// Proofs is the provider's record of storage proofs and
				// repairs (GET /v1/providers/{did}/proofs, read in the same
				// snapshot); absent from a node that keeps none.
				Proofs *objects.ProofStats `json:"proofs,omitempty"`
			}
			if err := g.client().Get(cmd.Context(), "/v1/providers/"+addr.String(), &p); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), p, func(w io.Writer) {
				printProvider(w, p.Provider)
				if p.RefundShortfall > 0 {
					fmt.Fprintf(w, "unpaid refunds: %s (SLA refunds its collateral could not cover)\n", money.Format(p.RefundShortfall))
				}
				switch p.NoNewLeases {
				case "":
					fmt.Fprintln(w, "new leases: yes")
				case market.NoLeasesCollateral:
					fmt.Fprintf(w, "new leases: no, %s; add collateral with `stratus provider update --from KEY --add-collateral AMOUNT`\n", p.Reason)
				default:
					fmt.Fprintf(w, "new leases: no, %s\n", p.Reason)
				}
				fmt.Fprintf(w, "leases:     %v\n", p.Leases)
				if p.Proofs != nil {
					printProofStats(w, *p.Proofs)
				}
			})
		},
	}
	var pf pageFlags
	list := &cobra.Command{
		Use:   "list [--limit N] [--after DID]",
		Short: "List providers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pg, err := fetchList(cmd.Context(), pf, g.client().ProvidersPage, g.client().Providers)
			if err != nil {
				return err
			}
			ps := pg.Items
			return printList(g, cmd, pf, pg, func(w io.Writer) {
				if len(ps) == 0 {
					fmt.Fprintln(w, "No providers. Register one with `stratus provider register`.")
				}
				for i, p := range ps {
					if i > 0 {
						fmt.Fprintln(w)
					}
					printProvider(w, p)
				}
			})
		},
	}
	pf.register(list)
	c.AddCommand(register, update, retire, unbond, show, list, newProviderChallengesCmd(g))
	return c
}

func printProvider(w io.Writer, p market.Provider) {
	fmt.Fprintf(w, "provider:   %s\nstate:      %s\nendpoint:   %s\nregion:     %s\ncollateral: %s\nscore:      %d/10000 (%d breaches)\nopen leases: %d\n",
		p.Operator, p.State, p.Endpoint, p.Region, money.Format(p.Collateral), p.Score, p.Breaches, p.OpenLeases)
	if p.UnbondAtMs > 0 {
		fmt.Fprintf(w, "unbonds at: %s\n", time.UnixMilli(p.UnbondAtMs).UTC().Format(time.RFC3339))
	}
	for _, o := range p.Offers {
		fmt.Fprintf(w, "offer:      %s capacity %s used %s, pricing %s\n", o.Class, formatQuantity(o.Capacity, o.Class), formatQuantity(o.Used, o.Class), describeRule(o.Pricing, o.Class))
	}
}

func describeRule(r market.Rule, class string) string {
	switch r.Kind {
	case "fixed":
		return "fixed " + formatPrice(r.Price, class)
	case "reference":
		return fmt.Sprintf("reference x %.4g", float64(r.MultiplierBps)/10_000)
	case "utilization":
		return fmt.Sprintf("utilization from %s, +%.4g when full", formatPrice(r.Price, class), float64(r.SlopeBps)/10_000)
	}
	return r.Kind
}

func formatQuantity(q uint64, class string) string {
	if class == market.ClassCompute {
		return fmt.Sprintf("%dcu", q)
	}
	switch {
	case q >= 1<<40 && q%(1<<40) == 0:
		return fmt.Sprintf("%dTiB", q>>40)
	case q >= 1<<30 && q%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", q>>30)
	case q >= 1<<20 && q%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", q>>20)
	}
	return fmt.Sprintf("%dB", q)
}

// printProofStats prints a provider's storage proofs and repairs.
func printProofStats(w io.Writer, s objects.ProofStats) {
	fmt.Fprintf(w, "proofs:     %d passed, %d missed (%d of them failed to verify), %d missed in a row\n", s.Passed, s.Missed, s.Failed, s.Consecutive)
	fmt.Fprintf(w, "penalized:  %s\n", money.Format(s.Penalized))
	fmt.Fprintf(w, "shards:     %d lost, %d repaired for others\n", s.Lost, s.Repaired)
	if s.LostMs > 0 {
		fmt.Fprintf(w, "lost:       since %s: every shard it held was queued for repair\n", time.UnixMilli(s.LostMs).UTC().Format(time.RFC3339))
	}
}
