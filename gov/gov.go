// Package gov is the ledger module for on-chain governance of parameters.
// Anyone may propose new parameters for the core or any module, with a
// deposit; holders of STR bond some of it to vote, one unit of bonded STR
// one unit of voting power; a proposal that reaches the quorum and the
// threshold when its vote ends takes effect at the height it states (or at
// the end of its vote, if that height came first). Every step is an event
// in the audit log.
//
// Tallies are kept as votes arrive, and a voter's bond is locked until the
// end of every vote it took part in, so the power counted cannot move to
// another account and vote again, and ending a vote costs the same however
// many voted.
//
// State, under "gov/":
//
//	next_id                  -> uint64
//	prop/<id>                -> Proposal (JSON)
//	vote/<id><voter32>       -> Vote (JSON)
//	end/<end ms><id>         -> empty: votes to end, in time order
//	apply/<height><id>       -> empty: passed proposals to apply
//	bond/<voter32>           -> Bond (JSON)
package gov

import (
	"encoding/binary"
	"encoding/json"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
)

// Buckets of the module: bonded voting STR, and proposals' deposits.
const (
	BucketBonded   = "gov_bonded"
	BucketDeposits = "gov_deposits"
)

// Proposal states.
const (
	StatusVoting   = "voting"
	StatusPassed   = "passed"   // waiting for its height
	StatusApplied  = "applied"  // its parameters are in force
	StatusRejected = "rejected" // quorum reached, threshold not
	StatusFailed   = "failed"   // no quorum: the deposit went to the treasury
)

// Vote options.
const (
	Yes     = "yes"
	No      = "no"
	Abstain = "abstain"
)

// Params are the module's parameters (themselves governed).
type Params struct {
	MinDeposit    uint64 `json:"min_deposit,string"` // ustr
	VotingSeconds int64  `json:"voting_seconds"`
	QuorumBps     uint64 `json:"quorum_bps"`    // of all bonded STR, voting
	ThresholdBps  uint64 `json:"threshold_bps"` // of yes+no, yes must exceed
	// MaxEndsPerBlock bounds the votes one block ends and the proposals
	// it applies; the rest wait for the next blocks.
	MaxEndsPerBlock int `json:"max_ends_per_block"`
}

// DefaultParams are a devnet's: 100 STR deposit, a 5-minute vote, a third
// of the bonded STR must vote and more than half of yes+no must say yes.
func DefaultParams() Params {
	return Params{MinDeposit: 100 * money.UstrPerSTR, VotingSeconds: 300, QuorumBps: 3340, ThresholdBps: 5000, MaxEndsPerBlock: 50}
}

// Validate implements ledger.ParamSet.
func (p *Params) Validate() error {
	switch {
	case p.VotingSeconds < 10 || p.VotingSeconds > 90*24*3600:
		return errs.E(errs.Invalid, "gov voting_seconds %d must be between 10 and 90 days", p.VotingSeconds)
	case p.QuorumBps == 0 || p.QuorumBps > 10_000 || p.ThresholdBps < 5000 || p.ThresholdBps > 10_000:
		return errs.E(errs.Invalid, "gov quorum_bps must be 1 to 10000 and threshold_bps 5000 to 10000")
	case p.MaxEndsPerBlock < 1 || p.MaxEndsPerBlock > 1000:
		return errs.E(errs.Invalid, "gov max_ends_per_block %d must be 1 to 1000", p.MaxEndsPerBlock)
	}
	return nil
}

// Genesis is the module's genesis section.
type Genesis struct {
	Params Params `json:"params"`
}

// DefaultGenesis is a devnet's gov section.
func DefaultGenesis() Genesis { return Genesis{Params: DefaultParams()} }

// Change is one set of parameters a proposal puts in force: the whole set
// of module Module ("ledger" for the core's), as GET /v1/params shows it.
type Change struct {
	Module string          `json:"module"`
	Params json.RawMessage `json:"params"`
}

// MaxChanges bounds a proposal's changes.
const MaxChanges = 8

// Proposal is a proposal's record.
type Proposal struct {
	ID           uint64           `json:"id"`
	Proposer     identity.Address `json:"proposer"`
	Title        string           `json:"title"`
	Description  string           `json:"description"`
	Changes      []Change         `json:"changes"`
	EffectHeight int64            `json:"effect_height"`
	Deposit      uint64           `json:"deposit,string"`
	SubmitMs     int64            `json:"submit_ms"`
	VotingEndMs  int64            `json:"voting_end_ms"`
	Status       string           `json:"status"`
	Yes          uint64           `json:"yes,string"`
	No           uint64           `json:"no,string"`
	Abstain      uint64           `json:"abstain,string"`
	// Bonded is all the bonded STR when the vote ended: what the quorum
	// is of. AppliedHeight is when its parameters took effect.
	Bonded        uint64 `json:"bonded,string"`
	AppliedHeight int64  `json:"applied_height,omitempty"`
}

