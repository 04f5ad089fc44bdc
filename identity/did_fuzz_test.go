package identity

import (
	"strings"
	"testing"
)

func FuzzParseDID(f *testing.F) {
	k, _, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	did := k.Address().String()
	f.Add(did)
	f.Add(Address{}.String())
	f.Add("did:key:z1" + did[len(didPrefix):]) // hidden leading zero
	f.Add(did[:len(did)-1])
	f.Add("did:key:zzzzzzzz")
	f.Add("not a did")
	f.Add(strings.Repeat("did:key:z", 20))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseDID(s)
		if err != nil {
			return
		}
		if got := a.String(); got != s {
			t.Fatalf("ParseDID(%q) succeeded but String() = %q", s, got)
		}
	})
}
