// Package functions is the ledger module for serverless functions: a
// deployment of a WASI module, the compute leases that run its replicas,
// metered billing from the providers' signed usage reports, autoscaling
// against the reported concurrency, and cron schedules evaluated against
// block time.
//
// It is pure state-machine logic, like package market: it reads block time,
// never the clock, and does no I/O. It is not the runtime (the provider
// role runs the modules), nor the gateway, nor the deployment spec's YAML:
// only what billing, scaling and scheduling need is on chain; env and the
// other limits stay off chain, committed to by SpecHash.
//
// # Replicas are market leases
//
// Each replica of a deployment is a market compute lease of
// Params.ReplicaQuantity cu, opened with market.OpenLeaseFor as the
// deployment's owner on a provider the deployment does not use yet, with
// the deployment's payment split and Params.ReplicaDeposit of escrow. The
// lease's escrow pays for the capacity, streamed by the market like any
// lease; the deployment's own escrow pays for use (calls and MiB-ms). This
// way a replica gets everything a lease has without a second copy of it:
// capacity reservation, the provider's acknowledgement, SLA probes and
// refunds, and the provider's score. A lease the market closes (its escrow
// ran out, an SLA breach, the provider closed it or never acknowledged it)
// is seen at the deployment's next evaluation and replaced on another
// provider.
//
// The replica's deposit comes out of the deployment's escrow: it is moved
// to the owner's balance and the market takes it from there in the same
// step, so the owner's balance ends where it was. When a lease closes the
// market refunds what is left of its escrow to its consumer, the owner's
// balance. The spend limit caps usage charges only; capacity is bounded by
// the deployment's escrow and scaling.max.
//
// # Messages
//
//	functions/deploy        {name, spec, deposit}
//	functions/update        {id, spec}       replaces the spec; same split
//	                                          resets the payees' books
//	functions/topup         {id, amount}
//	functions/remove        {id}             closes the replicas' leases and
//	                                          refunds the escrow (less the
//	                                          final reports' reserve)
//	functions/scale         {id, min, max}   sets scaling.min and .max
//	functions/usage_report  {deployment, sequence, epoch, calls, mib_ms,
//	                         peak_concurrency, avg_concurrency,
//	                         module_error}
//
// A spec is {module (a storage object ID), spec_hash (hex SHA-256 of the
// full spec), memory_bytes, timeout_ms, max_request_bytes and
// max_response_bytes (0: the spec's defaults), env, routes, cron [{schedule
// (5 fields or a descriptor, UTC), path, body}], scaling {min, max, target_concurrency,
// cooldown_seconds}, spend_limit (ustr), split (market payees; "provider"
// is the replica's provider, and for usage the reporting provider)}.
//
// # Billing
//
// A usage report is signed by a provider that holds an active replica of
// the deployment. Its sequence must be greater than the last one that
// provider reported for the deployment, so a duplicated or replayed report
// is refused and never charged twice. Its charge, in nano-ustr, is
//
//	calls x price_per_call + mib_ms x price_per_mib_ms
//
// computed exactly in 128 bits, plus the fraction of a ustr the deployment
// carried from earlier reports. The whole ustr are taken from the
// deployment's escrow, at most what the escrow holds and at most what
// keeps the total charged within spend_limit; the new fraction is carried.
// When a charge is cut short, or leaves no room, the deployment is
// "exhausted" (event function.exhausted; GetDeployment shows it, and the
// gateway answers 402) and what was not paid is forgiven. A top-up or a
// higher spend limit makes it active again.
//
// A report is refused when it claims more than the spec and the time since
// the provider's previous report allow (UsageBound, ConcurrencyLimit and
// docs/functions.md). A replica's lease closes only through its deployment
// (BeforeLeaseClose refuses its owner's own close); however it closes, its
// provider may send one final report of what it served before the close,
// for Params.FinalReportSeconds, and the most that report could charge is
// kept back from the escrow (Reserved) until then. A deployment with no
// replica that cannot open one is suspended: no evaluation, no cron, no
// block writes anything of it, until a top-up, update or scale resumes it.
//
// The charge is split like a lease's payments: each payee's total is
// floor(charged x bps / 10000) over the deployment's life (since its split
// last changed), so rounding never drifts; the share of "provider" goes to
// the reporting provider; what no payee is owed yet waits in the
// functions_payouts bucket (less than 1 ustr per payee) and goes to the
// first payee when the deployment is removed or its split changes.
//
// # Scaling
//
// Every Params.EvalSeconds of block time (and in the block of a deploy or
// update) a deployment is evaluated, from a time-ordered due queue, so a
// block's work grows with the deployments due in it:
//
//  1. replicas whose leases closed are dropped (function.replica_lost);
//  2. below scaling.min, replicas are opened up to min (function.scaled,
//     reason "replacing lease 7 (sla)" or "below min");
//  3. the concurrency is the sum of avg_concurrency in each replica's latest
//     report no older than Params.WindowSeconds; above target x replicas,
//     one replica is opened on a provider not used yet, up to max;
//  4. when it would fit in one replica fewer (concurrency <= target x
//     (replicas - 1)) for cooldown_seconds, the newest replica's lease is
//     closed, down to min.
//
// Every decision is a function.scaled event with from, to and reason. A
// decision that cannot be carried out (no provider left, the escrow short
// of a replica's deposit) emits function.scale_blocked once, until its
// reason changes. An exhausted deployment opens no replicas.
//
// # Cron
//
// Each schedule's next run is kept in a due queue. The first block at or
// after it emits function.cron, assigned to one active replica by round
// robin over the deployment's run count; runs missed while the chain was
// halted collapse into that one. The deployment keeps its 16 latest
// assigned runs (CronRecent); ReplicasOf hands each provider the runs of
// its replica, and the provider calls the function once for each. Runs not
// yet served when the spec is updated are dropped. DueCron lists the runs
// of a time range.
//
// # State, under "functions/"
//
//	params                          -> Params (JSON)
//	next_id                         -> uint64
//	dep/<id>                        -> Deployment (JSON), without the
//	                                   spec's env and cron bodies
//	spec/<id>                       -> Spec (JSON), written by deploy,
//	                                   update and scale only
//	bylease/<lease>                 -> deployment id of a replica's lease
//	byowner/<owner32><id>           -> empty
//	byname/<owner32><name>          -> id
//	byprov/<provider32><id><lease>  -> empty
//	seq/<id><provider32>            -> ProviderUsage (JSON)
//	due/<ms><id>                    -> empty
//	cron/<ms><id><index uint16>     -> empty
//
// Value sits in two buckets: functions_escrow (the sum of the deployments'
// escrow) and functions_payouts (the sum of their pending).
package functions

