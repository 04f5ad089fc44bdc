package ledger_test

import (
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/ledger"
)

func mustPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("%s did not panic", what)
		}
		if !strings.Contains(r.(string), want) {
			t.Fatalf("%s panicked with %q, want it to mention %q", what, r, want)
		}
	}()
	f()
}

func TestEventKindBuildsEventsInDeclaredOrder(t *testing.T) {
	k := ledger.DeclareEvent("test.kind_order", "for this test",
		ledger.RefAttr("lease", ledger.RoleLease, ""), ledger.AccountAttr("who", ""),
		ledger.A("note", "").Opt(), ledger.AmountAttr("amount", ""))
	e := k.Event("7", "did:key:z6Mkexample", "", "12")
	want := []ledger.Attr{{Key: "lease", Value: "7"}, {Key: "who", Value: "did:key:z6Mkexample"}, {Key: "amount", Value: "12"}}
	if e.Type != "test.kind_order" || len(e.Attrs) != len(want) {
		t.Fatalf("event = %+v, want type test.kind_order and attrs %+v (the empty optional note left out)", e, want)
	}
	for i := range want {
		if e.Attrs[i] != want[i] {
			t.Fatalf("attr %d = %+v, want %+v", i, e.Attrs[i], want[i])
		}
	}
	// A required attribute stays even when empty: readers can rely on it.
	if e := k.Event("7", "", "", "0"); e.Get("who") != "" || len(e.Attrs) != 3 {
		t.Fatalf("empty required attribute: %+v, want it kept", e)
	}
	if got := k.Get(e, "amount"); got != "12" {
		t.Fatalf("Get(amount) = %q, want 12", got)
	}
	if !k.Is(e) || k.Is(ledger.Event{Type: "test.other"}) {
		t.Fatal("Is does not tell the kind apart")
	}
	if got := ledger.WithRole(e, ledger.RoleAccount); len(got) != 1 || got[0] != "did:key:z6Mkexample" {
		t.Fatalf("WithRole(account) = %v", got)
	}
	if got := ledger.WithRole(e, ledger.RoleLease); len(got) != 1 || got[0] != "7" {
		t.Fatalf("WithRole(lease) = %v", got)
	}
	if got := ledger.WithRole(ledger.Event{Type: "test.undeclared", Attrs: []ledger.Attr{{Key: "who", Value: "x"}}}, ledger.RoleAccount); got != nil {
		t.Fatalf("WithRole of an undeclared kind = %v, want none", got)
	}
	if ledger.LookupEventKind("test.kind_order") != k {
		t.Fatal("LookupEventKind does not find the declaration")
	}
}

func TestEventKindRefusesMisuse(t *testing.T) {
	k := ledger.DeclareEvent("test.kind_misuse", "for this test", ledger.A("a", ""), ledger.A("b", ""))
	mustPanic(t, "too few values", "takes 2 attributes, got 1", func() { k.Event("x") })
	mustPanic(t, "too many values", "takes 2 attributes, got 3", func() { k.Event("x", "y", "z") })
	mustPanic(t, "an undeclared key", `has no attribute "c"`, func() { k.Key("c") })
	mustPanic(t, "a second declaration", "declared twice", func() { ledger.DeclareEvent("test.kind_misuse", "again") })
	mustPanic(t, "a type without a module", "not module.name", func() { ledger.DeclareEvent("nodot", "") })
	mustPanic(t, "an attribute declared twice", "twice", func() { ledger.DeclareEvent("test.kind_dup", "", ledger.A("a", ""), ledger.A("a", "")) })
}

// TestCoreEventsAreDeclared checks the kinds the core emits are listed,
// with the roles that indexes rely on.
func TestCoreEventsAreDeclared(t *testing.T) {
	byType := map[string]*ledger.EventKind{}
	for _, k := range ledger.EventKinds() {
		byType[k.Type] = k
	}
	tr := byType["bank.transfer"]
	if tr == nil || tr != ledger.CoreEvents.Transfer {
		t.Fatal("bank.transfer is not declared")
	}
	roles := map[string]string{}
	for _, a := range tr.Attrs {
		roles[a.Key] = a.Role
	}
	if roles["from"] != ledger.RoleAccount || roles["to"] != ledger.RoleAccount || roles["amount"] != ledger.RoleAmount {
		t.Fatalf("bank.transfer roles = %v", roles)
	}
	if byType["chain.genesis"] == nil || byType["bank.fees_distributed"] == nil {
		t.Fatal("chain.genesis or bank.fees_distributed is not declared")
	}
}
