// Package tokens is the ledger module for user-issued fungible tokens. A
// token is a denomination of the bank (ledger.MintDenom and friends), so
// its balances move with bank/transfer like STR's and the conservation
// invariant covers it; this module keeps each token's record (symbol, name,
// decimals, issuer, whether it can be minted or burnt) and is the only code
// that mints or burns one.
//
// Messages:
//
//	tokens/create  the signer issues a token: its whole initial supply goes
//	               to the signer, and the creation fee (a parameter) goes to
//	               the treasury, so symbols are not squatted for free.
//	tokens/mint    the issuer of a mintable token creates more, for anyone.
//	tokens/burn    a holder of a burnable token destroys some of their own.
//
// State, under "tokens/":
//
//	tok/<denom> -> Token (JSON)
package tokens

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// DenomPrefix starts every token's denomination: "tok." and the symbol in
// lower case.
const DenomPrefix = "tok."

// MaxDecimals bounds a token's decimals, as ERC-20's common 18.
const MaxDecimals = 18

// Token is a token's record.
type Token struct {
	Denom    string           `json:"denom"`
	Symbol   string           `json:"symbol"`
	Name     string           `json:"name"`
	Decimals uint8            `json:"decimals"`
	Issuer   identity.Address `json:"issuer"`
	// Mintable tokens can be minted by their issuer after creation; the
	// supply of the others is fixed at creation (less what is burnt).
	Mintable bool `json:"mintable"`
	// Burnable tokens can be burnt by whoever holds them.
	Burnable  bool  `json:"burnable"`
	CreatedMs int64 `json:"created_ms"`
}

// Params are the module's parameters.
type Params struct {
	// CreateFee is what tokens/create costs on top of gas, in ustr, paid
	// to the treasury.
	CreateFee uint64 `json:"create_fee,string"`
}

// DefaultParams are a devnet's: 10 STR to create a token.
func DefaultParams() Params { return Params{CreateFee: 10 * money.UstrPerSTR} }

// Validate implements ledger.ParamSet.
func (p *Params) Validate() error {
	if p.CreateFee > 1_000_000*money.UstrPerSTR {
		return errs.E(errs.Invalid, "tokens create_fee %d is over 1,000,000 STR", p.CreateFee)
	}
	return nil
}

// Genesis is the module's genesis section.
type Genesis struct {
	Params Params `json:"params"`
}

// DefaultGenesis is a devnet's tokens section.
func DefaultGenesis() Genesis { return Genesis{Params: DefaultParams()} }

// Events are the module's event kinds.
var Events = struct{ Created, Minted, Burned *ledger.EventKind }{
	Created: ledger.DeclareEvent("token.created", "A token was issued; its initial supply went to its issuer.",
		ledger.A("denom", "the token's denomination"), ledger.A("symbol", "its symbol"),
		ledger.AccountAttr("issuer", "who issued it"), ledger.AmountAttr("supply", "the initial supply, in the token's smallest unit"),
		ledger.AmountAttr("fee", "the creation fee paid to the treasury, ustr")),
	Minted: ledger.DeclareEvent("token.minted", "A token's issuer created more of it.",
		ledger.A("denom", "the token's denomination"), ledger.AccountAttr("to", "who received it"),
		ledger.AmountAttr("amount", "in the token's smallest unit")),
	Burned: ledger.DeclareEvent("token.burned", "A holder destroyed some of a token.",
		ledger.A("denom", "the token's denomination"), ledger.AccountAttr("from", "whose tokens"),
		ledger.AmountAttr("amount", "in the token's smallest unit")),
}

// Create is tokens/create.
type Create struct {
	Symbol   string `json:"symbol"`
	Name     string `json:"name"`
	Decimals uint8  `json:"decimals"`
	Supply   uint64 `json:"supply,string"`
	Mintable bool   `json:"mintable"`
	Burnable bool   `json:"burnable"`
}

// Mint is tokens/mint, by a mintable token's issuer.
type Mint struct {
	Denom  string           `json:"denom"`
	To     identity.Address `json:"to"`
	Amount uint64           `json:"amount,string"`
}

// Burn is tokens/burn, of the signer's own tokens.
type Burn struct {
	Denom  string `json:"denom"`
	Amount uint64 `json:"amount,string"`
}

