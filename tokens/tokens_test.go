package tokens_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/ledger/ledgertest"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/tokens"
)

func newChain(t *testing.T) *ledgertest.Chain {
	return ledgertest.New(t, ledgertest.Options{
		ChainID:  "tokens",
		Registry: ledger.DefaultRegistry(tokens.Module{}),
		Seed:     "stratus-tokens-test",
		Funded:   []string{"issuer", "bob", "eve"},
		Genesis:  map[string]any{"tokens": tokens.DefaultGenesis()},
	})
}

func holds(t *testing.T, c *ledgertest.Chain, denom string, k *identity.Key) uint64 {
	t.Helper()
	v, err := ledger.ReadDenomBalance(c.St, denom, k.Address())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTokens: an issuer creates a token and pays the treasury for it;
// holders move it with bank/transfer; only the issuer mints, and only a
// mintable token; holders burn only their own, and only a burnable token.
// Conservation of every denomination is checked after every block by the
// harness.
func TestTokens(t *testing.T) {
	c := newChain(t)
	issuer, bob, eve := c.Key("issuer"), c.Key("bob"), c.Key("eve")
	// A failed message must leave every token's state and every balance
	// as it was.
	c.Watch = watchTokens

	treasury := c.Bucket(ledger.BucketTreasury)
	res := c.OK(issuer, &tokens.Create{Symbol: "GOLD", Name: "Gold", Decimals: 2, Supply: 100_000, Mintable: true, Burnable: true})
	gold := tokens.DenomOf("GOLD")
	if holds(t, c, gold, issuer) != 100_000 {
		t.Fatalf("issuer holds %d gold, want the supply 100000", holds(t, c, gold, issuer))
	}
	fee := tokens.DefaultParams().CreateFee
	if got := c.Bucket(ledger.BucketTreasury) - treasury; got != fee {
		t.Fatalf("treasury grew by %d, want the creation fee %d", got, fee)
	}
	if e := res.Events[0]; !tokens.Events.Created.Is(e) || tokens.Events.Created.Get(e, "denom") != gold || tokens.Events.Created.Get(e, "supply") != "100000" {
		t.Fatalf("events %+v, want token.created for %s with supply 100000", res.Events, gold)
	}
	tok, err := tokens.Get(c.Query(), gold)
	if err != nil || tok.Issuer != issuer.Address() || tok.Decimals != 2 || !tok.Mintable || !tok.Burnable {
		t.Fatalf("Get = %+v, %v", tok, err)
	}

	// The symbol is taken; a stranger cannot mint; eve holds none to send.
	c.Fails(c.Tx(eve, &tokens.Create{Symbol: "GOLD", Supply: 1}), ledger.CodeConflict, "exists already")
	c.Fails(c.Tx(eve, &tokens.Mint{Denom: gold, To: eve.Address(), Amount: 1}), ledger.CodeUnauthorized, "only "+issuer.Address().String())
	c.Fails(c.Tx(eve, &ledger.Transfer{To: bob.Address(), Amount: 1, Denom: gold}), ledger.CodeInsufficient, "insufficient tok.gold")

	c.OK(issuer, &ledger.Transfer{To: bob.Address(), Amount: 2_500, Denom: gold})
	c.OK(issuer, &tokens.Mint{Denom: gold, To: eve.Address(), Amount: 700})
	c.OK(bob, &tokens.Burn{Denom: gold, Amount: 500})
	if holds(t, c, gold, issuer) != 97_500 || holds(t, c, gold, bob) != 2_000 || holds(t, c, gold, eve) != 700 {
		t.Fatalf("gold: issuer %d bob %d eve %d", holds(t, c, gold, issuer), holds(t, c, gold, bob), holds(t, c, gold, eve))
	}
	if s, _ := ledger.ReadDenomSupply(c.St, gold); s != 100_200 {
		t.Fatalf("gold supply %d, want 100000 + 700 - 500", s)
	}
	c.Fails(c.Tx(bob, &tokens.Burn{Denom: gold, Amount: 2_001}), ledger.CodeInsufficient, "insufficient tok.gold")

	// A fixed, unburnable token.
	c.OK(issuer, &tokens.Create{Symbol: "SEAT", Supply: 10})
	seat := tokens.DenomOf("SEAT")
	c.Fails(c.Tx(issuer, &tokens.Mint{Denom: seat, To: issuer.Address(), Amount: 1}), ledger.CodeConflict, "not mintable")
	c.Fails(c.Tx(issuer, &tokens.Burn{Denom: seat, Amount: 1}), ledger.CodeConflict, "not burnable")
	c.Fails(c.Tx(issuer, &tokens.Mint{Denom: "tok.none", To: issuer.Address(), Amount: 1}), ledger.CodeNotFound, "no token tok.none")

	list, more, err := tokens.List(c.Query(), "", 1)
	if err != nil || more != true || len(list) != 1 || list[0].Denom != gold {
		t.Fatalf("List page 1 = %+v more %v err %v", list, more, err)
	}
	if list, more, _ = tokens.List(c.Query(), gold, 10); len(list) != 1 || list[0].Denom != seat || more {
		t.Fatalf("List page 2 = %+v more %v", list, more)
	}
}

// TestTokenCreationFee: a signer who cannot pay the creation fee creates
// nothing and mints nothing.
func TestTokenCreationFee(t *testing.T) {
	c := ledgertest.New(t, ledgertest.Options{
		ChainID:  "tokens-fee",
		Registry: ledger.DefaultRegistry(tokens.Module{}),
		Seed:     "stratus-tokens-test",
		Funded:   []string{"poor"},
		Balance:  money.UstrPerSTR, // 1 STR: gas, but not the 10 STR fee
		Genesis:  map[string]any{"tokens": tokens.DefaultGenesis()},
	})
	c.Watch = watchTokens
	poor := c.Key("poor")
	c.Fails(c.Tx(poor, &tokens.Create{Symbol: "CHEAP", Supply: 1_000_000}), ledger.CodeInsufficient, "creating a token costs 10STR for the treasury on top of gas")
	if v, _ := ledger.ReadDenomSupply(c.St, tokens.DenomOf("CHEAP")); v != 0 {
		t.Fatalf("a failed create left a supply of %d", v)
	}
}

func TestTokenMessagesRefuseBadInput(t *testing.T) {
	bad := []ledger.Msg{
		&tokens.Create{Symbol: "g", Supply: 1},
		&tokens.Create{Symbol: "GOLD!", Supply: 1},
		&tokens.Create{Symbol: "TOOLONGSYMBOL1", Supply: 1},
		&tokens.Create{Symbol: "GOLD", Decimals: 19, Supply: 1},
		&tokens.Create{Symbol: "GOLD"}, // no supply, not mintable
		&tokens.Mint{Denom: "ustr", To: identity.Address{1}, Amount: 1},
		&tokens.Mint{Denom: "tok.gold", Amount: 1},
		&tokens.Burn{Denom: "tok.gold"},
		&tokens.Burn{Denom: "gold", Amount: 1},
	}
	for _, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("%T %+v validated", m, m)
		}
	}
}

