package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/auditindex"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/money"
)

// newAccountHistoryCmd is `stratus account history DID|KEY`: the
// transactions an account signed or took part in, newest first, with
// their memos (GET /v1/accounts/{did}/txs).
func newAccountHistoryCmd(g *globals) *cobra.Command {
	var p pageFlags
	c := &cobra.Command{
		Use:   "history DID|KEY",
		Short: "List the transactions an account signed or took part in, newest first, with memos",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := g.resolveAddress(args[0])
			if err != nil {
				return err
			}
			did := addr.String()
			cl := g.client()
			pg, err := fetchList(cmd.Context(), p,
				func(ctx context.Context, o client.PageOptions) (api.Page[auditindex.AccountTx], error) {
					return cl.AccountTxsPage(ctx, did, o)
				},
				func(ctx context.Context) ([]auditindex.AccountTx, error) { return cl.AccountTxs(ctx, did) })
			if err != nil {
				return err
			}
			return printList(g, cmd, p, pg, func(w io.Writer) { printHistory(w, did, pg.Items) })
		},
	}
	p.register(c)
	return c
}

func printHistory(w io.Writer, did string, txs []auditindex.AccountTx) {
	if len(txs) == 0 {
		fmt.Fprintf(w, "No transactions of %s.\n", did)
		return
	}
	fmt.Fprintf(w, "%-24s %8s %-12s %-20s %-14s %-60s %-8s %s\n", "TIME", "HEIGHT", "HASH", "TYPE", "AMOUNT", "COUNTERPARTY", "STATUS", "MEMO")
	for _, t := range txs {
		amount, counterparty := "-", "-"
		if a, dir, other, ok := t.Transfer(did); ok {
			if u, err := strconv.ParseUint(a, 10, 64); err == nil {
				amount = money.Format(u)
			}
			counterparty = dir + " " + other
		} else if !containsRole(t.Roles, auditindex.RoleSigner) {
			counterparty = "signed by " + t.Signer
		}
		status := "ok"
		if t.Code != 0 {
			status = "failed:" + strconv.FormatUint(uint64(t.Code), 10)
		}
		when := "-"
		if !t.Time.IsZero() {
			when = t.Time.UTC().Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(w, "%-24s %8d %-12s %-20s %-14s %-60s %-8s %s\n", when, t.Height, prefix(t.Hash, 12), t.MsgType, amount, counterparty, status, memoText(t.Memo))
	}
}

func containsRole(roles []string, r string) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// memoText shows a memo on one line: as written when it is printable,
// quoted otherwise, so a memo cannot move the cursor or fake a row.
func memoText(m string) string {
	if m == "" {
		return "-"
	}
	if strings.IndexFunc(m, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(m)
	}
	return m
}
