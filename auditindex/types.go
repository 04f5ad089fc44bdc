// Package auditindex is the vocabulary of the audit log's queries: the
// records the query API answers (Item, AccountTx, BlockEvent), the filters
// (Filter) and the one table that says which event attributes name an
// account or a resource (classify.go). Clients, the CLI and the dashboard
// use it without the index itself.
//
// The index is in package auditindex/pebbleindex; the node serves it.
package auditindex

import (
	"time"

	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// Kinds of item, as in Item.Kind; KindTx is also the Type of a
// transaction leaf, and so the ?kind= that chooses transactions.
const (
	KindTx    = string(leaf.KindTx)
	KindEvent = string(leaf.KindEvent)
)

// Attr is one attribute of an event item.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Item is one leaf of the audit log, as GET /v1/audit/events answers it and
// GET /v1/events streams it.
type Item struct {
	Index  uint64    `json:"index"`
	Height int64     `json:"height"`
	Time   time.Time `json:"time,omitzero"`
	Kind   string    `json:"kind"` // KindTx or KindEvent
	// Type is the event's type ("bank.transfer"), or "tx" for a
	// transaction leaf.
	Type string `json:"type"`
	// Tx is the hex hash of the transaction: the leaf's own, or the one
	// that emitted the event (empty for an event of the block itself).
	Tx    string `json:"tx,omitempty"`
	Attrs []Attr `json:"attrs,omitempty"`
	// Transaction leaves only. Signer and MsgType are empty for bytes
	// that did not decode as a transaction.
	Signer  string  `json:"signer,omitempty"`
	MsgType string  `json:"msg_type,omitempty"`
	Code    *uint32 `json:"code,omitempty"`
}

// Get returns the value of an attribute, or "".
func (it Item) Get(key string) string {
	for _, a := range it.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// Filter chooses leaves. Set filters AND together.
type Filter struct {
	Account  *identity.Address
	Resource string // "kind:id", as Resources returns
	Kind     string // an event type, or "tx"
	// From and To bound the leaf indexes, [From, To); To 0 means no end.
	From, To uint64
}

// Matches reports whether it passes f's account, resource and kind filters
// (not the range), deciding from the item alone. The live event stream
// uses it; the index answers the same through its posting lists.
func (f Filter) Matches(it Item) bool {
	if f.Kind != "" && it.Type != f.Kind {
		return false
	}
	attrs := make([]leaf.Attr, len(it.Attrs))
	for i, a := range it.Attrs {
		attrs[i] = leaf.Attr{Key: a.Key, Value: a.Value}
	}
	if f.Account != nil {
		did := f.Account.String()
		ok := it.Signer == did
		for _, a := range Accounts(it.Type, attrs) {
			ok = ok || a.Value == did
		}
		if !ok {
			return false
		}
	}
	return f.Resource == "" || contains(Resources(it.Type, attrs), f.Resource)
}

// Event is one event of a transaction in an account's history.
type Event struct {
	Type  string `json:"type"`
	Attrs []Attr `json:"attrs,omitempty"`
}

// AccountTx is a transaction in an account's history (GET
// /v1/accounts/{did}/txs): one the account signed, or whose events name it.
type AccountTx struct {
	Hash    string    `json:"hash"`
	Index   uint64    `json:"index"` // its audit leaf, the page cursor
	Height  int64     `json:"height"`
	Time    time.Time `json:"time,omitzero"`
	Code    uint32    `json:"code"`
	MsgType string    `json:"msg_type,omitempty"`
	Signer  string    `json:"signer,omitempty"`
	Memo    string    `json:"memo,omitempty"`
	Fee     uint64    `json:"fee"`
	GasUsed uint64    `json:"gas_used"`
	// Roles are how the account took part: RoleSigner, and the keys of
	// the attributes that name it ("to", "consumer", ...).
	Roles []string `json:"roles"`
	// Events are what the transaction emitted (none when it failed).
	Events []Event `json:"events,omitempty"`
}

// BlockEvent is the data of GET /v1/events's "block" event: a committed
// block.
type BlockEvent struct {
	Height    int64     `json:"height"`
	Time      time.Time `json:"time"`
	Txs       int       `json:"txs"`
	Failed    int       `json:"failed"`
	GasUsed   uint64    `json:"gas_used"`
	AuditSize uint64    `json:"audit_size"`
	AppHash   string    `json:"app_hash"`
}

// Transfer returns, for a transaction that moved value to or from did with
// a bank transfer, the amount (ustr, decimal) and the other account, with
// "to" when did sent it and "from" when it received it. ok is false for
// any other transaction.
func (t AccountTx) Transfer(did string) (amount, direction, counterparty string, ok bool) {
	k := ledger.CoreEvents.Transfer
	for _, e := range t.Events {
		if e.Type != k.Type {
			continue
		}
		ev := ledger.Event{Type: e.Type}
		for _, a := range e.Attrs {
			ev.Attrs = append(ev.Attrs, ledger.Attr{Key: a.Key, Value: a.Value})
		}
		from, to := k.Get(ev, "from"), k.Get(ev, "to")
		switch did {
		case from:
			return k.Get(ev, "amount"), "to", to, true
		case to:
			return k.Get(ev, "amount"), "from", from, true
		}
	}
	return "", "", "", false
}