// Vote is a voter's vote on a proposal, with the power counted.
type Vote struct {
	Option string `json:"option"`
	Power  uint64 `json:"power,string"`
}

// Bond is a voter's bonded STR, locked until the end of the last vote it
// took part in.
type Bond struct {
	Amount        uint64 `json:"amount,string"`
	LockedUntilMs int64  `json:"locked_until_ms"`
}

// Messages.
type (
	// BondMsg is gov/bond: bond Amount of the signer's STR for voting.
	BondMsg struct {
		Amount uint64 `json:"amount,string"`
	}
	// UnbondMsg is gov/unbond: take Amount back, once no vote it took
	// part in is still open.
	UnbondMsg struct {
		Amount uint64 `json:"amount,string"`
	}
	// Propose is gov/propose.
	Propose struct {
		Title        string   `json:"title"`
		Description  string   `json:"description"`
		Changes      []Change `json:"changes"`
		EffectHeight int64    `json:"effect_height"`
		Deposit      uint64   `json:"deposit,string"`
	}
	// VoteMsg is gov/vote; a second vote replaces the first.
	VoteMsg struct {
		Proposal uint64 `json:"proposal"`
		Option   string `json:"option"`
	}
)

func (*BondMsg) Type() string                     { return "gov/bond" }
func (m *BondMsg) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *BondMsg) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }
func (*UnbondMsg) Type() string                   { return "gov/unbond" }
func (m *UnbondMsg) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *UnbondMsg) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }
func (*Propose) Type() string                     { return "gov/propose" }
func (m *Propose) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *Propose) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }
func (*VoteMsg) Type() string                     { return "gov/vote" }
func (m *VoteMsg) Encode(w *codec.Writer)         { ledger.EncodeJSON(w, m) }
func (m *VoteMsg) Decode(r *codec.Reader) error   { return ledger.DecodeJSON(r, m) }