import (
	"encoding/json"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/ledger"
)

// Buckets the module holds value in.
const (
	BucketEscrow  = "functions_escrow"
	BucketPayouts = "functions_payouts"
)

// Module is the functions ledger module. It needs the market module in
// the same registry.
type Module struct{}

var (
	_ ledger.Module      = Module{}
	_ ledger.BucketOwner = Module{}
)

// Name implements ledger.Module.
func (Module) Name() string { return "functions" }

// Buckets implements ledger.BucketOwner.
func (Module) Buckets() []string { return []string{BucketEscrow, BucketPayouts} }

// Msgs implements ledger.Module.
func (Module) Msgs() []ledger.MsgSpec {
	return []ledger.MsgSpec{
		{New: func() ledger.Msg { return &Deploy{} }, Handler: ledger.Handle(deploy)},
		{New: func() ledger.Msg { return &Update{} }, Handler: ledger.Handle(update)},
		{New: func() ledger.Msg { return &Topup{} }, Handler: ledger.Handle(topup)},
		{New: func() ledger.Msg { return &Remove{} }, Handler: ledger.Handle(remove)},
		{New: func() ledger.Msg { return &UsageReport{} }, Handler: ledger.Handle(usageReport)},
		{New: func() ledger.Msg { return &Scale{} }, Handler: ledger.Handle(scale)},
	}
}

