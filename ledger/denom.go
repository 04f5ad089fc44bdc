package ledger

import (
	"strings"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
)

// The bank holds more than one denomination. STR (ustr, the native one)
// keeps its accounts, buckets and fixed supply exactly as above; every other
// denomination (a token) is a balance per account and a supply, under the
// core's namespace denom/:
//
//	denom/b/<denom>/<address> -> balance (8 bytes, big-endian)
//	denom/s/<denom>           -> supply
//
// Only the code that issues a denomination mints and burns it (the tokens
// module, through MintDenom and BurnDenom); anyone moves what they hold
// (TransferDenom, bank/transfer with a denom). For every denomination the
// balances add up to its supply.

// NativeDenom is STR's denomination. A message names it by leaving its
// denom empty.
const NativeDenom = "ustr"

const (
	prefDenom        = "denom/"
	prefDenomBalance = prefDenom + "b/"
	prefDenomSupply  = prefDenom + "s/"
	// MaxDenom bounds a denomination's name.
	MaxDenom = 64
)

// ValidDenom checks a denomination's name: 2 to 64 of a-z, 0-9, '.', '_'
// and '-', starting with a letter. NativeDenom is valid.
func ValidDenom(d string) error {
	if len(d) < 2 || len(d) > MaxDenom || d[0] < 'a' || d[0] > 'z' {
		return errs.E(errs.Invalid, "denomination %q must be 2 to %d characters from a-z, 0-9, '.', '_' and '-', starting with a letter", d, MaxDenom)
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return errs.E(errs.Invalid, "denomination %q has %q: use a-z, 0-9, '.', '_' and '-'", d, r)
		}
	}
	return nil
}

func denomBalanceKey(denom string, a identity.Address) []byte {
	k := make([]byte, 0, len(prefDenomBalance)+len(denom)+1+len(a))
	k = append(k, prefDenomBalance...)
	k = append(k, denom...)
	k = append(k, '/')
	return append(k, a[:]...)
}

func denomSupplyKey(denom string) []byte { return []byte(prefDenomSupply + denom) }

func native(denom string) bool { return denom == "" || denom == NativeDenom }

// Balance returns what account a holds of denom (NativeDenom or "" for STR).
func (c *Context) Balance(denom string, a identity.Address) uint64 {
	if native(denom) {
		return c.GetAccount(a).Balance
	}
	return readU64(c.cache.Get(denomBalanceKey(denom, a)))
}

// DenomSupply returns how much of denom exists.
func (c *Context) DenomSupply(denom string) uint64 {
	if native(denom) {
		return c.Supply()
	}
	return readU64(c.cache.Get(denomSupplyKey(denom)))
}

func (c *Context) setDenomBalance(denom string, a identity.Address, v uint64) {
	if v == 0 {
		c.cache.Delete(denomBalanceKey(denom, a))
		return
	}
	c.cache.Set(denomBalanceKey(denom, a), u64(v))
}

// TransferDenom moves amt of denom from one account to another. It fails
// with kind Insufficient, changing nothing, if from holds less.
func (c *Context) TransferDenom(denom string, from, to identity.Address, amt uint64) error {
	if native(denom) {
		return c.Transfer(from, to, amt)
	}
	if err := ValidDenom(denom); err != nil {
		return err
	}
	have := c.Balance(denom, from)
	left, err := money.Sub(have, amt)
	if err != nil {
		return errs.E(errs.Insufficient, "insufficient %s in %s: need %d, have %d", denom, from, amt, have)
	}
	if from == to {
		return nil
	}
	got, err := money.Add(c.Balance(denom, to), amt)
	if err != nil {
		return err
	}
	c.setDenomBalance(denom, from, left)
	c.setDenomBalance(denom, to, got)
	return nil
}

// MintDenom creates amt of denom in account to, raising its supply. STR
// cannot be minted: its supply is fixed at genesis.
func (c *Context) MintDenom(denom string, to identity.Address, amt uint64) error {
	if native(denom) {
		return errs.E(errs.Invalid, "STR cannot be minted: its supply is fixed at genesis")
	}
	if err := ValidDenom(denom); err != nil {
		return err
	}
	s, err := money.Add(c.DenomSupply(denom), amt)
	if err != nil {
		return errs.E(errs.Invalid, "minting %d %s would overflow its supply", amt, denom)
	}
	b, err := money.Add(c.Balance(denom, to), amt)
	if err != nil {
		return err
	}
	c.cache.Set(denomSupplyKey(denom), u64(s))
	c.setDenomBalance(denom, to, b)
	return nil
}

// BurnDenom destroys amt of denom held by from, lowering its supply. STR
// cannot be burnt.
func (c *Context) BurnDenom(denom string, from identity.Address, amt uint64) error {
	if native(denom) {
		return errs.E(errs.Invalid, "STR cannot be burnt: its supply is fixed at genesis")
	}
	if err := ValidDenom(denom); err != nil {
		return err
	}
	have := c.Balance(denom, from)
	left, err := money.Sub(have, amt)
	if err != nil {
		return errs.E(errs.Insufficient, "insufficient %s in %s to burn: need %d, have %d", denom, from, amt, have)
	}
	supply, err := money.Sub(c.DenomSupply(denom), amt)
	if err != nil {
		return errs.E(errs.Internal, "the supply of %s is below a balance of it: %v", denom, err)
	}
	c.setDenomBalance(denom, from, left)
	c.cache.Set(denomSupplyKey(denom), u64(supply))
	return nil
}

// ReadDenomBalance reads what account a holds of denom from committed state.
func ReadDenomBalance(r Reader, denom string, a identity.Address) (uint64, error) {
	if native(denom) {
		acct, err := ReadAccount(r, a)
		return acct.Balance, err
	}
	b, err := r.Get(denomBalanceKey(denom, a))
	return readU64(b), err
}

// ReadDenomSupply reads the supply of denom from committed state.
func ReadDenomSupply(r Reader, denom string) (uint64, error) {
	if native(denom) {
		return ReadSupply(r)
	}
	b, err := r.Get(denomSupplyKey(denom))
	return readU64(b), err
}

// DenomKey parses a key of committed state: if it holds a balance of a
// denomination other than STR, it returns the denomination and the
// account. Conservation checks walk state with it.
func DenomKey(key []byte) (denom string, a identity.Address, ok bool) {
	rest, found := strings.CutPrefix(string(key), prefDenomBalance)
	if !found || len(rest) < len(a)+3 || rest[len(rest)-len(a)-1] != '/' {
		return "", a, false
	}
	copy(a[:], rest[len(rest)-len(a):])
	return rest[:len(rest)-len(a)-1], a, true
}

// DenomSupplyKey parses a key of committed state: if it holds the supply of
// a denomination, it returns the denomination.
func DenomSupplyKey(key []byte) (string, bool) {
	return strings.CutPrefix(string(key), prefDenomSupply)
}
