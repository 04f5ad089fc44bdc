package auditindex

import (
	"strings"

	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/identity"
)

// This file is the one place that says which attributes of an event name
// an account and which name a resource. Events are untyped today (a type
// and key/value strings); when they become typed, replace this table, and
// docs/audit.md's copy of it, with the declarations.

// The roles a transaction leaf gives its signer.
const RoleSigner = "signer"

// resourceKeys maps an attribute key to the kind of resource its value
// names. A value may list several, comma-separated (objects' "leases" and
// "closed").
var resourceKeys = map[string]string{
	"lease":      "lease",      // market, objects: a lease id
	"leases":     "lease",      // objects: the leases of an object
	"closed":     "lease",      // objects, functions: the leases an event closed
	"deployment": "deployment", // functions: a deployment id
	"id":         "object",     // objects: an object id (only the objects module uses "id")
}

// maxResource bounds a resource name, in an event or a query.
const maxResource = 256

// Named is an account or a resource an event names, and the attribute that
// names it (the account's role).
type Named struct {
	Key   string // attribute key
	Value string // did:key of an account, or "kind:id" of a resource
}

// Accounts returns the accounts an event names: every attribute whose value
// is a did:key, with its key as the account's role.
func Accounts(attrs []leaf.Attr) []Named {
	var out []Named
	for _, a := range attrs {
		if !strings.HasPrefix(a.Value, "did:key:") {
			continue
		}
		if addr, err := identity.ParseDID(a.Value); err == nil {
			out = append(out, Named{Key: a.Key, Value: addr.String()})
		}
	}
	return out
}

// Resources returns the resources an event names, as "kind:id" ("lease:7",
// "deployment:3", "object:<id>"), without duplicates.
func Resources(attrs []leaf.Attr) []string {
	var out []string
	for _, a := range attrs {
		kind, ok := resourceKeys[a.Key]
		if !ok {
			continue
		}
		for id := range strings.SplitSeq(a.Value, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			r := kind + ":" + id
			if len(r) <= maxResource && !contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ResourceKinds are the kinds a resource name starts with.
var ResourceKinds = []string{"lease", "deployment", "object"}
