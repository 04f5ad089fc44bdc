package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
)

// pageFlags are the --limit and --after of a list command: without them it
// lists everything, following the node's pages; with either, one page.
type pageFlags struct {
	limit int
	after string
}

func (p *pageFlags) register(c *cobra.Command) {
	c.Flags().IntVar(&p.limit, "limit", 0, fmt.Sprintf("list one page of at most N (1 to %d; the cursor of the next page is printed); default: everything", api.MaxPageLimit))
	c.Flags().StringVar(&p.after, "after", "", "list the page after this cursor (printed with the previous page)")
}

// fetchList fetches one page (with --limit or --after) or everything.
func fetchList[T any](ctx context.Context, p pageFlags, page func(context.Context, client.PageOptions) (api.Page[T], error), all func(context.Context) ([]T, error)) (api.Page[T], error) {
	if p.limit == 0 && p.after == "" {
		items, err := all(ctx)
		return api.Page[T]{Items: items}, err
	}
	return page(ctx, client.PageOptions{Limit: p.limit, After: p.after})
}

// printList prints what fetchList fetched: everything as before, or one page as
// {"items", "next"} in JSON and, in text, the items and then on stderr how
// to get the next page.
func printList[T any](g *globals, cmd *cobra.Command, p pageFlags, pg api.Page[T], text func(io.Writer)) error {
	if p.limit == 0 && p.after == "" {
		return g.print(cmd.OutOrStdout(), pg.Items, text)
	}
	if err := g.print(cmd.OutOrStdout(), pg, text); err != nil {
		return err
	}
	if pg.Next != "" && g.output != "json" {
		fmt.Fprintf(cmd.ErrOrStderr(), "More: pass --after %s for the next page.\n", pg.Next)
	}
	return nil
}