// Params are the module's chain parameters.
type Params struct {
	// PricePerCall is nano-ustr (10^-9 ustr) per call.
	PricePerCall uint64 `json:"price_per_call,string"`
	// PricePerMiBMs is nano-ustr per MiB-millisecond of memory limit held
	// by a running call.
	PricePerMiBMs uint64 `json:"price_per_mib_ms,string"`
	// ReplicaQuantity is the cu of each replica's compute lease.
	ReplicaQuantity uint64 `json:"replica_quantity,string"`
	// ReplicaDeposit is the escrow, in ustr, each replica's lease starts
	// with, taken from the deployment's escrow.
	ReplicaDeposit uint64 `json:"replica_deposit,string"`
	// ReplicaSLABps and ReplicaSLAWindowSeconds are the replicas' leases'
	// SLA; 0 bps for none. The window must be a whole number of market
	// epochs.
	ReplicaSLABps           uint64 `json:"replica_sla_bps"`
	ReplicaSLAWindowSeconds int64  `json:"replica_sla_window_seconds"`
	// EvalSeconds is how often each deployment's scaling rule is evaluated.
	EvalSeconds int64 `json:"eval_seconds"`
	// WindowSeconds: a replica's latest report counts for scaling while it
	// is at most this old.
	WindowSeconds int64 `json:"window_seconds"`
	// EpochSeconds is the usage-report epoch; a report may not be for an
	// epoch after the block's.
	EpochSeconds int64 `json:"epoch_seconds"`
	// MaxReplicas bounds every deployment's scaling.max.
	MaxReplicas uint32 `json:"max_replicas"`
	// FinalReportSeconds is how long after a replica's lease closed its
	// provider may still report the usage it served before the close;
	// the deployment keeps back escrow for it that long.
	FinalReportSeconds int64 `json:"final_report_seconds"`
	// BlockEvaluations and BlockCronRuns bound the evaluations and the
	// cron runs one block's EndBlock does; the rest stay due, earliest
	// first, and are done by the next blocks. 0 is the default, 1000.
	BlockEvaluations int `json:"block_evaluations,omitempty"`
	BlockCronRuns    int `json:"block_cron_runs,omitempty"`
	// CallsPerInstanceMs bounds the calls one instance can serve per
	// millisecond, for the bound on a usage report's calls (UsageBound).
	// 0 is the default, 10: a call takes at least 100 µs (a reusable
	// module answers a small call through the gateway in about 1 ms).
	CallsPerInstanceMs uint64 `json:"calls_per_instance_ms,omitempty,string"`
}

// defaultCallsPerInstanceMs is CallsPerInstanceMs' default.
const defaultCallsPerInstanceMs = 10

func (p Params) callsPerInstanceMs() uint64 {
	if p.CallsPerInstanceMs == 0 {
		return defaultCallsPerInstanceMs
	}
	return p.CallsPerInstanceMs
}

// defaultBlockWork is BlockEvaluations' and BlockCronRuns' default.
const defaultBlockWork = 1000

func (p Params) blockEvaluations() int {
	if p.BlockEvaluations <= 0 {
		return defaultBlockWork
	}
	return p.BlockEvaluations
}

func (p Params) blockCronRuns() int {
	if p.BlockCronRuns <= 0 {
		return defaultBlockWork
	}
	return p.BlockCronRuns
}

// DefaultParams are a devnet's: 0.2 ustr per call and 16 nano-ustr per
// MiB-ms (about 0.0167 ustr per GiB-ms), close to the public clouds' list
// prices at 1 STR = 1 USD; 1 cu replicas with 1 STR of lease escrow each.
func DefaultParams() Params {
	return Params{
		PricePerCall:            200_000_000,
		PricePerMiBMs:           16,
		ReplicaQuantity:         1,
		ReplicaDeposit:          1_000_000,
		ReplicaSLABps:           0,
		ReplicaSLAWindowSeconds: 3600,
		EvalSeconds:             10,
		WindowSeconds:           120,
		EpochSeconds:            60,
		MaxReplicas:             16,
		FinalReportSeconds:      600,
	}
}