// Validate implements ledger.Msg.
func (m *BondMsg) Validate() error {
	if m.Amount == 0 {
		return errs.E(errs.Invalid, "bond a positive amount")
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *UnbondMsg) Validate() error {
	if m.Amount == 0 {
		return errs.E(errs.Invalid, "unbond a positive amount")
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *Propose) Validate() error {
	switch {
	case m.Title == "" || len(m.Title) > 140:
		return errs.E(errs.Invalid, "a proposal needs a title of at most 140 bytes")
	case len(m.Description) > 10_000:
		return errs.E(errs.Invalid, "a proposal's description is at most 10,000 bytes")
	case len(m.Changes) == 0 || len(m.Changes) > MaxChanges:
		return errs.E(errs.Invalid, "a proposal changes 1 to %d sets of parameters", MaxChanges)
	case m.EffectHeight <= 0:
		return errs.E(errs.Invalid, "effect_height must be a positive height")
	}
	seen := map[string]bool{}
	for _, c := range m.Changes {
		if seen[c.Module] {
			return errs.E(errs.Invalid, "the proposal changes %s twice", c.Module)
		}
		seen[c.Module] = true
	}
	return nil
}

// Validate implements ledger.Msg.
func (m *VoteMsg) Validate() error {
	if m.Option != Yes && m.Option != No && m.Option != Abstain {
		return errs.E(errs.Invalid, "vote yes, no or abstain, not %q", m.Option)
	}
	return nil
}

// Events are the module's event kinds.
var Events = struct{ Bonded, Unbonded, Proposed, Voted, Tallied, Applied *ledger.EventKind }{
	Bonded: ledger.DeclareEvent("gov.bonded", "STR was bonded for voting.",
		ledger.AccountAttr("voter", "who bonded"), ledger.AmountAttr("amount", "what was bonded")),
	Unbonded: ledger.DeclareEvent("gov.unbonded", "Bonded STR went back to its voter.",
		ledger.AccountAttr("voter", "who unbonded"), ledger.AmountAttr("amount", "what went back")),
	Proposed: ledger.DeclareEvent("gov.proposed", "A proposal to change parameters was put to a vote.",
		ledger.A("proposal", "its id"), ledger.AccountAttr("proposer", "who proposed it"), ledger.A("modules", "whose parameters it changes, comma-separated"),
		ledger.A("effect_height", "when it would take effect"), ledger.A("voting_end_ms", "when its vote ends"), ledger.AmountAttr("deposit", "the deposit")),
	Voted: ledger.DeclareEvent("gov.voted", "A bonded voter voted on a proposal.",
		ledger.A("proposal", "its id"), ledger.AccountAttr("voter", "who voted"), ledger.A("option", "yes, no or abstain"),
		ledger.AmountAttr("power", "the bonded STR counted")),
	Tallied: ledger.DeclareEvent("gov.tallied", "A proposal's vote ended.",
		ledger.A("proposal", "its id"), ledger.A("status", "passed, rejected or failed (no quorum)"),
		ledger.AmountAttr("yes", "power for"), ledger.AmountAttr("no", "power against"), ledger.AmountAttr("abstain", "power abstaining"),
		ledger.AmountAttr("bonded", "all bonded STR"), ledger.AmountAttr("deposit", "the deposit"),
		ledger.A("deposit_to", "proposer (returned) or treasury (no quorum)")),
	Applied: ledger.DeclareEvent("gov.applied", "A passed proposal's parameters took effect.",
		ledger.A("proposal", "its id"), ledger.A("modules", "whose parameters changed, comma-separated")),
}

// Module is the gov ledger module.
type Module struct{}

var storeKey = ledger.NewStoreKey("gov")

// Name implements ledger.Module.
func (Module) Name() string { return "gov" }

// NewParams implements ledger.ParamsOwner.
func (Module) NewParams() ledger.ParamSet { return &Params{} }

// Buckets implements ledger.BucketOwner.
func (Module) Buckets() []string { return []string{BucketBonded, BucketDeposits} }

// InitGenesis implements ledger.Module.
func (Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	g := DefaultGenesis()
	if len(raw) > 0 && string(raw) != "null" {
		g = Genesis{}
		if err := json.Unmarshal(raw, &g); err != nil {
			return errs.E(errs.Invalid, "gov genesis: %v", err)
		}
	}
	return ctx.SetParams(Module{}.Name(), &g.Params)
}

// Msgs implements ledger.Module.
func (Module) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{
		{New: func() ledger.Msg { return &BondMsg{} }, Handler: ledger.Handle(bond)},
		{New: func() ledger.Msg { return &UnbondMsg{} }, Handler: ledger.Handle(unbond)},
		{New: func() ledger.Msg { return &Propose{} }, Handler: ledger.Handle(propose)},
		{New: func() ledger.Msg { return &VoteMsg{} }, Handler: ledger.Handle(vote)},
	}
}

func params(ctx *ledger.Context) Params { return *ctx.ModuleParams(Module{}.Name()).(*Params) }

func be(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func key(parts ...[]byte) []byte {
	var k []byte
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func getJSON(ctx *ledger.Context, k []byte, v any) (bool, error) {
	b := ctx.Store(storeKey).Get(k)
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, errs.E(errs.Internal, "gov: stored %q: %v", k, err)
	}
	return true, nil
}

func putJSON(ctx *ledger.Context, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errs.E(errs.Internal, "gov: record does not marshal: %v", err)
	}
	ctx.Store(storeKey).Set(k, b)
	return nil
}

// GetProposal returns proposal id, or NotFound.
func GetProposal(ctx *ledger.Context, id uint64) (*Proposal, error) {
	var p Proposal
	ok, err := getJSON(ctx, key([]byte("prop/"), be(id)), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "no proposal %d: see `stratus gov list`", id)
	}
	return &p, nil
}

// GetBond returns a voter's bond (zero for none).
func GetBond(ctx *ledger.Context, a identity.Address) (Bond, error) {
	var b Bond
	_, err := getJSON(ctx, key([]byte("bond/"), a[:]), &b)
	return b, err
}

// Proposals returns up to limit proposals with ids below before (0: from
// the newest), newest first, and whether more follow.
func Proposals(ctx *ledger.Context, before uint64, limit int) ([]Proposal, bool, error) {
	next := readU64(ctx.Store(storeKey).Get([]byte("next_id")))
	if before == 0 || before > next {
		before = next
	}
	var out []Proposal
	for id := before - min(before, 1); id >= 1 && len(out) < limit; id-- {
		p, err := GetProposal(ctx, id)
		if err != nil {
			return nil, false, err
		}
		out = append(out, *p)
	}
	return out, len(out) > 0 && out[len(out)-1].ID > 1, nil
}

func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func bond(ctx *ledger.Context, signer identity.Address, m *BondMsg) error {
	b, err := GetBond(ctx, signer)
	if err != nil {
		return err
	}
	if b.Amount, err = money.Add(b.Amount, m.Amount); err != nil {
		return err
	}
	if err := ctx.Debit(signer, BucketBonded, m.Amount); err != nil {
		return err
	}
	if err := putJSON(ctx, key([]byte("bond/"), signer[:]), b); err != nil {
		return err
	}
	Events.Bonded.Emit(ctx, signer.String(), ledger.FormatInt(m.Amount))
	return nil
}

