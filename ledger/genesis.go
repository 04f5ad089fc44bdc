package ledger

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
)

// Params are the chain parameters. Governance will change them; for now
// genesis sets them.
type Params struct {
	// MinGasPrice is the least gas price, in ustr per gas, that a
	// transaction may offer.
	MinGasPrice uint64 `json:"min_gas_price,string"`
	// MaxBlockGas bounds the gas limits of a block's transactions added
	// up, and so its execution time. A transaction's gas limit is at most
	// this.
	MaxBlockGas uint64 `json:"max_block_gas,string"`
	// Gas is what each unit of work costs, in gas.
	Gas GasTable `json:"gas"`
	// TreasuryFeeBps is the treasury's share of fees in basis points.
	TreasuryFeeBps uint64 `json:"treasury_fee_bps"`
	// FeeEpochBlocks is how often collected fees are paid out.
	FeeEpochBlocks uint64 `json:"fee_epoch_blocks"`
	// MaxTxBytes bounds a transaction's size; at most ledger.MaxTxBytes.
	MaxTxBytes uint64 `json:"max_tx_bytes"`
}

// DefaultParams are the parameters of a new devnet or testnet.
func DefaultParams() Params {
	return Params{
		MinGasPrice:    1,
		MaxBlockGas:    50_000_000,
		Gas:            DefaultGasTable(),
		TreasuryFeeBps: 2000,
		FeeEpochBlocks: 100,
		MaxTxBytes:     1 << 20,
	}
}

// Validate checks the parameters' ranges.
func (p Params) Validate() error {
	switch {
	case p.MinGasPrice == 0 || p.MinGasPrice > maxGasFigure:
		return errs.E(errs.Invalid, "min_gas_price %d must be between 1 and %d", p.MinGasPrice, uint64(maxGasFigure))
	case p.MaxBlockGas < 100_000 || p.MaxBlockGas > 1<<50:
		return errs.E(errs.Invalid, "max_block_gas %d must be between 100000 and %d", p.MaxBlockGas, uint64(1<<50))
	case p.TreasuryFeeBps > 10_000:
		return errs.E(errs.Invalid, "treasury_fee_bps %d is over 10000", p.TreasuryFeeBps)
	case p.FeeEpochBlocks == 0 || p.FeeEpochBlocks > 1_000_000_000:
		return errs.E(errs.Invalid, "fee_epoch_blocks %d must be between 1 and 1000000000", p.FeeEpochBlocks)
	case p.MaxTxBytes < 256 || p.MaxTxBytes > MaxTxBytes:
		return errs.E(errs.Invalid, "max_tx_bytes %d must be between 256 and %d", p.MaxTxBytes, MaxTxBytes)
	}
	if err := p.Gas.Validate(); err != nil {
		return err
	}
	if need := p.Gas.Intrinsic(int(p.MaxTxBytes) + 2*binary.MaxVarintLen64); need > p.MaxBlockGas {
		return errs.E(errs.Invalid, "max_block_gas %d is below the %d gas a transaction of max_tx_bytes needs", p.MaxBlockGas, need)
	}
	return nil
}

// maxTotalVotingPower is CometBFT's types.MaxTotalVotingPower.
const maxTotalVotingPower = int64(^uint64(0)>>1) / 8

const keyValidators = "validators"

// Validator is a member of the validator set as the state machine knows it:
// its operator account receives its share of fees.
type Validator struct {
	Name     string           `json:"name"`
	Operator identity.Address `json:"operator"`
	// ConsPubKey is the CometBFT consensus key (ed25519, 32 bytes).
	ConsPubKey []byte `json:"cons_pub_key"`
	Power      int64  `json:"power"`
}

// Validators returns the validator set stored at genesis.
func (c *Context) Validators() []Validator {
	b := c.cache.Get([]byte(keyValidators))
	vs, err := decodeValidators(b)
	if err != nil {
		panic(fmt.Sprintf("ledger: corrupt validator set: %v", err))
	}
	return vs
}

func encodeValidators(vs []Validator) []byte {
	w := codec.NewWriter(128 * len(vs))
	w.Uvarint(uint64(len(vs)))
	for _, v := range vs {
		w.String(v.Name)
		w.Fixed(v.Operator[:])
		w.BytesField(v.ConsPubKey)
		w.Uvarint(uint64(v.Power))
	}
	return w.Bytes()
}

func decodeValidators(b []byte) ([]Validator, error) {
	if b == nil {
		return nil, nil
	}
	r := codec.NewReader(b)
	n := r.Uvarint()
	if n > 10_000 {
		return nil, fmt.Errorf("%d validators", n)
	}
	vs := make([]Validator, 0, n)
	for i := uint64(0); i < n; i++ {
		var v Validator
		v.Name = r.String(64)
		copy(v.Operator[:], r.Fixed(32))
		v.ConsPubKey = r.BytesField(64)
		v.Power = int64(r.Uvarint())
		vs = append(vs, v)
	}
	return vs, r.Finish()
}

// GenesisAccount is an allocation at genesis.
type GenesisAccount struct {
	Address identity.Address `json:"address"`
	Balance uint64           `json:"balance,string"`
}

// Genesis is the application state in CometBFT's genesis document. Modules
// read their own sections, keyed by module name, from the same object.
type Genesis struct {
	Params     Params           `json:"params"`
	Accounts   []GenesisAccount `json:"accounts"`
	Validators []Validator      `json:"validators"`
}

// Validate checks a genesis before a chain starts from it.
func (g *Genesis) Validate() error {
	if err := g.Params.Validate(); err != nil {
		return err
	}
	var total uint64
	seen := map[identity.Address]bool{}
	for _, a := range g.Accounts {
		if seen[a.Address] {
			return errs.E(errs.Invalid, "genesis allocates to %s twice", a.Address)
		}
		seen[a.Address] = true
		var err error
		if total, err = money.Add(total, a.Balance); err != nil {
			return errs.E(errs.Invalid, "genesis allocations overflow the supply")
		}
	}
	if len(g.Validators) == 0 {
		return errs.E(errs.Invalid, "genesis has no validators")
	}
	var power int64
	for _, v := range g.Validators {
		// CometBFT's bound on total voting power keeps the fee split's
		// arithmetic far from overflow.
		if v.Power > maxTotalVotingPower-power {
			return errs.E(errs.Invalid, "genesis validators' total power exceeds %d", int64(maxTotalVotingPower))
		}
		power += v.Power
		if len(v.ConsPubKey) != 32 || v.Power <= 0 || len(v.Name) > 64 {
			return errs.E(errs.Invalid, "genesis validator %q needs a name of at most 64 bytes, a 32-byte ed25519 key and positive power", v.Name)
		}
	}
	return nil
}

// MarshalAppState renders g, plus module sections, as genesis app_state.
func (g *Genesis) MarshalAppState(modules map[string]any) (json.RawMessage, error) {
	m := map[string]any{"params": g.Params, "accounts": g.Accounts, "validators": g.Validators}
	for k, v := range modules {
		m[k] = v
	}
	return json.MarshalIndent(m, "", "  ")
}
