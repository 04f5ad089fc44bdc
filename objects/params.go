package objects

import (
	"encoding/json"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
)

// Params are the rules of proofs of storage and repair; docs/storage.md
// "Proofs and repair" gives the reasoning behind each default.
type Params struct {
	// ProofEpochSeconds is how often every provider is challenged.
	ProofEpochSeconds int64 `json:"proof_epoch_seconds"`
	// ChallengesPerProvider is how many draws of its placed shards each
	// provider gets per epoch, weighted by bytes, from the block hash (two
	// draws on one shard challenge it once; missed shards are challenged again on top, until they pass or are
	// lost).
	ChallengesPerProvider uint32 `json:"challenges_per_provider"`
	// MaxChallengesPerBlock bounds the challenges one block issues and the
	// expired ones it judges; an epoch's pass over the providers continues
	// in the next blocks.
	MaxChallengesPerBlock uint32 `json:"max_challenges_per_block"`
	// ProofWindowSeconds is how long a provider has to answer.
	ProofWindowSeconds int64 `json:"proof_window_seconds"`
	// LostAfterMisses: a shard whose provider misses this many of its
	// proofs in a row is lost and repaired elsewhere.
	LostAfterMisses uint32 `json:"lost_after_misses"`
	// ProviderLostAfterMisses: a provider that misses this many proofs in
	// a row, on any shards, is lost as a whole: every shard it holds is
	// repaired elsewhere.
	ProviderLostAfterMisses uint32 `json:"provider_lost_after_misses"`
	// DownAfterEpochs: a provider the validators' probes find down
	// (validators with more than half the reporting power each had fewer
	// than half their probes of a probing epoch answered) this many
	// probing epochs in a row is lost as a whole.
	DownAfterEpochs uint32 `json:"down_after_epochs"`
	// MissPenaltyBps of the provider's collateral is taken for each missed
	// or failed proof and given to the owner of the object challenged.
	MissPenaltyBps uint64 `json:"miss_penalty_bps"`
	// MissScorePoints come off the provider's score (of 10000) per miss;
	// PassScorePoints go back per passed proof.
	MissScorePoints uint32 `json:"miss_score_points"`
	PassScorePoints uint32 `json:"pass_score_points"`
	// RepairFee is taken from the failing provider's collateral for each
	// shard it loses, RepairFeeFlat plus RepairFeePerGiB per GiB of the
	// shard (rounded up), and paid to the provider that repairs the shard.
	RepairFeeFlat   uint64 `json:"repair_fee_flat,string"`
	RepairFeePerGiB uint64 `json:"repair_fee_per_gib,string"`
	// RepairDeadlineSeconds is how long an assignee has to commit a
	// repair before it is assigned to another provider.
	RepairDeadlineSeconds int64 `json:"repair_deadline_seconds"`
	// MaxRepairsPerBlock bounds the shards of lost providers one block
	// declares lost, the repairs it assigns and the repair deadlines it
	// judges. (A shard lost by its own misses is lost as the miss is
	// judged, so within MaxChallengesPerBlock.)
	MaxRepairsPerBlock uint32 `json:"max_repairs_per_block"`
}

// DefaultParams are a devnet's proof and repair rules.
func DefaultParams() Params {
	return Params{
		ProofEpochSeconds:       60,
		ChallengesPerProvider:   2,
		MaxChallengesPerBlock:   500,
		ProofWindowSeconds:      60,
		LostAfterMisses:         3,
		ProviderLostAfterMisses: 6,
		DownAfterEpochs:         3,
		MissPenaltyBps:          50,
		MissScorePoints:         200,
		PassScorePoints:         20,
		RepairFeeFlat:           100_000,
		RepairFeePerGiB:         1_000_000,
		RepairDeadlineSeconds:   300,
		MaxRepairsPerBlock:      50,
	}
}

// Validate checks the bounds that keep a block's work bounded.
func (p Params) Validate() error {
	switch {
	case p.ProofEpochSeconds < 1 || p.ProofEpochSeconds > 86_400:
		return errs.E(errs.Invalid, "objects params: proof_epoch_seconds must be 1 to 86400")
	case p.ChallengesPerProvider < 1 || p.ChallengesPerProvider > 64:
		return errs.E(errs.Invalid, "objects params: challenges_per_provider must be 1 to 64")
	case p.MaxChallengesPerBlock < p.ChallengesPerProvider || p.MaxChallengesPerBlock > 10_000:
		return errs.E(errs.Invalid, "objects params: max_challenges_per_block must be challenges_per_provider to 10000")
	case p.ProofWindowSeconds < 1 || p.ProofWindowSeconds > 7*86_400:
		return errs.E(errs.Invalid, "objects params: proof_window_seconds must be 1 to 604800")
	case p.LostAfterMisses < 1 || p.ProviderLostAfterMisses < p.LostAfterMisses:
		return errs.E(errs.Invalid, "objects params: lost_after_misses must be at least 1 and provider_lost_after_misses at least that")
	case p.DownAfterEpochs < 1:
		return errs.E(errs.Invalid, "objects params: down_after_epochs must be at least 1")
	case p.MissPenaltyBps > 10_000 || p.MissScorePoints > 10_000 || p.PassScorePoints > 10_000:
		return errs.E(errs.Invalid, "objects params: basis points and score points are at most 10000")
	case p.RepairDeadlineSeconds < 1 || p.RepairDeadlineSeconds > 7*86_400:
		return errs.E(errs.Invalid, "objects params: repair_deadline_seconds must be 1 to 604800")
	case p.MaxRepairsPerBlock < 1 || p.MaxRepairsPerBlock > 10_000:
		return errs.E(errs.Invalid, "objects params: max_repairs_per_block must be 1 to 10000")
	}
	return nil
}

// Genesis is the module's genesis section.
type Genesis struct {
	Params Params `json:"params"`
}

// DefaultGenesis is a devnet's objects section.
func DefaultGenesis() Genesis { return Genesis{Params: DefaultParams()} }

// InitGenesis implements ledger.Module: it stores the parameters (the
// defaults when the section is missing). Objects are only created by
// transactions.
func (Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	g := DefaultGenesis()
	if len(raw) > 0 && string(raw) != "null" {
		g = Genesis{}
		if err := json.Unmarshal(raw, &g); err != nil {
			return errs.E(errs.Invalid, "objects genesis: %v", err)
		}
	}
	if err := g.Params.Validate(); err != nil {
		return err
	}
	return ctx.SetParams(Module{}.Name(), &g.Params)
}

// NewParams implements ledger.ParamsOwner: the module's parameters are
// stored by the ledger under params/objects.
func (Module) NewParams() ledger.ParamSet { return &Params{} }

// params reads the module's parameters. The context checked them when it
// was made (ledger.Context.ModuleParams), so it cannot fail; it keeps its
// error for its callers' sake.
func (s *store) params() (Params, error) {
	return *s.ctx.ModuleParams(Module{}.Name()).(*Params), nil
}

// GetParams returns the module's parameters, for the API and agents.
func GetParams(ctx *ledger.Context) (Params, error) { return newStore(ctx).params() }
