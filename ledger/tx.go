package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// Bounds on a transaction's parts. The chain's max_tx_bytes parameter may be
// lower than MaxTxBytes, never higher.
const (
	MaxTxBytes    = 1 << 20 // CometBFT's default mempool max_tx_bytes
	MaxChainID    = 64
	MaxMsgType    = 64
	MaxMemo       = 256
	SignatureSize = 64
	txMagic       = "STX2"
)

// signDomain prefixes the bytes a signature covers, so a transaction
// signature can never be mistaken for a signature over anything else.
const signDomain = "stratus/tx/v1\n"

// Tx is a signed transaction. Body is kept as received: the signature covers
// exactly those bytes, and the hash is over the whole encoding.
type Tx struct {
	ChainID string
	Signer  identity.Address
	Nonce   uint64
	// GasLimit is the most gas the transaction may use, and GasPrice what
	// it pays per gas, in ustr. It pays GasUsed x GasPrice; running out of
	// gas fails it, and it then pays GasLimit x GasPrice.
	GasLimit uint64
	GasPrice uint64
	Memo     string
	MsgType  string
	Msg      Msg

	body []byte // the encoded body, as signed
	sig  []byte
	raw  []byte // the whole encoding
}

// Hash is the SHA-256 of a transaction's bytes, as CometBFT computes it.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hash as 64 hex characters.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, errs.E(errs.Invalid, "%q is not a transaction hash: want 64 hex characters", s)
	}
	copy(h[:], b)
	return h, nil
}

// HashTx returns the hash of raw transaction bytes.
func HashTx(raw []byte) Hash { return sha256.Sum256(raw) }

// MaxFee is what the transaction pays if it uses all its gas: GasLimit x
// GasPrice. It fails with Invalid if that overflows.
func (t *Tx) MaxFee() (uint64, error) {
	hi, lo := bits.Mul64(t.GasLimit, t.GasPrice)
	if hi != 0 {
		return 0, errs.E(errs.Invalid, "gas limit %d at gas price %d ustr is more than any fee can be", t.GasLimit, t.GasPrice)
	}
	return lo, nil
}

// ChargedSize is the size the gas table charges the transaction for: its
// length with the gas limit and price counted at their longest encoding,
// so that signing a transaction again with the estimated gas limit does not
// change the gas it uses.
func (t *Tx) ChargedSize() int {
	return len(t.raw) - uvarintLen(t.GasLimit) - uvarintLen(t.GasPrice) + 2*binary.MaxVarintLen64
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// TxGasLimit reads a transaction's gas limit from its encoding without
// decoding its message, for a proposer filling a block up to its gas limit.
func TxGasLimit(raw []byte) (uint64, error) {
	r := codec.NewReader(raw)
	body := r.BytesField(MaxTxBytes)
	if r.Err() != nil {
		return 0, errs.E(errs.Invalid, "malformed transaction: %v", r.Err())
	}
	br := codec.NewReader(body)
	if string(br.Fixed(len(txMagic))) != txMagic {
		return 0, errs.E(errs.Invalid, "malformed transaction: not a Stratus v2 transaction")
	}
	br.String(MaxChainID)
	br.Fixed(len(identity.Address{}))
	br.Uvarint()
	g := br.Uvarint()
	if br.Err() != nil {
		return 0, errs.E(errs.Invalid, "malformed transaction: %v", br.Err())
	}
	return g, nil
}

// Bytes returns the transaction's encoding.
func (t *Tx) Bytes() []byte { return t.raw }

// Hash returns the transaction's hash.
func (t *Tx) Hash() Hash { return HashTx(t.raw) }

// SignBytes returns what the signature covers.
func (t *Tx) SignBytes() []byte { return signBytes(t.body) }

func signBytes(body []byte) []byte {
	b := make([]byte, 0, len(signDomain)+len(body))
	b = append(b, signDomain...)
	return append(b, body...)
}

// VerifySignature checks the signature against the signer's key.
func (t *Tx) VerifySignature() bool {
	return identity.Verify(t.Signer, t.SignBytes(), t.sig)
}

func encodeBody(t *Tx, msgBytes []byte) []byte {
	w := codec.NewWriter(64 + len(t.ChainID) + len(t.MsgType) + len(msgBytes) + len(t.Memo))
	w.Fixed([]byte(txMagic))
	w.String(t.ChainID)
	w.Fixed(t.Signer[:])
	w.Uvarint(t.Nonce)
	w.Uvarint(t.GasLimit)
	w.Uvarint(t.GasPrice)
	w.String(t.Memo)
	w.String(t.MsgType)
	w.BytesField(msgBytes)
	return w.Bytes()
}

// Sign encodes t's body, signs it with key and fills in the signature and
// encoding. It sets t.Signer and t.MsgType from the key and message.
func (t *Tx) Sign(key *identity.Key) error {
	if len(t.ChainID) > MaxChainID || len(t.Memo) > MaxMemo {
		return errs.E(errs.Invalid, "chain id or memo too long: at most %d and %d bytes", MaxChainID, MaxMemo)
	}
	t.Signer = key.Address()
	t.MsgType = t.Msg.Type()
	mw := codec.NewWriter(64)
	t.Msg.Encode(mw)
	t.body = encodeBody(t, mw.Bytes())
	t.sig = key.Sign(signBytes(t.body))
	w := codec.NewWriter(len(t.body) + 80)
	w.BytesField(t.body)
	w.Fixed(t.sig)
	t.raw = w.Bytes()
	if len(t.raw) > MaxTxBytes {
		return errs.E(errs.TooLarge, "transaction is %d bytes, over the %d-byte limit", len(t.raw), MaxTxBytes)
	}
	return nil
}

// DecodeTx parses a transaction. It checks the encoding and bounds only;
// registry decodes the message. It does not verify the signature: callers do,
// once, because verification is the expensive part.
func DecodeTx(raw []byte, reg *Registry) (*Tx, error) {
	if len(raw) > MaxTxBytes {
		return nil, errs.E(errs.TooLarge, "transaction is %d bytes, over the %d-byte limit", len(raw), MaxTxBytes)
	}
	r := codec.NewReader(raw)
	body := r.BytesField(MaxTxBytes)
	sig := r.Fixed(SignatureSize)
	if err := r.Finish(); err != nil {
		return nil, errs.E(errs.Invalid, "malformed transaction: %v", err)
	}
	t := &Tx{body: body, sig: sig, raw: raw}
	br := codec.NewReader(body)
	if string(br.Fixed(len(txMagic))) != txMagic {
		return nil, errs.E(errs.Invalid, "malformed transaction: not a Stratus v2 transaction")
	}
	t.ChainID = br.String(MaxChainID)
	copy(t.Signer[:], br.Fixed(len(t.Signer)))
	t.Nonce = br.Uvarint()
	t.GasLimit = br.Uvarint()
	t.GasPrice = br.Uvarint()
	t.Memo = br.String(MaxMemo)
	t.MsgType = br.String(MaxMsgType)
	msgBytes := br.BytesField(MaxTxBytes)
	if err := br.Finish(); err != nil {
		return nil, errs.E(errs.Invalid, "malformed transaction: %v", err)
	}
	m, err := reg.decode(t.MsgType, msgBytes)
	if err != nil {
		return nil, err
	}
	t.Msg = m
	return t, nil
}
