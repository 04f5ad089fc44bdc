package auditindex

import (
	"slices"
	"testing"

	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/identity"
)

func TestClassify(t *testing.T) {
	var a identity.Address
	a[0] = 7
	did := a.String()
	for _, tc := range []struct {
		name      string
		attrs     []leaf.Attr
		accounts  []string
		resources []string
	}{
		{"transfer", []leaf.Attr{{Key: "from", Value: did}, {Key: "to", Value: did}, {Key: "amount", Value: "5"}}, []string{"from", "to"}, nil},
		{"lease", []leaf.Attr{{Key: "lease", Value: "7"}, {Key: "consumer", Value: did}}, []string{"consumer"}, []string{"lease:7"}},
		{"object with leases", []leaf.Attr{{Key: "id", Value: "abc"}, {Key: "leases", Value: "1,2"}, {Key: "closed", Value: "2"}}, nil, []string{"object:abc", "lease:1", "lease:2"}},
		{"deployment", []leaf.Attr{{Key: "deployment", Value: "3"}}, nil, []string{"deployment:3"}},
		{"a did:key that does not parse is not an account", []leaf.Attr{{Key: "to", Value: "did:key:zBAD"}}, nil, nil},
	} {
		var keys []string
		for _, n := range Accounts(tc.attrs) {
			keys = append(keys, n.Key)
		}
		if !slices.Equal(keys, tc.accounts) {
			t.Errorf("%s: accounts %v, want %v", tc.name, keys, tc.accounts)
		}
		if got := Resources(tc.attrs); !slices.Equal(got, tc.resources) {
			t.Errorf("%s: resources %v, want %v", tc.name, got, tc.resources)
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