func TestAmounts(t *testing.T) {
	for _, c := range []struct {
		s   string
		dec uint8
		v   uint64
	}{{"1.5", 3, 1500}, {"0.001", 3, 1}, {"12", 0, 12}, {"12", 2, 1200}, {"18446744073709551615", 0, ^uint64(0)}} {
		v, err := tokens.ParseAmount(c.s, c.dec)
		if err != nil || v != c.v {
			t.Errorf("ParseAmount(%q, %d) = %d, %v; want %d", c.s, c.dec, v, err, c.v)
		}
		if back, _ := tokens.ParseAmount(tokens.FormatAmount(v, c.dec), c.dec); back != v {
			t.Errorf("FormatAmount(%d, %d) = %q does not parse back", v, c.dec, tokens.FormatAmount(v, c.dec))
		}
	}
	for _, s := range []string{"", ".5", "1.", "1.2345", "-1", "1e3", "18446744073709551616", "1,5"} {
		if v, err := tokens.ParseAmount(s, 3); err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", s, v)
		}
	}
	if got := tokens.FormatAmount(1500, 3); got != "1.5" {
		t.Errorf("FormatAmount(1500, 3) = %q", got)
	}
}

// watchTokens renders the tokens' records and every token balance and
// supply: what a failed token message must leave as it was (its fee and
// nonce do change).
func watchTokens(c *ledgertest.Chain) string {
	var keys []string
	for k, v := range c.St {
		if strings.HasPrefix(k, "tokens/") || strings.HasPrefix(k, "denom/") {
			keys = append(keys, fmt.Sprintf("%q=%x", k, v))
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, "\n")
}