// Validate checks the parameters' ranges.
func (p Params) Validate() error {
	switch {
	case p.ReplicaQuantity == 0 || p.ReplicaQuantity > 1<<20:
		return errs.E(errs.Invalid, "functions replica_quantity must be between 1 and 1048576 cu")
	case p.ReplicaDeposit == 0:
		return errs.E(errs.Invalid, "functions replica_deposit must be positive")
	case p.ReplicaSLABps > 10_000:
		return errs.E(errs.Invalid, "functions replica_sla_bps must be at most 10000")
	case p.ReplicaSLABps > 0 && (p.ReplicaSLAWindowSeconds <= 0 || p.ReplicaSLAWindowSeconds > 30*24*3600):
		return errs.E(errs.Invalid, "functions replica_sla_window_seconds must be between 1 and 2592000")
	case p.EvalSeconds <= 0 || p.EvalSeconds > 86_400:
		return errs.E(errs.Invalid, "functions eval_seconds must be between 1 and 86400")
	case p.WindowSeconds <= 0 || p.WindowSeconds > 86_400:
		return errs.E(errs.Invalid, "functions window_seconds must be between 1 and 86400")
	case p.EpochSeconds <= 0 || p.EpochSeconds > 86_400:
		return errs.E(errs.Invalid, "functions epoch_seconds must be between 1 and 86400")
	case p.MaxReplicas == 0 || p.MaxReplicas > maxReplicasBound:
		return errs.E(errs.Invalid, "functions max_replicas must be between 1 and %d", maxReplicasBound)
	case p.BlockEvaluations < 0 || p.BlockEvaluations > 100_000 || p.BlockCronRuns < 0 || p.BlockCronRuns > 100_000:
		return errs.E(errs.Invalid, "functions block_evaluations and block_cron_runs must be between 0 (the default, 1000) and 100000")
	case p.CallsPerInstanceMs > 1_000_000:
		return errs.E(errs.Invalid, "functions calls_per_instance_ms must be at most 1000000 (0 is the default, 10)")
	case p.FinalReportSeconds < p.EpochSeconds || p.FinalReportSeconds > 86_400:
		return errs.E(errs.Invalid, "functions final_report_seconds must be between epoch_seconds (%d) and 86400", p.EpochSeconds)
	}
	return nil
}

// Genesis is the module's section of the genesis app_state.
type Genesis struct {
	Params Params `json:"params"`
}

// DefaultGenesis is a devnet's functions section.
func DefaultGenesis() Genesis { return Genesis{Params: DefaultParams()} }

// InitGenesis implements ledger.Module. A missing section gets the
// defaults.
func (Module) InitGenesis(ctx *ledger.Context, raw json.RawMessage) error {
	g := DefaultGenesis()
	if len(raw) > 0 && string(raw) != "null" {
		g = Genesis{}
		dec := json.NewDecoder(bytesReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			return errs.E(errs.Invalid, "functions genesis: %v", err)
		}
	}
	if g.Params.FinalReportSeconds == 0 {
		g.Params.FinalReportSeconds = DefaultParams().FinalReportSeconds
	}
	if err := g.Params.Validate(); err != nil {
		return err
	}
	return ctx.SetParams(Module{}.Name(), &g.Params)
}

// NewParams implements ledger.ParamsOwner: the module's parameters are
// stored by the ledger under params/functions.
func (Module) NewParams() ledger.ParamSet { return &Params{} }

// EndBlock evaluates the deployments due by the block's time, then emits
// the cron runs due by it.
func (Module) EndBlock(ctx *ledger.Context) error {
	s := newStore(ctx)
	if err := s.processDue(); err != nil {
		return err
	}
	return s.processCron()
}
