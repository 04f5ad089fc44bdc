package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/tokens"
)

func newTokenCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Issue, send, mint, burn and show user-issued tokens (docs/tokens.md)"}
	c.AddCommand(newTokenCreateCmd(g), newTokenSendCmd(g), newTokenMintCmd(g), newTokenBurnCmd(g), newTokenShowCmd(g))
	return c
}

// tokenTx is what the token commands print after a transaction.
type tokenTx struct {
	Denom  string `json:"denom"`
	Amount string `json:"amount,omitempty"` // in the token's smallest unit
	Hash   string `json:"hash"`
	Height int64  `json:"height"`
}

// token fetches a token's record, for its decimals. SYMBOL or DENOM both
// name it.
func (g *globals) token(ctx context.Context, name string) (node.TokenView, error) {
	denom := name
	if tokens.ValidSymbol(name) == nil {
		denom = tokens.DenomOf(name)
	}
	var t node.TokenView
	return t, g.client().Get(ctx, "/v1/tokens/"+url.PathEscape(denom), &t)
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var f txFlags
	var m tokens.Create
	var supply string
	c := &cobra.Command{
		Use:   "create SYMBOL --supply AMOUNT [--decimals N] [--name NAME] [--mintable] [--burnable]",
		Short: "Issue a token: its whole supply goes to --from; the creation fee goes to the treasury",
		Example: `  stratus token create GOLD --supply 1000000 --decimals 2 --name "Gold" --from demo
  stratus token create SEAT --supply 0 --mintable --from demo`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m.Symbol = args[0]
			amt, err := tokens.ParseAmount(supply, m.Decimals)
			if err != nil {
				return err
			}
			m.Supply = amt
			res, err := g.submit(cmd.Context(), &f, &m)
			if err != nil {
				return err
			}
			out := tokenTx{Denom: tokens.DenomOf(m.Symbol), Amount: ledger.FormatInt(m.Supply), Hash: res.Hash, Height: res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "issued %s (%s): %s to the issuer\nhash:   %s\nheight: %d\n", m.Symbol, out.Denom, tokens.FormatAmount(m.Supply, m.Decimals), res.Hash, res.Height)
			})
		},
	}
	f.register(c)
	c.Flags().StringVar(&supply, "supply", "", "initial supply, with at most --decimals places (required; 0 for a mintable token issued empty)")
	c.Flags().Uint8Var(&m.Decimals, "decimals", 0, "how many decimal places amounts are shown with (at most 18)")
	c.Flags().StringVar(&m.Name, "name", "", "a name for people, up to 64 bytes")
	c.Flags().BoolVar(&m.Mintable, "mintable", false, "let the issuer mint more later")
	c.Flags().BoolVar(&m.Burnable, "burnable", false, "let holders burn theirs")
	c.MarkFlagRequired("supply")
	return c
}

// tokenAmountCmd builds send, mint and burn: each names a token and an
// amount written with the token's decimals.
func tokenAmountCmd(g *globals, use, short, example string, nargs int, msg func(t node.TokenView, args []string, amount uint64) (ledger.Msg, error), done string) *cobra.Command {
	var f txFlags
	c := &cobra.Command{
		Use: use, Short: short, Example: example,
		Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.token(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			amt, err := tokens.ParseAmount(args[len(args)-1], t.Decimals)
			if err != nil {
				return err
			}
			m, err := msg(t, args, amt)
			if err != nil {
				return err
			}
			res, err := g.submit(cmd.Context(), &f, m)
			if err != nil {
				return err
			}
			out := tokenTx{Denom: t.Denom, Amount: ledger.FormatInt(amt), Hash: res.Hash, Height: res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "%s %s %s\nhash:   %s\nheight: %d\n", done, tokens.FormatAmount(amt, t.Decimals), t.Symbol, res.Hash, res.Height)
			})
		},
	}
	f.register(c)
	return c
}

func newTokenSendCmd(g *globals) *cobra.Command {
	return tokenAmountCmd(g, "send TOKEN TO AMOUNT", "Send a token (SYMBOL or denomination) to a did:key or key name",
		"  stratus token send GOLD alice 12.5 --from demo", 3,
		func(t node.TokenView, args []string, amt uint64) (ledger.Msg, error) {
			to, err := g.resolveAddress(args[1])
			if err != nil {
				return nil, err
			}
			return &ledger.Transfer{To: to, Amount: amt, Denom: t.Denom}, nil
		}, "sent")
}

func newTokenMintCmd(g *globals) *cobra.Command {
	return tokenAmountCmd(g, "mint TOKEN TO AMOUNT", "Mint more of a mintable token you issued, for a did:key or key name",
		"  stratus token mint SEAT alice 3 --from demo", 3,
		func(t node.TokenView, args []string, amt uint64) (ledger.Msg, error) {
			to, err := g.resolveAddress(args[1])
			if err != nil {
				return nil, err
			}
			return &tokens.Mint{Denom: t.Denom, To: to, Amount: amt}, nil
		}, "minted")
}

func newTokenBurnCmd(g *globals) *cobra.Command {
	return tokenAmountCmd(g, "burn TOKEN AMOUNT", "Burn some of a burnable token you hold",
		"  stratus token burn GOLD 1.5 --from demo", 2,
		func(t node.TokenView, _ []string, amt uint64) (ledger.Msg, error) {
			return &tokens.Burn{Denom: t.Denom, Amount: amt}, nil
		}, "burnt")
}

func newTokenShowCmd(g *globals) *cobra.Command {
	var holder string
	c := &cobra.Command{
		Use:   "show TOKEN [--holder DID|KEY]",
		Short: "Show a token (SYMBOL or denomination), and with --holder what an account holds of it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := g.token(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := struct {
				node.TokenView
				Holder  string `json:"holder,omitempty"`
				Balance string `json:"balance,omitempty"`
			}{TokenView: t}
			if holder != "" {
				a, err := g.resolveAddress(holder)
				if err != nil {
					return err
				}
				var b node.TokenBalance
				if err := g.client().Get(cmd.Context(), "/v1/tokens/"+url.PathEscape(t.Denom)+"/balances/"+a.String(), &b); err != nil {
					return err
				}
				out.Holder, out.Balance = b.Address, b.Balance
			}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				supply, _ := tokens.ParseAmount(t.Supply, 0)
				fmt.Fprintf(w, "token:    %s (%s)\nname:     %s\ndecimals: %d\nsupply:   %s\nissuer:   %s\nmintable: %v\nburnable: %v\n",
					t.Symbol, t.Denom, t.Name, t.Decimals, tokens.FormatAmount(supply, t.Decimals), t.Issuer, t.Mintable, t.Burnable)
				if out.Holder != "" {
					bal, _ := tokens.ParseAmount(out.Balance, 0)
					fmt.Fprintf(w, "holder:   %s\nbalance:  %s %s\n", out.Holder, tokens.FormatAmount(bal, t.Decimals), t.Symbol)
				}
			})
		},
	}
	c.Flags().StringVar(&holder, "holder", "", "also show what this did:key or key name holds")
	return c
}
