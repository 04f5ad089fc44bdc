package ledger

import (
	"encoding/json"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
)

// Value lives in buckets. Every ustr in existence is in exactly one: an
// account balance (the "balances" bucket is their sum), or a named pool such
// as collected fees or the treasury. Modules add buckets (escrow, collateral)
// by implementing BucketOwner. Moving value is only possible through the
// functions below, each of which keeps the conservation invariant:
//
//	sum of buckets == supply
const (
	BucketBalances = "balances"
	BucketFees     = "fees"
	BucketTreasury = "treasury"
)

// BucketOwner is implemented by modules that hold value outside balances.
type BucketOwner interface {
	Buckets() []string
}

const (
	prefAccount = "acct/"
	prefBucket  = "bucket/"
	keySupply   = "supply"
)

// Account is a balance and the number of transactions sent.
type Account struct {
	Balance uint64
	Nonce   uint64
}

func accountKey(a identity.Address) []byte {
	return append([]byte(prefAccount), a[:]...)
}

// GetAccount reads an account; a missing one is the zero account.
func (c *Context) GetAccount(a identity.Address) Account {
	return readAccount(c.cache.Get(accountKey(a)))
}

func readAccount(b []byte) Account {
	if len(b) != 16 {
		return Account{}
	}
	return Account{Balance: readU64(b[:8]), Nonce: readU64(b[8:])}
}

func (c *Context) setAccount(a identity.Address, acct Account) {
	v := make([]byte, 0, 16)
	v = append(v, u64(acct.Balance)...)
	v = append(v, u64(acct.Nonce)...)
	c.cache.Set(accountKey(a), v)
}

// Bucket returns the value held in a bucket.
func (c *Context) Bucket(name string) uint64 { return readU64(c.cache.Get([]byte(prefBucket + name))) }

func (c *Context) setBucket(name string, v uint64) { c.cache.Set([]byte(prefBucket+name), u64(v)) }

// Supply returns the total value in existence.
func (c *Context) Supply() uint64 { return readU64(c.cache.Get([]byte(keySupply))) }

// Transfer moves amt from one account to another.
func (c *Context) Transfer(from, to identity.Address, amt uint64) error {
	if err := c.Debit(from, BucketBalances, amt); err != nil {
		return err
	}
	return c.Credit(BucketBalances, to, amt)
}

// Debit moves amt from account a's balance into bucket. It fails with kind
// Insufficient and changes nothing if the balance is short.
func (c *Context) Debit(a identity.Address, bucket string, amt uint64) error {
	acct := c.GetAccount(a)
	bal, err := money.Sub(acct.Balance, amt)
	if err != nil {
		return errs.E(errs.Insufficient, "insufficient funds in %s: need %s, have %s", a, money.Format(amt), money.Format(acct.Balance))
	}
	if bucket != BucketBalances {
		if err := c.MoveBucket(BucketBalances, bucket, amt); err != nil {
			return err
		}
	}
	acct.Balance = bal
	c.setAccount(a, acct)
	return nil
}

// Credit moves amt from bucket into account a's balance.
func (c *Context) Credit(bucket string, a identity.Address, amt uint64) error {
	acct := c.GetAccount(a)
	bal, err := money.Add(acct.Balance, amt)
	if err != nil {
		return err
	}
	if bucket != BucketBalances {
		if err := c.MoveBucket(bucket, BucketBalances, amt); err != nil {
			return err
		}
	}
	acct.Balance = bal
	c.setAccount(a, acct)
	return nil
}

// MoveBucket moves amt between two buckets.
func (c *Context) MoveBucket(from, to string, amt uint64) error {
	if from == to || amt == 0 {
		return nil
	}
	f, err := money.Sub(c.Bucket(from), amt)
	if err != nil {
		return errs.E(errs.Internal, "bucket %s holds less than %s", from, money.Format(amt))
	}
	t, err := money.Add(c.Bucket(to), amt)
	if err != nil {
		return err
	}
	c.setBucket(from, f)
	c.setBucket(to, t)
	return nil
}

