package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/node"
)

type listenFlags struct{ api, rpc, p2p, logLevel string }

func (l *listenFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&l.api, "api", "", "REST API listen address (default from the home's config, 127.0.0.1:7070 for a new devnet; port 0 picks a free one)")
	c.Flags().StringVar(&l.rpc, "rpc", "", "CometBFT RPC listen address (port 0 picks a free one)")
	c.Flags().StringVar(&l.p2p, "p2p", "", "CometBFT p2p listen address (port 0 picks a free one)")
	c.Flags().StringVar(&l.logLevel, "log-level", "", "debug, info, warn or error")
}

func (l *listenFlags) apply(cfg *node.Config) {
	if l.api != "" {
		cfg.API.Listen = l.api
	}
	if l.rpc != "" {
		cfg.Consensus.RPCListen = l.rpc
	}
	if l.p2p != "" {
		cfg.Consensus.P2PListen = l.p2p
	}
	if l.logLevel != "" {
		cfg.LogLevel = l.logLevel
	}
}

func newDevnetCmd(g *globals) *cobra.Command {
	var lf listenFlags
	c := &cobra.Command{
		Use:   "devnet",
		Short: "Run a whole Stratus network in this process, for development",
		Long: `devnet runs one validator with the REST API and a funded key named "demo".
Its home (--home, default ~/.stratus/devnet) is created on first start and
resumed after. Keys in a devnet home have an empty passphrase unless
STRATUS_PASSPHRASE is set: development only. Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := node.DefaultConfig()
			if node.Exists(g.home) {
				var err error
				if cfg, err = node.LoadConfig(g.home); err != nil {
					return err
				}
			}
			lf.apply(&cfg)
			if err := cfg.Validate(); err != nil {
				return err
			}
			created, err := node.InitDevnet(g.home, cfg, os.Getenv("STRATUS_PASSPHRASE"))
			if err != nil {
				return err
			}
			if created {
				// The new home's config names its built-in providers, and
				// the API port their endpoints were registered with: keep
				// it rather than pick another free one.
				if cfg, err = node.LoadConfig(g.home); err != nil {
					return err
				}
				api := cfg.API.Listen
				lf.apply(&cfg)
				if strings.HasSuffix(lf.api, ":0") {
					cfg.API.Listen = api
				}
			}
			n, err := node.Start(cmd.Context(), g.home, cfg, newLogger(cfg.LogLevel))
			if err != nil {
				return err
			}
			demo, _ := g.keystore().Show(node.DemoKey)
			info := map[string]any{"api": n.APIURL(), "rpc": n.RPCURL(), "home": g.home, "chain_id": cfg.ChainID, "demo": demo.Address, "created": created}
			err = g.print(cmd.OutOrStdout(), info, func(w io.Writer) {
				verb := "resumed from"
				if created {
					verb = "created in"
				}
				fmt.Fprintf(w, "Stratus devnet is running (%s %s).\n", verb, g.home)
				fmt.Fprintf(w, "  REST API:      %s\n  CometBFT RPC:  %s\n  chain id:      %s\n  demo key:      %s (funded)\n\n", n.APIURL(), n.RPCURL(), cfg.ChainID, demo.Address)
				fmt.Fprintf(w, "Try, in another terminal:\n  stratus --home %s keys new alice\n  stratus --home %s tx send --from demo --to alice --amount 5STR\n  stratus --home %s account show alice\n\nPress Ctrl-C to stop.\n", g.home, g.home, g.home)
			})
			if err != nil {
				n.Close()
				return err
			}
			<-cmd.Context().Done()
			if err := n.Close(); err != nil {
				return err
			}
			if g.output == "text" {
				fmt.Fprintln(cmd.OutOrStdout(), "Stratus devnet stopped.")
			}
			return nil
		},
	}
	lf.register(c)
	c.AddCommand(newDevnetStorageCmd(g))
	return c
}

func newNodeCmd(g *globals) *cobra.Command {
	var lf listenFlags
	c := &cobra.Command{
		Use:   "node",
		Short: "Run the node configured in --home (one host of a testnet or production network)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := node.LoadConfig(g.home)
			if err != nil {
				return err
			}
			lf.apply(&cfg)
			n, err := node.Start(cmd.Context(), g.home, cfg, newLogger(cfg.LogLevel))
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			return n.Close()
		},
	}
	lf.register(c)
	return c
}
