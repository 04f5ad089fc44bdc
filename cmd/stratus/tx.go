package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// txFlags are the flags of every command that signs a transaction.
type txFlags struct {
	from string
	fee  string
	memo string
}

func (f *txFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.from, "from", "", "name of the signing key (see `stratus keys list`)")
	c.Flags().StringVar(&f.fee, "fee", "", "fee to pay, e.g. 0.001STR (default: the chain's minimum)")
	c.Flags().StringVar(&f.memo, "memo", "", "a note stored with the transaction")
}

// submit signs msg with --from, sends it and waits for the commit. A
// transaction that is committed but fails is an error with its kind.
func (g *globals) submit(ctx context.Context, f *txFlags, msg ledger.Msg) (api.TxResult, error) {
	if err := msg.Validate(); err != nil {
		return api.TxResult{}, err
	}
	key, err := g.loadKey(f.from)
	if err != nil {
		return api.TxResult{}, err
	}
	var o client.SendOptions
	if f.fee != "" {
		if o.Fee, err = money.Parse(f.fee); err != nil {
			return api.TxResult{}, err
		}
	}
	o.Memo = f.memo
	return g.client().Send(ctx, key, msg, o)
}

// resolveAddress accepts a did:key or the name of a key in --home.
func (g *globals) resolveAddress(s string) (identity.Address, error) {
	if strings.HasPrefix(s, "did:") {
		return identity.ParseDID(s)
	}
	info, err := g.keystore().Show(s)
	if err != nil {
		return identity.Address{}, errs.E(errs.Invalid, "%q is neither a did:key address nor a key in %s", s, g.home)
	}
	return identity.ParseDID(info.Address)
}

func newTxCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "tx", Short: "Send and inspect transactions"}
	var f txFlags
	var to, amount string
	send := &cobra.Command{
		Use:   "send --from KEY --to DID --amount AMOUNT",
		Short: "Send STR and wait for the commit",
		Example: `  stratus tx send --from demo --to did:key:z6Mk... --amount 5STR
  stratus tx send --from demo --to alice --amount 1500ustr --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" || amount == "" {
				return errs.E(errs.Invalid, "tx send needs --to DID and --amount AMOUNT (e.g. --amount 5STR)")
			}
			amt, err := money.Parse(amount)
			if err != nil {
				return err
			}
			addr, err := g.resolveAddress(to)
			if err != nil {
				return err
			}
			res, err := g.submit(cmd.Context(), &f, &ledger.Transfer{To: addr, Amount: amt})
			if err != nil {
				return err
			}
			out := struct {
				Hash   string `json:"hash"`
				Height int64  `json:"height"`
			}{res.Hash, res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "sent %s to %s\nhash:   %s\nheight: %d\n", money.Format(amt), addr, res.Hash, res.Height)
			})
		},
	}
	f.register(send)
	send.Flags().StringVar(&to, "to", "", "recipient: a did:key address or a key name in --home")
	send.Flags().StringVar(&amount, "amount", "", "amount with a unit: 5STR, 0.25STR or 1500ustr")
	show := &cobra.Command{
		Use:   "show HASH",
		Short: "Show a committed transaction",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.client().Tx(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) { printTx(w, res) })
		},
	}
	c.AddCommand(send, show)
	return c
}

func printTx(w io.Writer, r api.TxResult) {
	status := "ok"
	if r.Code != 0 {
		status = fmt.Sprintf("failed (code %d): %s", r.Code, r.Log)
	}
	fmt.Fprintf(w, "hash:    %s\nheight:  %d\nstatus:  %s\n", r.Hash, r.Height, status)
	if r.Time != nil {
		fmt.Fprintf(w, "time:    %s\n", r.Time.UTC().Format(time.RFC3339Nano))
	}
	if r.Type != "" {
		fee, _ := money.ParseUstr(r.Fee)
		fmt.Fprintf(w, "type:    %s\nsigner:  %s\nnonce:   %d\nfee:     %s\nmsg:     %s\n", r.Type, r.Signer, r.Nonce, money.Format(fee), r.Msg)
	}
	for _, e := range r.Events {
		fmt.Fprintf(w, "event:   %s", e.Type)
		for _, k := range sortedKeys(e.Attrs) {
			fmt.Fprintf(w, " %s=%s", k, e.Attrs[k])
		}
		fmt.Fprintln(w)
	}
}