func unbond(ctx *ledger.Context, signer identity.Address, m *UnbondMsg) error {
	b, err := GetBond(ctx, signer)
	if err != nil {
		return err
	}
	if b.Amount < m.Amount {
		return errs.E(errs.Insufficient, "%s has %s bonded, not %s", signer, money.Format(b.Amount), money.Format(m.Amount))
	}
	if now := ctx.Time.UnixMilli(); now < b.LockedUntilMs {
		return errs.E(errs.Conflict, "the bond of %s is locked until the vote it took part in ends, at unix ms %d", signer, b.LockedUntilMs)
	}
	b.Amount -= m.Amount
	if err := ctx.Credit(BucketBonded, signer, m.Amount); err != nil {
		return err
	}
	k := key([]byte("bond/"), signer[:])
	if b.Amount == 0 {
		ctx.Store(storeKey).Delete(k)
	} else if err := putJSON(ctx, k, b); err != nil {
		return err
	}
	Events.Unbonded.Emit(ctx, signer.String(), ledger.FormatInt(m.Amount))
	return nil
}

func propose(ctx *ledger.Context, signer identity.Address, m *Propose) error {
	p := params(ctx)
	if m.Deposit < p.MinDeposit {
		return errs.E(errs.Invalid, "a proposal's deposit is at least %s", money.Format(p.MinDeposit))
	}
	if m.EffectHeight <= ctx.Height {
		return errs.E(errs.Invalid, "effect_height %d is not after this block (%d)", m.EffectHeight, ctx.Height)
	}
	modules := ""
	for i, c := range m.Changes {
		if _, err := ctx.DecodeParams(c.Module, c.Params); err != nil {
			return err
		}
		if i > 0 {
			modules += ","
		}
		modules += c.Module
	}
	if err := ctx.Debit(signer, BucketDeposits, m.Deposit); err != nil {
		return err
	}
	kv := ctx.Store(storeKey)
	id := readU64(kv.Get([]byte("next_id")))
	if id == 0 {
		id = 1
	}
	kv.Set([]byte("next_id"), be(id+1))
	now := ctx.Time.UnixMilli()
	prop := Proposal{ID: id, Proposer: signer, Title: m.Title, Description: m.Description, Changes: m.Changes,
		EffectHeight: m.EffectHeight, Deposit: m.Deposit, SubmitMs: now, VotingEndMs: now + p.VotingSeconds*1000, Status: StatusVoting}
	if err := putJSON(ctx, key([]byte("prop/"), be(id)), prop); err != nil {
		return err
	}
	kv.Set(key([]byte("end/"), be(uint64(prop.VotingEndMs)), be(id)), []byte{})
	Events.Proposed.Emit(ctx, ledger.FormatInt(id), signer.String(), modules, ledger.FormatInt(uint64(m.EffectHeight)),
		ledger.FormatInt(uint64(prop.VotingEndMs)), ledger.FormatInt(m.Deposit))
	return nil
}

func vote(ctx *ledger.Context, signer identity.Address, m *VoteMsg) error {
	prop, err := GetProposal(ctx, m.Proposal)
	if err != nil {
		return err
	}
	if prop.Status != StatusVoting || ctx.Time.UnixMilli() >= prop.VotingEndMs {
		return errs.E(errs.Conflict, "the vote on proposal %d ended at unix ms %d", prop.ID, prop.VotingEndMs)
	}
	b, err := GetBond(ctx, signer)
	if err != nil {
		return err
	}
	if b.Amount == 0 {
		return errs.E(errs.Unauthorized, "%s has no bonded STR: bond some with `stratus gov bond` to vote", signer)
	}
	vk := key([]byte("vote/"), be(prop.ID), signer[:])
	var old Vote
	if _, err := getJSON(ctx, vk, &old); err != nil {
		return err
	}
	tally := map[string]*uint64{Yes: &prop.Yes, No: &prop.No, Abstain: &prop.Abstain}
	if old.Option != "" {
		*tally[old.Option] -= old.Power
	}
	if *tally[m.Option], err = money.Add(*tally[m.Option], b.Amount); err != nil {
		return err
	}
	if err := putJSON(ctx, vk, Vote{Option: m.Option, Power: b.Amount}); err != nil {
		return err
	}
	if err := putJSON(ctx, key([]byte("prop/"), be(prop.ID)), prop); err != nil {
		return err
	}
	b.LockedUntilMs = max(b.LockedUntilMs, prop.VotingEndMs)
	if err := putJSON(ctx, key([]byte("bond/"), signer[:]), b); err != nil {
		return err
	}
	Events.Voted.Emit(ctx, ledger.FormatInt(prop.ID), signer.String(), m.Option, ledger.FormatInt(b.Amount))
	return nil
}

