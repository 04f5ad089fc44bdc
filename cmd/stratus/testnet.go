package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/internal/testnet"
	"github.com/stratus-cloud/stratus/node"
)

func newTestnetCmd(g *globals) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "testnet",
		Short: "Run a network of separate node processes on this machine",
		Long: `testnet lays out and runs N validators as separate processes on loopback,
the same topology as production. Keys in a testnet have an empty passphrase
unless STRATUS_PASSPHRASE is set: development only.`,
	}
	c.PersistentFlags().StringVar(&dir, "dir", "", "folder of the testnet (required)")
	needDir := func() error {
		if dir == "" {
			return errs.E(errs.Invalid, "pass --dir DIR, the testnet's folder")
		}
		return nil
	}
	printStatus := func(cmd *cobra.Command, sts []testnet.NodeStatus) error {
		return g.print(cmd.OutOrStdout(), sts, func(w io.Writer) {
			fmt.Fprintf(w, "%-12s %-10s %-7s %-8s %-28s %s\n", "NAME", "ROLE", "UP", "PID", "API", "ADDRESS")
			for _, s := range sts {
				pid := "-"
				if s.PID > 0 {
					pid = fmt.Sprint(s.PID)
				}
				fmt.Fprintf(w, "%-12s %-10s %-7v %-8s %-28s %s\n", s.Name, s.Role, s.Up, pid, s.API, s.Address)
			}
		})
	}
	var validators, storage, compute int
	initCmd := &cobra.Command{
		Use:   "init --validators N [--storage M] [--compute K] --dir DIR",
		Short: "Write the node homes, genesis and a funded client key",
		Long: `init writes a testnet under DIR: N validator homes (validator0 ...), M storage
provider homes (storage0 ...), K compute provider homes (compute0 ...), one
genesis that funds each operator and registers each storage provider (1 TiB
at the reference price, its shard API on a loopback port of its own) and
each compute provider (64cu at the reference price, its function server on a
loopback port of its own), and a client home with the funded key "demo".
A storage or compute home runs only its provider, reading the ledger from a
validator's API (validator0, validator1, ... in turn). Functions need both:
their modules are stored objects.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(); err != nil {
				return err
			}
			size := node.TestnetSize{Validators: validators, Storage: storage, Compute: compute}
			nodes, err := node.InitTestnetOf(dir, size, os.Getenv("STRATUS_PASSPHRASE"))
			if err != nil {
				return withKind(err, errs.Invalid)
			}
			client := node.ClientHome(dir)
			out := map[string]any{"dir": dir, "client_home": client, "nodes": nodes}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				switch {
				case storage == 0 && compute == 0:
					fmt.Fprintf(w, "Testnet of %d validators written to %s.\n", validators, dir)
				case compute == 0:
					fmt.Fprintf(w, "Testnet of %d validators and %d storage providers written to %s.\n", validators, storage, dir)
				default:
					fmt.Fprintf(w, "Testnet of %d validators, %d storage providers and %d compute providers written to %s.\n", validators, storage, compute, dir)
				}
				for _, n := range nodes {
					fmt.Fprintf(w, "  %-12s %s\n", n.Name, n.Home)
				}
				fmt.Fprintf(w, "Client home with the funded key \"demo\": %s\n\nStart it with:\n  stratus testnet start --dir %s\n", client, dir)
			})
		},
	}
	initCmd.Flags().IntVar(&validators, "validators", 4, "number of validators")
	initCmd.Flags().IntVar(&storage, "storage", 0, "number of storage providers, each a process and home of its own")
	initCmd.Flags().IntVar(&compute, "compute", 0, "number of compute providers, each a process and home of its own")
	start := &cobra.Command{
		Use:   "start --dir DIR",
		Short: "Start one process per node and wait until they answer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			sts, err := testnet.Start(cmd.Context(), dir, exe)
			if err != nil {
				return withKind(err, errs.Unavailable)
			}
			if err := printStatus(cmd, sts); err != nil {
				return err
			}
			if g.output == "text" {
				fmt.Fprintf(cmd.OutOrStdout(), "\nUse the client home: stratus --home %s status\n", filepath.Join(dir, "client"))
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show each node: role, operator address, pid, API and whether it is up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(); err != nil {
				return err
			}
			sts, err := testnet.Status(dir)
			if err != nil {
				return withKind(err, errs.NotFound)
			}
			return printStatus(cmd, sts)
		},
	}
	stop := &cobra.Command{
		Use:   "stop --dir DIR",
		Short: "Stop every node of the testnet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needDir(); err != nil {
				return err
			}
			sts, err := testnet.Stop(dir)
			if err != nil {
				return withKind(err, errs.NotFound)
			}
			return printStatus(cmd, sts)
		},
	}
	c.AddCommand(initCmd, start, status, stop)
	return c
}

// withKind gives err kind k unless it already has one.
func withKind(err error, k errs.Kind) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	return &errs.Error{Kind: k, Msg: err.Error(), Err: err}
}
