package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/money"
)

func newAccountCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "account", Short: "Inspect accounts"}
	c.AddCommand(&cobra.Command{
		Use:   "show DID|KEY",
		Short: "Show an account's balance and nonce",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := g.resolveAddress(args[0])
			if err != nil {
				return err
			}
			a, err := g.client().Account(cmd.Context(), addr.String())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), a, func(w io.Writer) {
				bal, _ := money.ParseUstr(a.Balance)
				fmt.Fprintf(w, "address: %s\nbalance: %s (%s ustr)\nnonce:   %d\n", a.Address, money.Format(bal), a.Balance, a.Nonce)
			})
		},
	})
	c.AddCommand(newAccountHistoryCmd(g))
	return c
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the node's chain, height and validators",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), st, func(w io.Writer) {
				fmt.Fprintf(w, "node:        %s\nchain:       %s\nheight:      %d\nblock time:  %s\napp hash:    %s\ncatching up: %v\n", c.BaseURL(), st.ChainID, st.Height, st.LatestBlockTime.UTC().Format("2006-01-02T15:04:05.000Z"), st.AppHash, st.CatchingUp)
				fmt.Fprintf(w, "validators:\n")
				for _, v := range st.Validators {
					fmt.Fprintf(w, "  %-12s power %-4d %s\n", v.Name, v.Power, v.Operator)
				}
			})
		},
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
