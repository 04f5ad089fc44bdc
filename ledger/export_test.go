package ledger

import (
	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/identity"
)

// SignUnchecked encodes and signs t without Sign's bounds checks, so tests
// can make the oversize transactions a hostile client would send.
func SignUnchecked(t *Tx, key *identity.Key) []byte {
	t.Signer = key.Address()
	t.MsgType = t.Msg.Type()
	mw := codec.NewWriter(64)
	t.Msg.Encode(mw)
	body := encodeBody(t, mw.Bytes())
	w := codec.NewWriter(len(body) + 80)
	w.BytesField(body)
	w.Fixed(key.Sign(signBytes(body)))
	return w.Bytes()
}
