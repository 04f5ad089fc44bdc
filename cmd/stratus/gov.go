package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/gov"
	"github.com/stratus-cloud/stratus/money"
)

func newGovCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "gov", Short: "Govern the chain's parameters: bond STR, propose, vote, show, list (docs/governance.md)"}
	c.AddCommand(newGovBondCmd(g, true), newGovBondCmd(g, false), newGovProposeCmd(g), newGovVoteCmd(g), newGovShowCmd(g), newGovListCmd(g))
	return c
}

func newGovBondCmd(g *globals, bond bool) *cobra.Command {
	var f txFlags
	use, short := "bond AMOUNT", "Bond STR for voting: one ustr bonded, one unit of voting power"
	if !bond {
		use, short = "unbond AMOUNT", "Take bonded STR back, once every vote it took part in has ended"
	}
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			amt, err := money.Parse(args[0])
			if err != nil {
				return err
			}
			var res api.TxResult
			if bond {
				res, err = g.submit(cmd.Context(), &f, &gov.BondMsg{Amount: amt})
			} else {
				res, err = g.submit(cmd.Context(), &f, &gov.UnbondMsg{Amount: amt})
			}
			if err != nil {
				return err
			}
			out := struct {
				Amount string `json:"amount"`
				Hash   string `json:"hash"`
				Height int64  `json:"height"`
			}{strconv.FormatUint(amt, 10), res.Hash, res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				verb := "bonded"
				if !bond {
					verb = "unbonded"
				}
				fmt.Fprintf(w, "%s %s\nhash:   %s\nheight: %d\n", verb, money.Format(amt), res.Hash, res.Height)
			})
		},
	}
	f.register(c)
	return c
}

