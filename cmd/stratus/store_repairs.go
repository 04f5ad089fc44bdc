package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/money"
)

// newStoreRepairsCmd is `stratus store repairs`: the lost shards being
// rebuilt, and by whom.
func newStoreRepairsCmd(g *globals) *cobra.Command {
	var assignee string
	c := &cobra.Command{
		Use:   "repairs [--assignee DID|KEY]",
		Short: "List the lost shards being repaired, fewest healthy shards first for one assignee",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			who := ""
			if assignee != "" {
				a, err := g.resolveAddress(assignee)
				if err != nil {
					return err
				}
				who = a.String()
			}
			js, err := g.client().Repairs(cmd.Context(), who)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), js, func(w io.Writer) {
				if len(js) == 0 {
					fmt.Fprintln(w, "No repairs: every stored shard is held by a provider in good standing.")
					return
				}
				for i, j := range js {
					if i > 0 {
						fmt.Fprintln(w)
					}
					fmt.Fprintf(w, "object:    %s\nshard:     %d of segment %d (%s, %d bytes)\nlost by:   %s (%s)\nhealthy:   %d shards of the segment left\n",
						j.Object, j.Shard, j.Segment, j.Hash, j.Size, j.From, j.Reason, j.Healthy)
					if j.Assignee == "" {
						fmt.Fprintln(w, "assignee:  none yet")
					} else {
						fmt.Fprintf(w, "assignee:  %s, by %s\n", j.Assignee, time.UnixMilli(j.DeadlineMs).UTC().Format(time.RFC3339))
					}
					fmt.Fprintf(w, "fee:       %s to the repairer; %s of escrow for the new lease\n", money.Format(j.Bounty), money.Format(j.Escrow))
				}
			})
		},
	}
	c.Flags().StringVar(&assignee, "assignee", "", "only the repairs assigned to this provider (did:key or key name)")
	return c
}

// newProviderChallengesCmd is `stratus provider challenges`: a provider's
// open storage challenges.
func newProviderChallengesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "challenges DID|KEY",
		Short: "List a provider's open storage challenges and their deadlines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := g.resolveAddress(args[0])
			if err != nil {
				return err
			}
			cs, err := g.client().Challenges(cmd.Context(), addr.String())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), cs, func(w io.Writer) {
				if len(cs) == 0 {
					fmt.Fprintln(w, "No open challenges.")
					return
				}
				for _, c := range cs {
					fmt.Fprintf(w, "challenge %d: leaf %d of shard %d of segment %d of %s, by %s\n",
						c.ID, c.Leaf, c.Shard, c.Segment, c.Object, time.UnixMilli(c.DeadlineMs).UTC().Format(time.RFC3339))
				}
			})
		},
	}
}
