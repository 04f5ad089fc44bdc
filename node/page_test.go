package node_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
)

// TestListsArePaged pages through the lists of a devnet: providers and a
// consumer's leases, with filters, and checks that the pages cover each
// list once, in order, and that bad paging parameters are refused.
func TestListsArePaged(t *testing.T) {
	d := startDevnet(t, market.DefaultGenesis())
	c, demo := d.c, d.demo
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	all, err := c.Providers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 3 {
		t.Fatalf("the devnet has %d providers, want at least 3", len(all))
	}
	var paged []string
	for o := (client.PageOptions{Limit: 2}); ; {
		p, err := c.ProvidersPage(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > 2 || len(p.Items) == 0 {
			t.Fatalf("a page of providers with limit 2 has %d", len(p.Items))
		}
		for _, pr := range p.Items {
			paged = append(paged, pr.Operator.String())
		}
		if p.Next == "" {
			break
		}
		o.After = p.Next
	}
	want := make([]string, len(all))
	for i, p := range all {
		want[i] = p.Operator.String()
	}
	if !slices.Equal(paged, want) {
		t.Errorf("providers page by page = %v, want %v", paged, want)
	}

	// Five storage leases with storage0, one closed again.
	info, err := d.ks.Show("storage0")
	if err != nil {
		t.Fatal(err)
	}
	prov, err := identity.ParseDID(info.Address)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for range 5 {
		res, err := c.Send(ctx, demo, &market.OpenLease{Class: market.ClassStorage, Quantity: 1 << 20, Deposit: money.UstrPerSTR, Provider: &prov}, client.SendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Events {
			if e.Type == "lease.opened" {
				ids = append(ids, ustr(t, e.Attrs["lease"]))
			}
		}
	}
	if _, err := c.Send(ctx, demo, &market.CloseLease{ID: ids[0]}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	leaseIDs := func(f client.LeaseFilter, limit int) (got []uint64, pages int) {
		t.Helper()
		for o := (client.PageOptions{Limit: limit}); ; pages++ {
			p, err := c.LeasesPage(ctx, f, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range p.Items {
				if l.Windows != nil {
					t.Errorf("lease %d is listed with its windows", l.ID)
				}
				got = append(got, l.ID)
			}
			if p.Next == "" {
				return got, pages + 1
			}
			o.After = p.Next
		}
	}
	me := demo.Address().String()
	tests := []struct {
		name   string
		filter client.LeaseFilter
		want   []uint64
	}{
		{"all of demo's", client.LeaseFilter{Consumer: me}, ids},
		{"open", client.LeaseFilter{Consumer: me, State: "open"}, ids[1:]},
		{"closed", client.LeaseFilter{Consumer: me, State: "closed"}, ids[:1]},
		{"with storage0", client.LeaseFilter{Consumer: me, Provider: prov.String(), Class: market.ClassStorage}, ids},
		{"compute", client.LeaseFilter{Consumer: me, Class: market.ClassCompute}, nil},
		{"storage0's open storage", client.LeaseFilter{Provider: prov.String(), State: "open", Class: market.ClassStorage}, ids[1:]},
	}
	for _, tt := range tests {
		got, pages := leaseIDs(tt.filter, 2)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: leases page by page = %v, want %v", tt.name, got, tt.want)
		}
		if wantPages := max(1, (len(tt.want)+1)/2); pages < wantPages {
			t.Errorf("%s: %d pages of 2, want at least %d", tt.name, pages, wantPages)
		}
	}

	for _, tc := range []struct{ path, detail string }{
		{"/v1/leases?consumer=" + me + "&limit=0", `limit "0" must be a whole number from 1 to 1000`},
		{"/v1/leases?consumer=" + me + "&limit=" + strconv.Itoa(api.MaxPageLimit+1), `must be a whole number from 1 to 1000`},
		{"/v1/leases?consumer=" + me + "&after=abc", `after "abc" is not a lease id: pass the next cursor of the previous page`},
		{"/v1/leases?consumer=" + me + "&state=gone", `state "gone" is not one of open, pending, active, grace and closed`},
		{"/v1/providers?after=nobody", `after "nobody" is not a provider's did:key`},
		{"/v1/objects?owner=" + me + "&after=xyz", `after "xyz" is not an object ID`},
		{"/v1/functions?owner=" + me + "&after=-1", `after "-1" is not a deployment id`},
	} {
		code, p := getJSON(t, d.n.APIURL()+tc.path, nil)
		if code != http.StatusBadRequest || p.Kind != "invalid" || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("GET %s = %d %+v, want 400 saying %q", tc.path, code, p, tc.detail)
		}
	}
	var empty api.Page[market.LeaseView]
	if code, _ := getJSON(t, d.n.APIURL()+"/v1/objects?owner="+me, &empty); code != http.StatusOK || empty.Items == nil || empty.Next != "" {
		t.Errorf("GET /v1/objects of an owner with none = %d %+v, want 200 with items [] and next \"\"", code, empty)
	}
}
