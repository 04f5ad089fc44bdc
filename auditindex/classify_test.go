package auditindex

import (
	"slices"
	"testing"

	"github.com/stratus-cloud/stratus/audit/leaf"
	_ "github.com/stratus-cloud/stratus/functions" // their event declarations
	"github.com/stratus-cloud/stratus/identity"
	_ "github.com/stratus-cloud/stratus/market"
	_ "github.com/stratus-cloud/stratus/objects"
)

func TestClassify(t *testing.T) {
	var a identity.Address
	a[0] = 7
	did := a.String()
	at := func(kv ...string) []leaf.Attr {
		var out []leaf.Attr
		for i := 0; i < len(kv); i += 2 {
			out = append(out, leaf.Attr{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		typ       string
		attrs     []leaf.Attr
		accounts  []string
		resources []string
	}{
		{"bank.transfer", at("from", did, "to", did, "amount", "5"), []string{"from", "to"}, nil},
		{"lease.opened", at("lease", "7", "consumer", did, "provider", did, "class", "storage"), []string{"consumer", "provider"}, []string{"lease:7"}},
		{"object.committed", at("id", "abc", "owner", did, "size", "3", "leases", "1,2"), []string{"owner"}, []string{"object:abc"}},
		{"function.deployed", at("deployment", "3", "owner", did, "name", "f"), []string{"owner"}, []string{"deployment:3"}},
		// A did:key in an attribute not declared an account is not one.
		{"lease.closed", at("lease", "4", "reason", did), nil, []string{"lease:4"}},
		// A type no declaration knows: did:key values are accounts.
		{"old.renamed", at("who", did, "lease", "9"), []string{"who"}, nil},
		{"bank.transfer", at("from", "did:key:zBAD", "to", did), []string{"to"}, nil},
	} {
		var keys []string
		for _, n := range Accounts(tc.typ, tc.attrs) {
			keys = append(keys, n.Key)
		}
		if !slices.Equal(keys, tc.accounts) {
			t.Errorf("%s %v: accounts %v, want %v", tc.typ, tc.attrs, keys, tc.accounts)
		}
		if got := Resources(tc.typ, tc.attrs); !slices.Equal(got, tc.resources) {
			t.Errorf("%s %v: resources %v, want %v", tc.typ, tc.attrs, got, tc.resources)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	var a identity.Address
	a[0] = 9
	ev := Item{Kind: KindEvent, Type: "lease.opened", Attrs: []Attr{{Key: "lease", Value: "4"}, {Key: "consumer", Value: a.String()}}}
	tx := Item{Kind: KindTx, Type: KindTx, Signer: a.String()}
	var other identity.Address
	for _, tc := range []struct {
		f    Filter
		it   Item
		want bool
	}{
		{Filter{}, ev, true},
		{Filter{Account: &a}, ev, true},
		{Filter{Account: &a}, tx, true},
		{Filter{Account: &other}, ev, false},
		{Filter{Resource: "lease:4", Kind: "lease.opened"}, ev, true},
		{Filter{Resource: "lease:4", Kind: "tx"}, ev, false},
		{Filter{Resource: "lease:4"}, tx, false},
	} {
		if got := tc.f.Matches(tc.it); got != tc.want {
			t.Errorf("%+v matches %+v = %v, want %v", tc.f, tc.it, got, tc.want)
		}
	}
}
