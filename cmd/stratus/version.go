package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/internal/version"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build: module version, commit, commit time, whether the tree was dirty, Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Get()
			return g.print(cmd.OutOrStdout(), v, func(w io.Writer) { fmt.Fprintln(w, v) })
		},
	}
}
