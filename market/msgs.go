package market

import (
	"net/url"
	"strings"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

// Messages are encoded as canonical JSON (ledger.EncodeJSON): they have
// lists and optional parts, and the canonical check keeps one encoding each.

// RegisterProvider is market/register_provider: the signer becomes a
// provider, locking Collateral.
type RegisterProvider struct {
	Endpoint   string  `json:"endpoint"`
	Region     string  `json:"region"`
	Offers     []Offer `json:"offers"`
	Collateral uint64  `json:"collateral,string"`
}

// UpdateProvider is market/update_provider. Empty fields keep their values;
// AddCollateral locks more.
type UpdateProvider struct {
	Endpoint      string  `json:"endpoint,omitempty"`
	Region        string  `json:"region,omitempty"`
	Offers        []Offer `json:"offers,omitempty"`
	AddCollateral uint64  `json:"add_collateral,string,omitempty"`
}

// RetireProvider is market/retire_provider: no new leases; the collateral
// unbonds after the unbonding delay, once no lease is open.
type RetireProvider struct{}

// Unbond is market/unbond: a retired provider takes its collateral back.
type Unbond struct{}

// OpenLease is market/open_lease.
type OpenLease struct {
	Class    string `json:"class"`
	Quantity uint64 `json:"quantity,string"`
	// MaxPrice, in nano-ustr per unit-second. A floating lease must set it;
	// for a fixed one, 0 accepts any price at open.
	MaxPrice uint64 `json:"max_price,string,omitempty"`
	Deposit  uint64 `json:"deposit,string"`
	// Provider, if set, names the provider instead of letting the market
	// choose.
	Provider *identity.Address `json:"provider,omitempty"`
	SLA      SLA               `json:"sla"`
	// Split lists payees; "provider" stands for the chosen provider.
	// Empty pays the provider everything.
	Split []Payee `json:"split,omitempty"`
	Float bool    `json:"float,omitempty"`
}

// AckLease is market/ack_lease, sent by the lease's provider.
type AckLease struct {
	ID uint64 `json:"id,string"`
}

// TopupLease is market/topup_lease.
type TopupLease struct {
	ID     uint64 `json:"id,string"`
	Amount uint64 `json:"amount,string"`
}

// CloseLease is market/close_lease, by the consumer or the provider.
type CloseLease struct {
	ID uint64 `json:"id,string"`
}

// ProbeReport is market/probe_report, sent by a validator's operator: for
// each provider, how many of its probes in an epoch succeeded. A later
// report for the same epoch must cover more probes; it replaces the earlier.
type ProbeReport struct {
	Epoch   int64      `json:"epoch"`
	Results []ProbeRow `json:"results"`
}

// ProbeRow is one provider's probe counts for an epoch.
type ProbeRow struct {
	Provider identity.Address `json:"provider"`
	OK       uint32           `json:"ok"`
	Total    uint32           `json:"total"`
}

func (*RegisterProvider) Type() string { return "market/register_provider" }
func (*UpdateProvider) Type() string   { return "market/update_provider" }
func (*RetireProvider) Type() string   { return "market/retire_provider" }
func (*Unbond) Type() string           { return "market/unbond" }
func (*OpenLease) Type() string        { return "market/open_lease" }
func (*AckLease) Type() string         { return "market/ack_lease" }
func (*TopupLease) Type() string       { return "market/topup_lease" }
func (*CloseLease) Type() string       { return "market/close_lease" }
func (*ProbeReport) Type() string      { return "market/probe_report" }

func (m *RegisterProvider) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *UpdateProvider) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *RetireProvider) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *Unbond) Encode(w *codec.Writer)                 { ledger.EncodeJSON(w, m) }
func (m *OpenLease) Encode(w *codec.Writer)              { ledger.EncodeJSON(w, m) }
func (m *AckLease) Encode(w *codec.Writer)               { ledger.EncodeJSON(w, m) }
func (m *TopupLease) Encode(w *codec.Writer)             { ledger.EncodeJSON(w, m) }
func (m *CloseLease) Encode(w *codec.Writer)             { ledger.EncodeJSON(w, m) }
func (m *ProbeReport) Encode(w *codec.Writer)            { ledger.EncodeJSON(w, m) }
func (m *RegisterProvider) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }
func (m *UpdateProvider) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }
func (m *RetireProvider) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }
func (m *Unbond) Decode(r *codec.Reader) error           { return ledger.DecodeJSON(r, m) }
func (m *OpenLease) Decode(r *codec.Reader) error        { return ledger.DecodeJSON(r, m) }
func (m *AckLease) Decode(r *codec.Reader) error         { return ledger.DecodeJSON(r, m) }
func (m *TopupLease) Decode(r *codec.Reader) error       { return ledger.DecodeJSON(r, m) }
func (m *CloseLease) Decode(r *codec.Reader) error       { return ledger.DecodeJSON(r, m) }
func (m *ProbeReport) Decode(r *codec.Reader) error      { return ledger.DecodeJSON(r, m) }

// MaxCapacity bounds one offer: 1 PiB of storage, or 2^50 cu.
const MaxCapacity = 1 << 50

func validateEndpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(e) > maxEndpoint {
		return errs.E(errs.Invalid, "endpoint %q must be an http(s) URL of at most %d bytes", e, maxEndpoint)
	}
	return nil
}

