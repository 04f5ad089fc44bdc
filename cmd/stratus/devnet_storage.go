package main

import (
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/node"
)

// newDevnetStorageCmd is `stratus devnet storage list|stop|start`: a
// running devnet's built-in storage providers, which a developer stops and
// starts to watch reads route around the ones that are down.
func newDevnetStorageCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "storage",
		Short: "List, stop and start a running devnet's storage providers",
		Long: `A devnet runs five storage providers, storage0 to storage4, in its own
process. "stop" shuts one's shard server down as if its host had gone away
(its shards stay on disk); "start" brings it back on the same folder and
port. Gets keep working while at most m of an object's providers are down.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "The devnet's storage providers and whether each is up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var sts []node.StorageState
			if err := g.client().Get(cmd.Context(), "/v1/devnet/storage", &sts); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), sts, func(w io.Writer) {
				for _, s := range sts {
					up := "down"
					if s.Up {
						up = "up   " + s.URL
					}
					fmt.Fprintf(w, "%-9s %s  %s\n", s.Name, s.Address, up)
				}
			})
		},
	}
	action := func(verb, done string) *cobra.Command {
		return &cobra.Command{
			Use:   verb + " NAME",
			Short: verb + " one of the devnet's storage providers (storage0 ... storage4)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var st node.StorageState
				if err := g.client().Post(cmd.Context(), "/v1/devnet/storage/"+url.PathEscape(args[0])+"/"+verb, nil, &st); err != nil {
					return err
				}
				return g.print(cmd.OutOrStdout(), st, func(w io.Writer) {
					fmt.Fprintf(w, "%s %s\n", st.Name, done)
				})
			},
		}
	}
	c.AddCommand(list, action("stop", "stopped: its shard API is down"), action("start", "started: its shard API is up"))
	return c
}
