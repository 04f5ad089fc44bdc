package leaf_test

import (
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/audit/leaf"
	"github.com/stratus-cloud/stratus/codec"
)

func event(typ string, attrs ...string) []byte {
	w := codec.NewWriter(64)
	w.String("event")
	w.Uvarint(7)
	w.Uvarint(0)
	w.String(typ)
	w.Uvarint(uint64(len(attrs) / 2))
	for _, a := range attrs {
		w.String(a)
	}
	return w.Bytes()
}

func TestDecodeEvent(t *testing.T) {
	e, err := leaf.Decode(event("bank.transfer", "from", "a", "amount", "5"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != leaf.KindEvent || e.Event.Height != 7 || e.Event.Tx != -1 || e.Event.Type != "bank.transfer" || e.Event.Get("amount") != "5" {
		t.Errorf("Decode = %+v", e.Event)
	}
}

// Tx leaves are checked against what the ledger writes in ledger's
// TestAuditLog; here, only what must be refused.
func TestDecodeRefuses(t *testing.T) {
	tests := map[string][]byte{
		"empty":         nil,
		"unknown kind":  append([]byte{5}, "other"...),
		"trailing":      append(event("x"), 0),
		"short":         event("x", "k", "v")[:10],
		"attrs overrun": func() []byte { b := event("x"); b[len(b)-1] = 200; return b }(),
	}
	for name, b := range tests {
		if _, err := leaf.Decode(b); !errors.Is(err, leaf.ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
}