func (*Create) Type() string                   { return "tokens/create" }
func (m *Create) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *Create) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }
func (*Mint) Type() string                     { return "tokens/mint" }
func (m *Mint) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *Mint) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }
func (*Burn) Type() string                     { return "tokens/burn" }
func (m *Burn) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *Burn) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }

// ValidSymbol checks a symbol: 2 to 12 of A-Z and 0-9, starting with a
// letter.
func ValidSymbol(s string) error {
	if len(s) < 2 || len(s) > 12 || s[0] < 'A' || s[0] > 'Z' {
		return errs.E(errs.Invalid, "symbol %q must be 2 to 12 of A-Z and 0-9, starting with a letter", s)
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return errs.E(errs.Invalid, "symbol %q has %q: use A-Z and 0-9", s, r)
		}
	}
	return nil
}

// DenomOf is the denomination of the token with symbol s.
func DenomOf(symbol string) string { return DenomPrefix + strings.ToLower(symbol) }

// Validate implements ledger.Msg.
func (m *Create) Validate() error {
	if err := ValidSymbol(m.Symbol); err != nil {
		return err
	}
	if len(m.Name) > 64 {
		return errs.E(errs.Invalid, "a token's name is at most 64 bytes")
	}
	if m.Decimals > MaxDecimals {
		return errs.E(errs.Invalid, "decimals %d is over %d", m.Decimals, MaxDecimals)
	}
	if m.Supply == 0 && !m.Mintable {
		return errs.E(errs.Invalid, "a token with no supply must be mintable, or nobody could ever hold it")
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *Mint) Validate() error {
	if m.Amount == 0 || m.To.IsZero() {
		return errs.E(errs.Invalid, "mint a positive amount to an account")
	}
	return validDenom(m.Denom)
}

// Validate implements ledger.Msg.
func (m *Burn) Validate() error {
	if m.Amount == 0 {
		return errs.E(errs.Invalid, "burn a positive amount")
	}
	return validDenom(m.Denom)
}

func validDenom(d string) error {
	if !strings.HasPrefix(d, DenomPrefix) {
		return errs.E(errs.Invalid, "%q is not a token's denomination: they start with %q (see `stratus token show`)", d, DenomPrefix)
	}
	return ValidSymbol(strings.ToUpper(strings.TrimPrefix(d, DenomPrefix)))
}

// Module is the tokens ledger module.
type Module struct{}

var storeKey = ledger.NewStoreKey("tokens")

// Name implements ledger.Module.
func (Module) Name() string { return "tokens" }

// NewParams implements ledger.ParamsOwner.
func (Module) NewParams() ledger.ParamSet { return &Params{} }

// InitGenesis implements ledger.Module: it stores the parameters.
func (Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	g := DefaultGenesis()
	if len(raw) > 0 && string(raw) != "null" {
		g = Genesis{}
		if err := json.Unmarshal(raw, &g); err != nil {
			return errs.E(errs.Invalid, "tokens genesis: %v", err)
		}
	}
	return ctx.SetParams(Module{}.Name(), &g.Params)
}

// EndBlock implements ledger.Module; tokens have no scheduled work.
func (Module) EndBlock(*ledger.Context) error { return nil }

// Msgs implements ledger.Module.
func (Module) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{
		{New: func() ledger.Msg { return &Create{} }, Handler: ledger.Handle(create)},
		{New: func() ledger.Msg { return &Mint{} }, Handler: ledger.Handle(mint)},
		{New: func() ledger.Msg { return &Burn{} }, Handler: ledger.Handle(burn)},
	}
}

func tokKey(denom string) []byte { return []byte("tok/" + denom) }

// Get returns a token's record, or NotFound.
func Get(ctx *ledger.Context, denom string) (*Token, error) {
	b := ctx.Store(storeKey).Get(tokKey(denom))
	if b == nil {
		return nil, errs.E(errs.NotFound, "no token %s: see `stratus token list`", denom)
	}
	var t Token
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, errs.E(errs.Internal, "tokens: stored token %s: %v", denom, err)
	}
	return &t, nil
}

// List returns the tokens after denom after (all for ""), in denomination
// order, at most limit, and whether more follow.
func List(ctx *ledger.Context, after string, limit int) ([]Token, bool, error) {
	var out []Token
	more := false
	err := ctx.Store(storeKey).Iterate([]byte("tok/"), func(k, v []byte) error {
		if string(k[len("tok/"):]) <= after && after != "" {
			return nil
		}
		if len(out) == limit {
			more = true
			return ledger.ErrStop
		}
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return errs.E(errs.Internal, "tokens: stored token %s: %v", k, err)
		}
		out = append(out, t)
		return nil
	})
	return out, more, err
}

