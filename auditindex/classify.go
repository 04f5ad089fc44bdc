package auditindex

import (
	"strings"

	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// What an event names is what its kind's declaration says
// (ledger.EventKind): an attribute with role ledger.RoleAccount names an
// account, one with RoleLease, RoleObject or RoleDeployment a resource. The
// modules' declarations must be linked in (the node links them all). A leaf
// of a type no declaration knows (one renamed since) names as accounts the
// attributes whose value is a did:key, and no resource.

// RoleSigner is the role a transaction leaf gives its signer.
const RoleSigner = "signer"

// resourceKinds maps a declared role to the kind a resource name starts
// with.
var resourceKinds = map[string]string{
	ledger.RoleLease:      "lease",
	ledger.RoleObject:     "object",
	ledger.RoleDeployment: "deployment",
}

// ResourceKinds are the kinds a resource name starts with.
var ResourceKinds = []string{"lease", "deployment", "object"}

// maxResource bounds a resource name, in an event or a query.
const maxResource = 256

// Named is an account an event names, and the attribute that names it
// (the account's role).
type Named struct {
	Key   string // attribute key
	Value string // did:key
}

// Accounts returns the accounts an event of type typ names, each with the
// key of the attribute that names it.
func Accounts(typ string, attrs []leaf.Attr) []Named {
	var out []Named
	add := func(key, value string) {
		if addr, err := identity.ParseDID(value); err == nil {
			out = append(out, Named{Key: key, Value: addr.String()})
		}
	}
	k := ledger.LookupEventKind(typ)
	if k == nil {
		for _, a := range attrs {
			if strings.HasPrefix(a.Value, "did:key:") {
				add(a.Key, a.Value)
			}
		}
		return out
	}
	for _, spec := range k.Attrs {
		if spec.Role != ledger.RoleAccount {
			continue
		}
		if v := get(attrs, spec.Key); v != "" {
			add(spec.Key, v)
		}
	}
	return out
}

// Resources returns the resources an event of type typ names, as
// "kind:id" ("lease:7", "deployment:3", "object:<id>"), without duplicates.
func Resources(typ string, attrs []leaf.Attr) []string {
	k := ledger.LookupEventKind(typ)
	if k == nil {
		return nil
	}
	var out []string
	for _, spec := range k.Attrs {
		kind, ok := resourceKinds[spec.Role]
		if !ok {
			continue
		}
		id := strings.TrimSpace(get(attrs, spec.Key))
		if r := kind + ":" + id; id != "" && len(r) <= maxResource && !contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func get(attrs []leaf.Attr, key string) string {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