// EndBlock ends the votes due by the block's time and applies the passed
// proposals due by its height, each at most MaxEndsPerBlock.
func (Module) EndBlock(ctx *ledger.Context) error {
	p := params(ctx)
	kv := ctx.Store(storeKey)
	now := uint64(ctx.Time.UnixMilli())
	var ends, applies [][]byte
	if err := kv.Iterate([]byte("end/"), func(k, _ []byte) error {
		if binary.BigEndian.Uint64(k[4:12]) > now || len(ends) == p.MaxEndsPerBlock {
			return ledger.ErrStop
		}
		ends = append(ends, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range ends {
		kv.Delete(k)
		if err := tally(ctx, p, binary.BigEndian.Uint64(k[12:20])); err != nil {
			return err
		}
	}
	if err := kv.Iterate([]byte("apply/"), func(k, _ []byte) error {
		if int64(binary.BigEndian.Uint64(k[6:14])) > ctx.Height || len(applies) == p.MaxEndsPerBlock {
			return ledger.ErrStop
		}
		applies = append(applies, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range applies {
		kv.Delete(k)
		if err := apply(ctx, binary.BigEndian.Uint64(k[14:22])); err != nil {
			return err
		}
	}
	return nil
}

func tally(ctx *ledger.Context, p Params, id uint64) error {
	prop, err := GetProposal(ctx, id)
	if err != nil {
		return err
	}
	prop.Bonded = ctx.Bucket(BucketBonded)
	voted := prop.Yes + prop.No + prop.Abstain // each at most the bonded total
	quorum, _, err := money.MulDiv(prop.Bonded, p.QuorumBps, 10_000)
	if err != nil {
		return err
	}
	to := "proposer"
	switch {
	case prop.Bonded == 0 || voted < quorum || voted == 0:
		prop.Status, to = StatusFailed, "treasury"
		if err := ctx.MoveBucket(BucketDeposits, ledger.BucketTreasury, prop.Deposit); err != nil {
			return err
		}
	default:
		need, _, err := money.MulDiv(prop.Yes+prop.No, p.ThresholdBps, 10_000)
		if err != nil {
			return err
		}
		if prop.Yes > need {
			prop.Status = StatusPassed
			at := max(prop.EffectHeight, ctx.Height+1)
			ctx.Store(storeKey).Set(key([]byte("apply/"), be(uint64(at)), be(id)), []byte{})
		} else {
			prop.Status = StatusRejected
		}
		if err := ctx.Credit(BucketDeposits, prop.Proposer, prop.Deposit); err != nil {
			return err
		}
	}
	if err := putJSON(ctx, key([]byte("prop/"), be(id)), prop); err != nil {
		return err
	}
	Events.Tallied.Emit(ctx, ledger.FormatInt(id), prop.Status, ledger.FormatInt(prop.Yes), ledger.FormatInt(prop.No),
		ledger.FormatInt(prop.Abstain), ledger.FormatInt(prop.Bonded), ledger.FormatInt(prop.Deposit), to)
	return nil
}

// apply puts a passed proposal's parameters in force. Each set was checked
// when proposed; checked again here, a set that no longer decodes (a
// release changed the module's parameters since) leaves every set as it
// was and the proposal rejected.
func apply(ctx *ledger.Context, id uint64) error {
	prop, err := GetProposal(ctx, id)
	if err != nil {
		return err
	}
	sets := make([]ledger.ParamSet, len(prop.Changes))
	modules := ""
	for i, c := range prop.Changes {
		if sets[i], err = ctx.DecodeParams(c.Module, c.Params); err != nil {
			prop.Status = StatusRejected
			return putJSON(ctx, key([]byte("prop/"), be(id)), prop)
		}
		if i > 0 {
			modules += ","
		}
		modules += c.Module
	}
	for i, c := range prop.Changes {
		if err := ctx.SetParams(c.Module, sets[i]); err != nil {
			return err
		}
	}
	prop.Status, prop.AppliedHeight = StatusApplied, ctx.Height
	if err := putJSON(ctx, key([]byte("prop/"), be(id)), prop); err != nil {
		return err
	}
	Events.Applied.Emit(ctx, ledger.FormatInt(id), modules)
	return nil
}