// mint creates value; only genesis does.
func (c *Context) mint(a identity.Address, amt uint64) error {
	s, err := money.Add(c.Supply(), amt)
	if err != nil {
		return err
	}
	b, err := money.Add(c.Bucket(BucketBalances), amt)
	if err != nil {
		return err
	}
	acct := c.GetAccount(a)
	if acct.Balance, err = money.Add(acct.Balance, amt); err != nil {
		return err
	}
	c.cache.Set([]byte(keySupply), u64(s))
	c.setBucket(BucketBalances, b)
	c.setAccount(a, acct)
	return nil
}

// Transfer is the message bank/transfer: move Amount from the signer to To.
type Transfer struct {
	To     identity.Address `json:"to"`
	Amount uint64           `json:"amount,string"`
}

// Type implements Msg.
func (*Transfer) Type() string { return "bank/transfer" }

// Encode implements Msg.
func (m *Transfer) Encode(w *codec.Writer) {
	w.Fixed(m.To[:])
	w.Uvarint(m.Amount)
}

// Decode implements Msg.
func (m *Transfer) Decode(r *codec.Reader) error {
	copy(m.To[:], r.Fixed(len(m.To)))
	m.Amount = r.Uvarint()
	return r.Err()
}

// Validate implements Msg.
func (m *Transfer) Validate() error {
	if m.Amount == 0 {
		return errs.E(errs.Invalid, "transfer amount must be positive")
	}
	if m.To.IsZero() {
		return errs.E(errs.Invalid, "transfer has no recipient")
	}
	return nil
}

// Bank is the module that owns transfers and fee distribution.
type Bank struct{}

// Name implements Module.
func (Bank) Name() string { return "bank" }

// Msgs implements Module.
func (Bank) Msgs() []MsgSpec {
	return []MsgSpec{{
		New: func() Msg { return &Transfer{} },
		Handler: func(ctx *Context, signer identity.Address, msg Msg) error {
			m := msg.(*Transfer)
			if bal := ctx.GetAccount(signer).Balance; bal < m.Amount {
				// The fee is already paid; say what the sender had before.
				before, _ := money.Add(bal, ctx.TxFee)
				need, _ := money.Add(m.Amount, ctx.TxFee)
				return errs.E(errs.Insufficient, "insufficient funds in %s: need %s (%s plus up to %s in fees), have %s",
					signer, money.Format(need), money.Format(m.Amount), money.Format(ctx.TxFee), money.Format(before))
			}
			if err := ctx.Transfer(signer, m.To, m.Amount); err != nil {
				return err
			}
			CoreEvents.Transfer.Emit(ctx, signer.String(), m.To.String(), FormatInt(m.Amount))
			return nil
		},
	}}
}

// InitGenesis implements Module; the bank's genesis is the core's accounts.
func (Bank) InitGenesis(*Context, json.RawMessage) error { return nil }

// EndBlock pays out collected fees every FeeEpochBlocks blocks: the treasury
// takes TreasuryFeeBps, the validators share the rest by voting power, and
// what integer division leaves over goes to the treasury, so nothing is lost.
func (Bank) EndBlock(ctx *Context) error {
	p := ctx.Params
	if p.FeeEpochBlocks == 0 || ctx.Height%int64(p.FeeEpochBlocks) != 0 {
		return nil
	}
	pool := ctx.Bucket(BucketFees)
	if pool == 0 {
		return nil
	}
	vals := ctx.Validators()
	var total uint64
	for _, v := range vals {
		total += uint64(v.Power)
	}
	toTreasury, _, err := money.MulDiv(pool, p.TreasuryFeeBps, 10_000)
	if err != nil {
		return err
	}
	rest := pool - toTreasury
	paid := uint64(0)
	if total > 0 {
		for _, v := range vals {
			share, _, err := money.MulDiv(rest, uint64(v.Power), total)
			if err != nil {
				return err
			}
			if share == 0 {
				continue
			}
			if err := ctx.Credit(BucketFees, v.Operator, share); err != nil {
				return err
			}
			paid += share
		}
	}
	if err := ctx.MoveBucket(BucketFees, BucketTreasury, pool-paid); err != nil {
		return err
	}
	CoreEvents.FeesDistributed.Emit(ctx, FormatInt(pool), FormatInt(paid), FormatInt(pool-paid))
	return nil
}
