package node_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/tokens"
)

// TestTokensOverHTTP: on a devnet, the demo key issues a token, sends some
// to a fresh key with bank/transfer, and the routes show the token, its
// supply and both balances; unknown tokens and bad input are refused.
func TestTokensOverHTTP(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	ctx := context.Background()
	bob, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Send(ctx, d.demo, &tokens.Create{Symbol: "GOLD", Name: "Gold", Decimals: 2, Supply: 10_000, Burnable: true}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: bob.Address(), Amount: 1_234, Denom: "tok.gold"}, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) == 0 || res.Events[0].Attrs["denom"] != "tok.gold" {
		t.Fatalf("transfer events %+v, want bank.transfer with denom tok.gold", res.Events)
	}

	var tok node.TokenView
	if err := d.c.Get(ctx, "/v1/tokens/tok.gold", &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Symbol != "GOLD" || tok.Supply != "10000" || tok.Issuer != d.demo.Address() || tok.Mintable || !tok.Burnable {
		t.Fatalf("GET /v1/tokens/tok.gold = %+v", tok)
	}
	var page api.Page[node.TokenView]
	if err := d.c.Get(ctx, "/v1/tokens", &page); err != nil || len(page.Items) != 1 || page.Items[0].Denom != "tok.gold" {
		t.Fatalf("GET /v1/tokens = %+v, %v", page, err)
	}
	for who, want := range map[*identity.Key]string{bob: "1234", d.demo: "8766"} {
		var b node.TokenBalance
		if err := d.c.Get(ctx, "/v1/tokens/tok.gold/balances/"+who.Address().String(), &b); err != nil || b.Balance != want {
			t.Errorf("balance of %s = %+v, %v; want %s", who.Address(), b, err, want)
		}
	}
	if err := d.c.Get(ctx, "/v1/tokens/tok.none", &tok); !errs.Is(err, errs.NotFound) {
		t.Errorf("an unknown token = %v, want not found", err)
	}
	resp, err := http.Get(d.n.APIURL() + "/v1/tokens/tok.gold/balances/not-a-did")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad did = %s, want 400", resp.Status)
	}
	// A stranger cannot mint a fixed token, and cannot spend bob's.
	stranger, _, _ := identity.GenerateKey()
	if _, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: stranger.Address(), Amount: 10_000_000}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Send(ctx, stranger, &ledger.Transfer{To: stranger.Address(), Amount: 1, Denom: "tok.gold"}, client.SendOptions{}); !errs.Is(err, errs.Insufficient) {
		t.Errorf("a stranger's transfer of gold it does not hold = %v, want insufficient", err)
	}
	if _, err := d.c.Send(ctx, stranger, &tokens.Mint{Denom: "tok.gold", To: stranger.Address(), Amount: 1}, client.SendOptions{}); !errs.Is(err, errs.Conflict) {
		t.Errorf("a stranger's mint of a fixed token = %v, want conflict", err)
	}
}
