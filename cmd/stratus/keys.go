package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

func newKeysCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "Create, list, show, export and import keys"}
	c.AddCommand(
		&cobra.Command{
			Use:   "new NAME",
			Short: "Create a key and print its address (did:key)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				pass, err := g.passphrase(true)
				if err != nil {
					return err
				}
				k, mnemonic, err := g.keystore().Create(args[0], pass)
				if err != nil {
					return err
				}
				info := identity.KeyInfo{Name: k.Name, Address: k.Address().String()}
				if info.Name == "" {
					info.Name = args[0]
				}
				return g.print(cmd.OutOrStdout(), info, func(w io.Writer) {
					fmt.Fprintln(w, info.Address)
					fmt.Fprintf(cmd.ErrOrStderr(), "Key %q created. Write down its recovery phrase; it is shown only here and by `stratus keys export %s`:\n\n%s\n\n", args[0], args[0], mnemonic)
				})
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List the keys in --home",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				list, err := g.keystore().List()
				if err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), list, func(w io.Writer) {
					if len(list) == 0 {
						fmt.Fprintf(w, "No keys in %s. Create one with `stratus keys new NAME`.\n", g.home)
					}
					for _, k := range list {
						fmt.Fprintf(w, "%-16s %s\n", k.Name, k.Address)
					}
				})
			},
		},
		&cobra.Command{
			Use:   "show NAME",
			Short: "Show a key's address",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				info, err := g.keystore().Show(args[0])
				if err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), info, func(w io.Writer) { fmt.Fprintln(w, info.Address) })
			},
		},
		&cobra.Command{
			Use:   "export NAME",
			Short: "Print a key's BIP-39 recovery phrase",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if _, err := g.keystore().Show(args[0]); err != nil {
					return err
				}
				pass, err := g.passphrase(false)
				if err != nil {
					return err
				}
				m, err := g.keystore().ExportMnemonic(args[0], pass)
				if err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), map[string]string{"name": args[0], "mnemonic": m}, func(w io.Writer) { fmt.Fprintln(w, m) })
			},
		},
		&cobra.Command{
			Use:   "import NAME",
			Short: "Recover a key from its recovery phrase, read from standard input",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if term.IsTerminal(int(os.Stdin.Fd())) {
					fmt.Fprint(cmd.ErrOrStderr(), "Recovery phrase: ")
				}
				raw, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4096))
				if err != nil {
					return err
				}
				mnemonic := strings.TrimSpace(string(raw))
				if mnemonic == "" {
					return errs.E(errs.Invalid, "no recovery phrase on standard input: pipe it in, e.g. `stratus keys import %s < phrase.txt`", args[0])
				}
				pass, err := g.passphrase(true)
				if err != nil {
					return err
				}
				k, err := g.keystore().Import(args[0], mnemonic, pass)
				if err != nil {
					return err
				}
				info := identity.KeyInfo{Name: args[0], Address: k.Address().String()}
				return g.print(cmd.OutOrStdout(), info, func(w io.Writer) { fmt.Fprintln(w, info.Address) })
			},
		},
	)
	return c
}
