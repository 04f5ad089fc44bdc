package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
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
	from     string
	gas      string
	gasPrice string
	memo     string
	dryRun   bool
}

func (f *txFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.from, "from", "", "name of the signing key (see `stratus keys list`)")
	c.Flags().StringVar(&f.gas, "gas", "auto", "gas limit: a number, or auto to simulate the transaction and add a margin")
	c.Flags().StringVar(&f.gasPrice, "gas-price", "", "price per gas, e.g. 2ustr (default: the chain's minimum)")
	c.Flags().StringVar(&f.memo, "memo", "", "a note stored with the transaction")
	c.Flags().BoolVar(&f.dryRun, "dry-run", false, "simulate the transaction and print what it would do and cost; send nothing")
}

// errDryRun ends a command after --dry-run printed its simulation: the
// command succeeded, and nothing was sent.
var errDryRun = errors.New("dry run: nothing sent")

// options reads the gas flags.
func (f *txFlags) options() (client.SendOptions, error) {
	o := client.SendOptions{Memo: f.memo, DryRun: f.dryRun}
	if f.gas != "" && f.gas != "auto" {
		n, err := strconv.ParseUint(f.gas, 10, 64)
		if err != nil || n == 0 {
			return o, errs.E(errs.Invalid, "--gas %q is not a gas limit: give a whole number of gas, or auto", f.gas)
		}
		o.GasLimit = n
	}
	if f.gasPrice != "" {
		p, err := money.Parse(f.gasPrice)
		if err != nil {
			return o, errs.E(errs.Invalid, "--gas-price: %v", err)
		}
		o.GasPrice = p
	}
	return o, nil
}

// submit signs msg with --from, sends it and waits for the commit. A
// transaction that is committed but fails is an error with its kind. The
// gas limit is estimated by a simulation unless --gas is given; with
// --dry-run it prints the simulation and returns errDryRun. The fee paid is
// printed after the command's own output (text only).
func (g *globals) submit(ctx context.Context, f *txFlags, msg ledger.Msg) (api.TxResult, error) {
	if err := msg.Validate(); err != nil {
		return api.TxResult{}, err
	}
	key, err := g.loadKey(f.from)
	if err != nil {
		return api.TxResult{}, err
	}
	o, err := f.options()
	if err != nil {
		return api.TxResult{}, err
	}
	res, err := g.client().Send(ctx, key, msg, o)
	if err != nil {
		return res, err
	}
	return res, g.sent(res)
}

// sent takes the result of a transaction a command sent: a dry run's is
// printed and ends the command (errDryRun); a real one's fee is printed
// after the command's output.
func (g *globals) sent(res api.TxResult) error {
	if res.DryRun {
		if err := g.print(g.stdout, res, func(w io.Writer) { printDryRun(w, res) }); err != nil {
			return err
		}
		return errDryRun
	}
	g.paid = append(g.paid, res)
	return nil
}

func printDryRun(w io.Writer, r api.TxResult) {
	price, _ := money.ParseUstr(r.GasPrice)
	fee, _ := money.ParseUstr(r.Fee)
	max := r.GasLimit * price
	fmt.Fprintf(w, "dry run: %s from %s would succeed; nothing was sent\n", r.Type, r.Signer)
	fmt.Fprintf(w, "gas:     %d (limit %d with the margin)\n", r.GasUsed, r.GasLimit)
	fmt.Fprintf(w, "fee:     %s at %dustr per gas (at most %s)\n", money.Format(fee), price, money.Format(max))
	printEvents(w, r.Events)
}

// printFees tells, after a command's output, what its transactions paid.
func (g *globals) printFees(w io.Writer) {
	if g.output != "text" {
		return
	}
	for _, r := range g.paid {
		fee, _ := money.ParseUstr(r.Fee)
		fmt.Fprintf(w, "fee:     %s (%d gas at %dustr per gas)\n", money.Format(fee), r.GasUsed, mustUstr(r.GasPrice))
	}
}

func mustUstr(s string) uint64 {
	v, _ := money.ParseUstr(s)
	return v
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
		fmt.Fprintf(w, "type:    %s\nsigner:  %s\nnonce:   %d\n", r.Type, r.Signer, r.Nonce)
		fmt.Fprintf(w, "fee:     %s (%d of %d gas at %dustr per gas)\nmsg:     %s\n", money.Format(mustUstr(r.Fee)), r.GasUsed, r.GasLimit, mustUstr(r.GasPrice), r.Msg)
	}
	printEvents(w, r.Events)
}

func printEvents(w io.Writer, evs []api.Event) {
	for _, e := range evs {
		fmt.Fprintf(w, "event:   %s", e.Type)
		for _, k := range sortedKeys(e.Attrs) {
			fmt.Fprintf(w, " %s=%s", k, e.Attrs[k])
		}
		fmt.Fprintln(w)
	}
}