// setParams applies module.field=value settings to the chain's current
// parameters and returns each changed module's whole set.
func setParams(current map[string]map[string]json.RawMessage, sets []string) ([]gov.Change, error) {
	changed := map[string]map[string]json.RawMessage{}
	for _, s := range sets {
		path, value, ok := strings.Cut(s, "=")
		module, field, ok2 := strings.Cut(path, ".")
		if !ok || !ok2 {
			return nil, errs.E(errs.Invalid, "--set %q: write MODULE.FIELD=VALUE, e.g. market.retention_seconds=604800 (see GET /v1/params)", s)
		}
		cur, ok := current[module]
		if !ok {
			return nil, errs.E(errs.Invalid, "--set %q: no module %q has parameters (see GET /v1/params)", s, module)
		}
		old, ok := cur[field]
		if !ok {
			return nil, errs.E(errs.Invalid, "--set %q: %s has no parameter %q (see GET /v1/params)", s, module, field)
		}
		if changed[module] == nil {
			changed[module] = map[string]json.RawMessage{}
			for k, v := range cur {
				changed[module][k] = v
			}
		}
		var v json.RawMessage
		if len(old) > 0 && old[0] == '"' {
			v, _ = json.Marshal(value) // a number the API writes as a string
		} else if json.Valid([]byte(value)) {
			v = json.RawMessage(value)
		} else {
			return nil, errs.E(errs.Invalid, "--set %q: %q is not a JSON value", s, value)
		}
		changed[module][field] = v
	}
	var out []gov.Change
	for module, fields := range changed {
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, err
		}
		out = append(out, gov.Change{Module: module, Params: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out, nil
}

func newGovProposeCmd(g *globals) *cobra.Command {
	var f txFlags
	var m gov.Propose
	var sets []string
	var deposit string
	var in int64
	c := &cobra.Command{
		Use:   "propose --title TITLE --set MODULE.FIELD=VALUE ... [--effect-in BLOCKS | --effect-height H] --deposit AMOUNT",
		Short: "Propose new parameters; the vote lasts gov.voting_seconds",
		Example: `  stratus gov propose --title "Keep closed leases a week" --set market.retention_seconds=604800 \
    --effect-in 600 --deposit 100STR --from demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(sets) == 0 {
				return errs.E(errs.Invalid, "say what to change with --set MODULE.FIELD=VALUE (see GET /v1/params)")
			}
			amt, err := money.Parse(deposit)
			if err != nil {
				return err
			}
			var current map[string]map[string]json.RawMessage
			if err := g.client().Get(cmd.Context(), "/v1/params", &current); err != nil {
				return err
			}
			if m.Changes, err = setParams(current, sets); err != nil {
				return err
			}
			if m.EffectHeight == 0 {
				st, err := g.client().Status(cmd.Context())
				if err != nil {
					return err
				}
				m.EffectHeight = st.Height + in
			}
			m.Deposit = amt
			res, err := g.submit(cmd.Context(), &f, &m)
			if err != nil {
				return err
			}
			var id string
			for _, e := range res.Events {
				if k := gov.Events.Proposed; e.Type == k.Type {
					id = e.Attrs[k.Key("proposal")]
				}
			}
			out := struct {
				Proposal     string `json:"proposal"`
				EffectHeight int64  `json:"effect_height"`
				Hash         string `json:"hash"`
				Height       int64  `json:"height"`
			}{id, m.EffectHeight, res.Hash, res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "proposal %s is put to a vote; if it passes it takes effect at height %d\nhash:   %s\nheight: %d\n", id, m.EffectHeight, res.Hash, res.Height)
			})
		},
	}
	f.register(c)
	c.Flags().StringVar(&m.Title, "title", "", "what the proposal does, in a line")
	c.Flags().StringVar(&m.Description, "description", "", "why, at more length")
	c.Flags().StringArrayVar(&sets, "set", nil, "a parameter to change, MODULE.FIELD=VALUE; repeat for more")
	c.Flags().Int64Var(&m.EffectHeight, "effect-height", 0, "the height it takes effect at, if it passes")
	c.Flags().Int64Var(&in, "effect-in", 600, "without --effect-height: that many blocks after the current one")
	c.Flags().StringVar(&deposit, "deposit", "100STR", "the deposit: returned unless the vote misses its quorum")
	return c
}

func newGovVoteCmd(g *globals) *cobra.Command {
	var f txFlags
	c := &cobra.Command{
		Use: "vote PROPOSAL yes|no|abstain", Short: "Vote with your bonded STR; a second vote replaces the first",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return errs.E(errs.Invalid, "%q is not a proposal id", args[0])
			}
			res, err := g.submit(cmd.Context(), &f, &gov.VoteMsg{Proposal: id, Option: args[1]})
			if err != nil {
				return err
			}
			out := struct {
				Proposal uint64 `json:"proposal"`
				Option   string `json:"option"`
				Hash     string `json:"hash"`
				Height   int64  `json:"height"`
			}{id, args[1], res.Hash, res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "voted %s on proposal %d\nhash:   %s\nheight: %d\n", args[1], id, res.Hash, res.Height)
			})
		},
	}
	f.register(c)
	return c
}

func printProposal(w io.Writer, p gov.Proposal) {
	fmt.Fprintf(w, "proposal %d: %s\nstatus:   %s\nproposer: %s\nvote ends: %s\neffect:   height %d\ntally:    yes %s, no %s, abstain %s\ndeposit:  %s\n",
		p.ID, p.Title, p.Status, p.Proposer, time.UnixMilli(p.VotingEndMs).UTC().Format(time.RFC3339), p.EffectHeight,
		money.Format(p.Yes), money.Format(p.No), money.Format(p.Abstain), money.Format(p.Deposit))
	for _, c := range p.Changes {
		fmt.Fprintf(w, "changes:  %s %s\n", c.Module, c.Params)
	}
}

func newGovShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "show PROPOSAL", Short: "Show a proposal: its changes, tally and status", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p gov.Proposal
			if err := g.client().Get(cmd.Context(), "/v1/gov/proposals/"+args[0], &p); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), p, func(w io.Writer) { printProposal(w, p) })
		},
	}
}

func newGovListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List proposals, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var page api.Page[gov.Proposal]
			if err := g.client().Get(cmd.Context(), "/v1/gov/proposals?limit=100", &page); err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), page.Items, func(w io.Writer) {
				if len(page.Items) == 0 {
					fmt.Fprintln(w, "No proposals yet.")
				}
				for _, p := range page.Items {
					fmt.Fprintf(w, "%d  %-8s  %s\n", p.ID, p.Status, p.Title)
				}
			})
		},
	}
}
