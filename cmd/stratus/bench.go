package main

import "github.com/spf13/cobra"

func newBenchCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "bench", Short: "Measure this machine's Stratus against limits measured in the same run"}
	c.AddCommand(newBenchLedgerCmd(g))
	c.AddCommand(newBenchMarketCmd(g))
	c.AddCommand(newBenchBlockCmd(g))
	c.AddCommand(newBenchStorageCmd(g))
	c.AddCommand(newBenchRepairCmd(g))
	c.AddCommand(newBenchComputeCmd(g))
	c.AddCommand(newBenchAuditCmd(g))
	return c
}
