package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/stratus-cloud/stratus/codec"
)

// Modules whose messages have nested or optional parts may encode them as
// canonical JSON: what encoding/json's Marshal writes for the message
// struct, and nothing else. DecodeJSON refuses any other spelling (spaces,
// field order, unknown fields, escapes), so each message still has exactly
// one encoding and a signature covers one meaning.

// EncodeJSON writes v's canonical JSON as the rest of the message.
func EncodeJSON(w *codec.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: message does not marshal: %v", err))
	}
	w.Fixed(b)
}

// DecodeJSON reads the rest of the message into v and checks that it is
// canonical.
func DecodeJSON(r *codec.Reader, v any) error {
	b := r.Fixed(r.Remaining())
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	again, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("not canonical JSON: re-encode the message with encoding/json")
	}
	return nil
}
