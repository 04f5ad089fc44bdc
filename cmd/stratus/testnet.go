package main

import "github.com/spf13/cobra"

func newTestnetCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "testnet", Short: "Run a multi-process network on this machine"}
	return c
}
