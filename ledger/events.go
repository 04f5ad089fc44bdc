package ledger

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// What an event attribute's value names. Indexes, the CLI and the dashboard
// find an event's accounts and resources by these roles, not by key names.
const (
	RoleAccount    = "account"    // a did:key
	RoleLease      = "lease"      // a lease id
	RoleObject     = "object"     // an object id
	RoleDeployment = "deployment" // a function deployment id
	RoleAmount     = "amount"     // an amount of ustr
)

// AttrSpec declares one attribute of an event kind.
type AttrSpec struct {
	Key string `json:"key"`
	// Role is what the value names (RoleAccount, RoleLease, ...), or ""
	// for anything else.
	Role string `json:"role,omitempty"`
	// Optional attributes are left out of an event when their value is
	// empty; the others are always there.
	Optional bool   `json:"optional,omitempty"`
	Doc      string `json:"doc,omitempty"`
}

// A is an attribute without a role.
func A(key, doc string) AttrSpec { return AttrSpec{Key: key, Doc: doc} }

// AccountAttr is an attribute whose value is a did:key.
func AccountAttr(key, doc string) AttrSpec { return AttrSpec{Key: key, Role: RoleAccount, Doc: doc} }

// AmountAttr is an attribute whose value is an amount of ustr.
func AmountAttr(key, doc string) AttrSpec { return AttrSpec{Key: key, Role: RoleAmount, Doc: doc} }

// RefAttr is an attribute whose value is the id of a resource: role is
// RoleLease, RoleObject or RoleDeployment.
func RefAttr(key, role, doc string) AttrSpec { return AttrSpec{Key: key, Role: role, Doc: doc} }

// Opt marks an attribute optional: left out when its value is empty.
func (s AttrSpec) Opt() AttrSpec { s.Optional = true; return s }

// EventKind declares one kind of event: its type and its attributes, in the
// order they are emitted. Emitters emit through it (Emit), and readers find
// attributes through it (Get), so a renamed or misspelt attribute fails
// the first test that emits or reads it instead of going unnoticed.
type EventKind struct {
	Type  string     `json:"type"`
	Doc   string     `json:"doc"`
	Attrs []AttrSpec `json:"attrs"`
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]*EventKind{}
)

// DeclareEvent declares an event kind. Declare each kind once, in a package
// variable of the module that emits it; a second declaration of a type, or
// an attribute declared twice, panics (a programming error found when the
// program starts).
func DeclareEvent(typ, doc string, attrs ...AttrSpec) *EventKind {
	k := &EventKind{Type: typ, Doc: doc, Attrs: attrs}
	seen := map[string]bool{}
	for _, a := range attrs {
		if a.Key == "" || seen[a.Key] {
			panic(fmt.Sprintf("ledger: event %s declares attribute %q twice or empty", typ, a.Key))
		}
		seen[a.Key] = true
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[typ]; dup || typ == "" || !strings.Contains(typ, ".") {
		panic(fmt.Sprintf("ledger: event type %q is empty, not module.name, or declared twice", typ))
	}
	kinds[typ] = k
	return k
}

// EventKinds returns every declared event kind, by type.
func EventKinds() []*EventKind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]*EventKind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b *EventKind) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// LookupEventKind returns the declaration of an event type, or nil.
func LookupEventKind(typ string) *EventKind {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	return kinds[typ]
}

// Event builds an event of this kind from one value per declared attribute,
// in order; an optional attribute with an empty value is left out. A count
// that does not match the declaration panics: a programming error that every
// test reaching the emitter finds.
func (k *EventKind) Event(values ...string) Event {
	if len(values) != len(k.Attrs) {
		panic(fmt.Sprintf("ledger: event %s takes %d attributes, got %d", k.Type, len(k.Attrs), len(values)))
	}
	attrs := make([]Attr, 0, len(values))
	for i, a := range k.Attrs {
		if a.Optional && values[i] == "" {
			continue
		}
		attrs = append(attrs, Attr{Key: a.Key, Value: values[i]})
	}
	return Event{Type: k.Type, Attrs: attrs}
}

// Emit emits an event of this kind (see Event).
func (k *EventKind) Emit(ctx *Context, values ...string) {
	e := k.Event(values...)
	ctx.Emit(e.Type, e.Attrs...)
}

// Is reports whether e is of this kind.
func (k *EventKind) Is(e Event) bool { return e.Type == k.Type }

// Key returns key, after checking that this kind declares it: for readers
// of events in other shapes (the API's, with attributes in a map). A key
// the kind does not declare panics.
func (k *EventKind) Key(key string) string {
	if !slices.ContainsFunc(k.Attrs, func(a AttrSpec) bool { return a.Key == key }) {
		panic(fmt.Sprintf("ledger: event %s has no attribute %q", k.Type, key))
	}
	return key
}

// Get returns attribute key of e, which must be of this kind; a key the
// kind does not declare panics.
func (k *EventKind) Get(e Event, key string) string { return e.Get(k.Key(key)) }

// WithRole returns the values of e's attributes whose declared role is
// role, in order. An event of an undeclared type has none.
func WithRole(e Event, role string) []string {
	k := LookupEventKind(e.Type)
	if k == nil {
		return nil
	}
	var out []string
	for _, a := range k.Attrs {
		if a.Role != role {
			continue
		}
		if v := e.Get(a.Key); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// CoreEvents are the event kinds of the core and the bank.
var CoreEvents = struct{ Genesis, Transfer, FeesDistributed *EventKind }{
	Genesis: DeclareEvent("chain.genesis", "The chain started: leaf 0 of the audit log.",
		A("chain_id", "the chain's id"), AmountAttr("supply", "the STR minted at genesis")),
	Transfer: DeclareEvent("bank.transfer", "A bank/transfer moved STR between accounts.",
		AccountAttr("from", "the sender"), AccountAttr("to", "the recipient"), AmountAttr("amount", "what moved")),
	FeesDistributed: DeclareEvent("bank.fees_distributed", "The fee pool of a fee epoch was paid out.",
		AmountAttr("pool", "the fees collected"), AmountAttr("validators", "what the validators were paid, by voting power"),
		AmountAttr("treasury", "what went to the treasury")),
}