func validateOffers(offers []Offer) error {
	if len(offers) == 0 {
		return errs.E(errs.Invalid, "a provider must offer at least one resource class (storage or compute)")
	}
	seen := map[string]bool{}
	for _, o := range offers {
		if _, ok := unitSize[o.Class]; !ok {
			return errs.E(errs.Invalid, "unknown resource class %q: use storage or compute", o.Class)
		}
		if seen[o.Class] {
			return errs.E(errs.Invalid, "resource class %s is offered twice", o.Class)
		}
		seen[o.Class] = true
		if o.Capacity == 0 || o.Capacity > MaxCapacity {
			return errs.E(errs.Invalid, "the %s offer's capacity must be between 1 and %d", o.Class, uint64(MaxCapacity))
		}
		if o.Used != 0 {
			return errs.E(errs.Invalid, "the %s offer must not set used: the ledger tracks it", o.Class)
		}
		if err := o.Pricing.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (r Rule) validate() error {
	switch r.Kind {
	case "fixed":
		if r.Price == 0 {
			return errs.E(errs.Invalid, "a fixed price must be positive")
		}
	case "reference":
		if r.MultiplierBps == 0 || r.MultiplierBps > 1_000_000 {
			return errs.E(errs.Invalid, "a reference multiplier must be between 1 and 1000000 bps")
		}
	case "utilization":
		if r.Price == 0 || r.SlopeBps > 1_000_000 {
			return errs.E(errs.Invalid, "a utilization curve needs a positive base price and a slope of at most 1000000 bps")
		}
	default:
		return errs.E(errs.Invalid, "pricing rule %q must be fixed, reference or utilization", r.Kind)
	}
	return nil
}

func (m *RegisterProvider) Validate() error {
	if err := validateEndpoint(m.Endpoint); err != nil {
		return err
	}
	if len(m.Region) > maxRegion || strings.TrimSpace(m.Region) == "" {
		return errs.E(errs.Invalid, "region must be 1 to %d bytes", maxRegion)
	}
	return validateOffers(m.Offers)
}

func (m *UpdateProvider) Validate() error {
	if m.Endpoint != "" {
		if err := validateEndpoint(m.Endpoint); err != nil {
			return err
		}
	}
	if len(m.Region) > maxRegion {
		return errs.E(errs.Invalid, "region must be at most %d bytes", maxRegion)
	}
	if m.Offers != nil {
		return validateOffers(m.Offers)
	}
	return nil
}

func (*RetireProvider) Validate() error { return nil }
func (*Unbond) Validate() error         { return nil }

func (m *OpenLease) Validate() error {
	if _, ok := unitSize[m.Class]; !ok {
		return errs.E(errs.Invalid, "unknown resource class %q: use storage or compute", m.Class)
	}
	if m.Quantity == 0 || m.Quantity > MaxCapacity {
		return errs.E(errs.Invalid, "a lease's quantity must be between 1 and %d", uint64(MaxCapacity))
	}
	if m.Float && m.MaxPrice == 0 {
		return errs.E(errs.Invalid, "a floating lease needs a maximum price (--max-price): its provider could otherwise raise the price without bound")
	}
	if m.Deposit == 0 {
		return errs.E(errs.Invalid, "a lease needs a deposit")
	}
	if m.SLA.TargetBps > 10_000 {
		return errs.E(errs.Invalid, "an SLA target is at most 10000 bps (100%%)")
	}
	if m.SLA.TargetBps > 0 && (m.SLA.WindowSeconds <= 0 || m.SLA.WindowSeconds > maxWindowS) {
		return errs.E(errs.Invalid, "an SLA needs a window between 1 second and 30 days")
	}
	return validateSplit(m.Split)
}

func validateSplit(split []Payee) error {
	if len(split) == 0 {
		return nil
	}
	if len(split) > maxPayees {
		return errs.E(errs.Invalid, "a split has at most %d payees", maxPayees)
	}
	var sum uint64
	seen := map[string]bool{}
	for _, p := range split {
		if p.To != PayeeTreasury && p.To != "provider" {
			if _, err := identity.ParseDID(p.To); err != nil {
				return errs.E(errs.Invalid, "payee %q must be a did:key, \"provider\" or \"treasury\"", p.To)
			}
		}
		if seen[p.To] {
			return errs.E(errs.Invalid, "payee %s appears twice in the split", p.To)
		}
		seen[p.To] = true
		if p.Bps == 0 || p.Bps > 10_000 || p.Paid != 0 {
			return errs.E(errs.Invalid, "payee %s needs a share between 1 and 10000 bps", p.To)
		}
		sum += p.Bps
	}
	if sum != 10_000 {
		return errs.E(errs.Invalid, "the split's shares add up to %d bps; they must add up to 10000", sum)
	}
	return nil
}

func (m *AckLease) Validate() error   { return validID(m.ID) }
func (m *CloseLease) Validate() error { return validID(m.ID) }
func (m *TopupLease) Validate() error {
	if m.Amount == 0 {
		return errs.E(errs.Invalid, "a top-up must be positive")
	}
	return validID(m.ID)
}

func validID(id uint64) error {
	if id == 0 {
		return errs.E(errs.Invalid, "lease id must be positive")
	}
	return nil
}

func (m *ProbeReport) Validate() error {
	if m.Epoch < 0 {
		return errs.E(errs.Invalid, "probe epoch must not be negative")
	}
	if len(m.Results) == 0 || len(m.Results) > maxProbeRows {
		return errs.E(errs.Invalid, "a probe report has 1 to %d rows", maxProbeRows)
	}
	seen := map[identity.Address]bool{}
	for _, r := range m.Results {
		if r.Total == 0 || r.OK > r.Total {
			return errs.E(errs.Invalid, "probe counts for %s are impossible: %d ok of %d", r.Provider, r.OK, r.Total)
		}
		if seen[r.Provider] {
			return errs.E(errs.Invalid, "provider %s appears twice in the report", r.Provider)
		}
		seen[r.Provider] = true
	}
	return nil
}
