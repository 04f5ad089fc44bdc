package gov_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/gov"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

const str = money.UstrPerSTR

func newChain(t *testing.T) *ledgertest.Chain {
	return ledgertest.New(t, ledgertest.Options{
		ChainID:  "gov",
		Registry: ledger.DefaultRegistry(market.Module{}, gov.Module{}),
		Seed:     "stratus-gov-test",
		Funded:   []string{"alice", "bob", "carol", "proposer"},
		Genesis:  map[string]any{"market": market.DefaultGenesis(), "gov": gov.DefaultGenesis()},
	})
}

// marketChange is the market's parameters with RetentionSeconds changed.
func marketChange(t *testing.T, retention int64) gov.Change {
	p := market.DefaultParams()
	p.RetentionSeconds = retention
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return gov.Change{Module: "market", Params: b}
}

func proposal(t *testing.T, c *ledgertest.Chain, id uint64) *gov.Proposal {
	t.Helper()
	p, err := gov.GetProposal(c.Query(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// watchGov renders the module's state and the buckets: what a refused
// message must leave as it was.
func watchGov(c *ledgertest.Chain) string {
	var keys []string
	for k, v := range c.St {
		if strings.HasPrefix(k, "gov/") || strings.HasPrefix(k, "params/") {
			keys = append(keys, fmt.Sprintf("%q=%x", k, v))
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n") + fmt.Sprint(c.Bucket(gov.BucketBonded), c.Bucket(gov.BucketDeposits))
}

// TestGovernanceChangesAParameterAtItsHeight: voters bond STR, a proposal
// changes the market's parameters, the vote passes, and the change takes
// effect at the stated height, not before; the deposit goes back.
func TestGovernanceChangesAParameterAtItsHeight(t *testing.T) {
	c := newChain(t)
	alice, bob, proposer := c.Key("alice"), c.Key("bob"), c.Key("proposer")
	c.OK(alice, &gov.BondMsg{Amount: 600 * str})
	c.OK(bob, &gov.BondMsg{Amount: 400 * str})
	if got := c.Bucket(gov.BucketBonded); got != 1000*str {
		t.Fatalf("bonded bucket %d, want 1000 STR", got)
	}
	effect := c.Height + 400
	before := c.Balance(proposer.Address())
	res := c.OK(proposer, &gov.Propose{Title: "longer retention", Changes: []gov.Change{marketChange(t, 7*24*3600)}, EffectHeight: effect, Deposit: 100 * str})
	if !gov.Events.Proposed.Is(res.Events[0]) {
		t.Fatalf("events %+v", res.Events)
	}
	c.OK(alice, &gov.VoteMsg{Proposal: 1, Option: gov.Yes})
	c.OK(bob, &gov.VoteMsg{Proposal: 1, Option: gov.No})
	c.OK(bob, &gov.VoteMsg{Proposal: 1, Option: gov.Abstain}) // a second vote replaces the first
	if p := proposal(t, c, 1); p.Yes != 600*str || p.No != 0 || p.Abstain != 400*str {
		t.Fatalf("tally %d/%d/%d, want 600/0/400 STR", p.Yes, p.No, p.Abstain)
	}
	// A bond that voted is locked until the vote ends.
	c.Watch = watchGov
	c.Fails(c.Tx(alice, &gov.UnbondMsg{Amount: str}), ledger.CodeConflict, "locked until the vote")
	c.Watch = nil

	c.Advance(301 * time.Second)
	p := proposal(t, c, 1)
	if p.Status != gov.StatusPassed {
		t.Fatalf("status %s after the vote, want passed", p.Status)
	}
	if got := c.Balance(proposer.Address()); before-got != c.Fees[proposer.Address()] {
		t.Fatalf("proposer lost %d beyond fees: the deposit did not come back", before-got-c.Fees[proposer.Address()])
	}
	if got := market.GetParams(c.Query()).RetentionSeconds; got != market.DefaultParams().RetentionSeconds {
		t.Fatalf("retention %d before the effect height, want the old %d", got, market.DefaultParams().RetentionSeconds)
	}
	for c.Height < effect {
		c.Advance(time.Second)
	}
	if got := market.GetParams(c.Query()).RetentionSeconds; got != 7*24*3600 {
		t.Fatalf("retention %d at height %d, want the voted 604800", got, c.Height)
	}
	if p := proposal(t, c, 1); p.Status != gov.StatusApplied || p.AppliedHeight != effect {
		t.Fatalf("proposal %+v, want applied at %d", p, effect)
	}
	// The vote is over: the bond comes back.
	c.OK(alice, &gov.UnbondMsg{Amount: 600 * str})
}

// TestGovernanceRefusals: no quorum fails and the deposit goes to the
// treasury; a vote after the deadline, a voter with nothing bonded,
// parameters that do not validate, an unknown module and a small deposit
// are refused and change nothing.
func TestGovernanceRefusals(t *testing.T) {
	c := newChain(t)
	alice, carol, proposer := c.Key("alice"), c.Key("carol"), c.Key("proposer")
	c.OK(alice, &gov.BondMsg{Amount: 100 * str})
	c.OK(carol, &gov.BondMsg{Amount: 900 * str})

	c.Watch = watchGov
	bad := marketChange(t, 0) // retention 0 does not validate
	c.Fails(c.Tx(proposer, &gov.Propose{Title: "bad", Changes: []gov.Change{bad}, EffectHeight: c.Height + 100, Deposit: 100 * str}), ledger.CodeInvalid, "parameters of market")
	c.Fails(c.Tx(proposer, &gov.Propose{Title: "unknown", Changes: []gov.Change{{Module: "nope", Params: json.RawMessage(`{}`)}}, EffectHeight: c.Height + 100, Deposit: 100 * str}), ledger.CodeInvalid, "no module has parameters named")
	c.Fails(c.Tx(proposer, &gov.Propose{Title: "cheap", Changes: []gov.Change{marketChange(t, 3600)}, EffectHeight: c.Height + 100, Deposit: str}), ledger.CodeInvalid, "deposit is at least")
	c.Fails(c.Tx(proposer, &gov.Propose{Title: "unknown field", Changes: []gov.Change{{Module: "market", Params: json.RawMessage(`{"surprise":1}`)}}, EffectHeight: c.Height + 100, Deposit: 100 * str}), ledger.CodeInvalid, "parameters of market")
	c.Watch = nil

	treasury := c.Bucket(ledger.BucketTreasury)
	c.OK(proposer, &gov.Propose{Title: "quiet", Changes: []gov.Change{marketChange(t, 3*24*3600)}, EffectHeight: c.Height + 50, Deposit: 100 * str})
	c.OK(alice, &gov.VoteMsg{Proposal: 1, Option: gov.Yes}) // 10% of the bonded: under the 33.4% quorum
	c.Watch = watchGov
	c.Fails(c.Tx(proposer, &gov.VoteMsg{Proposal: 1, Option: gov.Yes}), ledger.CodeUnauthorized, "no bonded STR")
	c.Watch = nil
	c.Advance(301 * time.Second)
	c.Watch = watchGov
	c.Fails(c.Tx(carol, &gov.VoteMsg{Proposal: 1, Option: gov.Yes}), ledger.CodeConflict, "ended")
	c.Watch = nil
	if p := proposal(t, c, 1); p.Status != gov.StatusFailed || p.Bonded != 1000*str {
		t.Fatalf("proposal %+v, want failed with 1000 STR bonded", p)
	}
	if got := c.Bucket(ledger.BucketTreasury) - treasury; got < 100*str {
		t.Fatalf("treasury grew by %d, want at least the 100 STR deposit", got)
	}
	if got := market.GetParams(c.Query()).RetentionSeconds; got != market.DefaultParams().RetentionSeconds {
		t.Fatalf("a failed proposal changed retention to %d", got)
	}

	// With quorum, more no than yes: rejected, deposit back.
	c.OK(proposer, &gov.Propose{Title: "no thanks", Changes: []gov.Change{marketChange(t, 3*24*3600)}, EffectHeight: c.Height + 50, Deposit: 100 * str})
	c.OK(carol, &gov.VoteMsg{Proposal: 2, Option: gov.No})
	c.OK(alice, &gov.VoteMsg{Proposal: 2, Option: gov.Yes})
	c.Advance(301 * time.Second)
	if p := proposal(t, c, 2); p.Status != gov.StatusRejected {
		t.Fatalf("proposal 2 is %s, want rejected", p.Status)
	}
	list, more, err := gov.Proposals(c.Query(), 0, 10)
	if err != nil || len(list) != 2 || list[0].ID != 2 || more {
		t.Fatalf("Proposals = %+v, %v, %v", list, more, err)
	}
}
