package main

import "github.com/spf13/cobra"

func newBenchLedgerCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "ledger"}
}