func create(ctx *ledger.Context, signer identity.Address, m *Create) error {
	denom := DenomOf(m.Symbol)
	if ctx.Store(storeKey).Get(tokKey(denom)) != nil {
		return errs.E(errs.Conflict, "token %s exists already: pick another symbol", m.Symbol)
	}
	fee := ctx.ModuleParams(Module{}.Name()).(*Params).CreateFee
	if bal := ctx.GetAccount(signer).Balance; bal < fee {
		return errs.E(errs.Insufficient, "creating a token costs %s for the treasury on top of gas, and %s has %s besides the gas it offered", money.Format(fee), signer, money.Format(bal))
	}
	if err := ctx.Debit(signer, ledger.BucketTreasury, fee); err != nil {
		return err
	}
	if m.Supply > 0 {
		if err := ctx.MintDenom(denom, signer, m.Supply); err != nil {
			return err
		}
	}
	t := Token{Denom: denom, Symbol: m.Symbol, Name: m.Name, Decimals: m.Decimals, Issuer: signer,
		Mintable: m.Mintable, Burnable: m.Burnable, CreatedMs: ctx.Time.UnixMilli()}
	b, err := json.Marshal(t)
	if err != nil {
		return errs.E(errs.Internal, "tokens: token does not marshal: %v", err)
	}
	ctx.Store(storeKey).Set(tokKey(denom), b)
	Events.Created.Emit(ctx, denom, m.Symbol, signer.String(), ledger.FormatInt(m.Supply), ledger.FormatInt(fee))
	return nil
}

func mint(ctx *ledger.Context, signer identity.Address, m *Mint) error {
	t, err := Get(ctx, m.Denom)
	if err != nil {
		return err
	}
	if !t.Mintable {
		return errs.E(errs.Conflict, "token %s is not mintable: its supply was fixed when it was created", t.Symbol)
	}
	if signer != t.Issuer {
		return errs.E(errs.Unauthorized, "only %s, the issuer of %s, may mint it", t.Issuer, t.Symbol)
	}
	if err := ctx.MintDenom(m.Denom, m.To, m.Amount); err != nil {
		return err
	}
	Events.Minted.Emit(ctx, m.Denom, m.To.String(), ledger.FormatInt(m.Amount))
	return nil
}

func burn(ctx *ledger.Context, signer identity.Address, m *Burn) error {
	t, err := Get(ctx, m.Denom)
	if err != nil {
		return err
	}
	if !t.Burnable {
		return errs.E(errs.Conflict, "token %s is not burnable", t.Symbol)
	}
	if err := ctx.BurnDenom(m.Denom, signer, m.Amount); err != nil {
		return err
	}
	Events.Burned.Emit(ctx, m.Denom, signer.String(), ledger.FormatInt(m.Amount))
	return nil
}

// FormatAmount writes amount, in the token's smallest unit, with its
// decimals: 1500 with 3 decimals is "1.5".
func FormatAmount(amount uint64, decimals uint8) string {
	s := fmt.Sprint(amount)
	if decimals == 0 {
		return s
	}
	for len(s) <= int(decimals) {
		s = "0" + s
	}
	whole, frac := s[:len(s)-int(decimals)], strings.TrimRight(s[len(s)-int(decimals):], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// ParseAmount reads an amount written with at most decimals places ("1.5")
// into the token's smallest unit, refusing more places, signs, and
// overflow.
func ParseAmount(s string, decimals uint8) (uint64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || len(frac) > int(decimals) {
		return 0, errs.E(errs.Invalid, "amount %q: write digits, with at most %d after the point", s, decimals)
	}
	frac += strings.Repeat("0", int(decimals)-len(frac))
	var v uint64
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, errs.E(errs.Invalid, "amount %q: write digits, with at most %d after the point", s, decimals)
		}
		if v > (^uint64(0)-uint64(r-'0'))/10 {
			return 0, errs.E(errs.Invalid, "amount %q is too large", s)
		}
		v = v*10 + uint64(r-'0')
	}
	return v, nil
}
