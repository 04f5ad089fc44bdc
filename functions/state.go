package functions

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
)

// Prefix is the module's namespace in state.
const Prefix = "functions/"

const (
	keyNextID   = "next_id"
	prefDep     = "dep/"
	prefByOwner = "byowner/"
	prefByName  = "byname/"
	prefByProv  = "byprov/"
	prefByLease = "bylease/"
	prefSpec    = "spec/"
	prefSeq     = "seq/"
	prefDue     = "due/"
	prefCron    = "cron/"

	payeeProvider = "provider"
	msPerSecond   = 1000
	nanoPerUstr   = 1_000_000_000
)

// Deployment states.
const (
	StateActive    = "active"
	StateExhausted = "exhausted"
	StateRemoved   = "removed"
	// StateSuspended is a deployment that cannot run: no replica left and
	// no means to open one (its escrow short of a replica's deposit, or
	// exhausted). It is neither evaluated nor scheduled, and costs no
	// block any work, until a top-up resumes it.
	StateSuspended = "suspended"
)

// Replica is one running copy of a deployment: a market compute lease.
type Replica struct {
	Lease    uint64           `json:"lease,string"`
	Provider identity.Address `json:"provider"`
	OpenedMs int64            `json:"opened_ms"`
	// The replica's latest usage report, for scaling.
	ReportMs        int64  `json:"report_ms,omitempty"`
	AvgConcurrency  uint32 `json:"avg_concurrency"`
	PeakConcurrency uint32 `json:"peak_concurrency"`
}

// Deployment is a deployment's record in state. Its money satisfies
//
//	Deposited = Escrow + Charged + ReplicaFunding + Refunded
//	Charged   = sum of Payees[].Paid + Pending + PaidBefore
type Deployment struct {
	ID    uint64           `json:"id,string"`
	Owner identity.Address `json:"owner"`
	Name  string           `json:"name"`
	Spec  Spec             `json:"spec"`
	State string           `json:"state"`
	// ExhaustedReason is "spend_limit" or "escrow" while exhausted.
	ExhaustedReason string `json:"exhausted_reason,omitempty"`
	// SuspendedReason says why a suspended deployment cannot run.
	SuspendedReason string `json:"suspended_reason,omitempty"`
	// ModuleError is the last error a provider met loading the module.
	ModuleError string `json:"module_error,omitempty"`

	Deposited uint64 `json:"deposited,string"`
	Escrow    uint64 `json:"escrow,string"`
	// Charged is what usage has paid in total; ReplicaFunding what went to
	// the replicas' lease deposits; Refunded what went back at removal.
	Charged        uint64 `json:"charged,string"`
	ReplicaFunding uint64 `json:"replica_funding,string"`
	Refunded       uint64 `json:"refunded,string"`
	// AccruedNano is owed for usage but not yet a whole ustr.
	AccruedNano uint64 `json:"accrued_nano,string"`
	// Payees are the split in force, "provider" unresolved, with what each
	// was paid since it took effect; SplitCharged is what was charged
	// since then, PaidBefore what earlier splits paid out.
	Payees       []market.Payee `json:"payees"`
	SplitCharged uint64         `json:"split_charged,string"`
	PaidBefore   uint64         `json:"paid_before,string"`
	Pending      uint64         `json:"pending,string"`
	// LastProvider is the last provider whose report was charged.
	LastProvider identity.Address `json:"last_provider"`

	Calls uint64 `json:"calls,string"`
	MiBMs uint64 `json:"mib_ms,string"`
	// Reserved is the part of Escrow kept back for the final reports of
	// replicas closed less than Params.FinalReportSeconds ago, until
	// ReservedUntilMs: neither a refund nor a replica's deposit takes it.
	Reserved        uint64 `json:"reserved,omitempty,string"`
	ReservedUntilMs int64  `json:"reserved_until_ms,omitempty"`

	Replicas []Replica `json:"replicas"`
	// LowSinceMs is when the load first fitted in one replica fewer, since
	// the last scaling; 0 when it does not.
	LowSinceMs int64 `json:"low_since_ms,omitempty"`
	// Blocked is the reason of the last scale_blocked event, until a
	// decision succeeds.
	Blocked string `json:"blocked,omitempty"`
	// CronNextMs is each schedule's next run; CronRuns counts runs emitted.
	CronNextMs []int64 `json:"cron_next_ms,omitempty"`
	CronRuns   uint64  `json:"cron_runs"`
	// CronRecent are the latest runs given to replicas, oldest first, at
	// most 16, for their providers to serve.
	CronRecent []CronAssigned `json:"cron_recent,omitempty"`

	DueMs     int64 `json:"due_ms,omitempty"`
	CreatedMs int64 `json:"created_ms"`
	UpdatedMs int64 `json:"updated_ms"`
	RemovedMs int64 `json:"removed_ms,omitempty"`
}

// ProviderUsage is what one provider reported for one deployment.
type ProviderUsage struct {
	Sequence uint64 `json:"sequence,string"`
	Epoch    int64  `json:"epoch"`
	Calls    uint64 `json:"calls,string"`
	MiBMs    uint64 `json:"mib_ms,string"`
	// Paid is what the provider was paid as the split's "provider".
	Paid uint64 `json:"paid,string"`
	// ReportMs is the block time of the provider's last accepted report:
	// the next one's usage is bounded by the time since.
	ReportMs int64 `json:"report_ms,omitempty"`
	// A replica of this provider whose lease closed may still report the
	// usage it served before the close, once, until FinalUntilMs: usage
	// of the FinalFromMs..ClosedMs span of lease FinalLease, charged at
	// most Reserve from the escrow kept back for it.
	FinalLease   uint64 `json:"final_lease,omitempty,string"`
	FinalFromMs  int64  `json:"final_from_ms,omitempty"`
	ClosedMs     int64  `json:"closed_ms,omitempty"`
	FinalUntilMs int64  `json:"final_until_ms,omitempty"`
	Reserve      uint64 `json:"reserve,omitempty,string"`
}

type store struct {
	ctx *ledger.Context
	kv  *ledger.PrefixKV
	p   *Params
}

// storeKey opens the module's state, under Prefix; only this package holds
// it (ledger.StoreKey).
var storeKey = ledger.NewStoreKey(strings.TrimSuffix(Prefix, "/"))

func newStore(ctx *ledger.Context) *store { return &store{ctx: ctx, kv: ctx.Store(storeKey)} }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// key joins a prefix and parts: integers big-endian, addresses raw,
// strings as they are.
func key(prefix string, parts ...any) []byte {
	k := []byte(prefix)
	for _, p := range parts {
		switch v := p.(type) {
		case uint64:
			k = binary.BigEndian.AppendUint64(k, v)
		case int64:
			k = binary.BigEndian.AppendUint64(k, uint64(v))
		case uint16:
			k = binary.BigEndian.AppendUint16(k, v)
		case identity.Address:
			k = append(k, v[:]...)
		case string:
			k = append(k, v...)
		default:
			panic(fmt.Sprintf("functions: bad key part %T", p))
		}
	}
	return k
}

func (s *store) getJSON(k []byte, v any) (bool, error) {
	b := s.kv.Get(k)
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, errs.E(errs.Internal, "functions: corrupt record %q: %v", k, err)
	}
	return true, nil
}

func (s *store) putJSON(k []byte, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("functions: record does not marshal: %v", err))
	}
	s.kv.Set(k, b)
}

func (s *store) params() Params {
	if s.p != nil {
		return *s.p
	}
	p := *s.ctx.ModuleParams(Module{}.Name()).(*Params)
	s.p = &p
	return p
}

func (s *store) nowMs() int64 { return s.ctx.Time.UnixMilli() }

func (s *store) nextID() uint64 {
	b := s.kv.Get([]byte(keyNextID))
	id := uint64(1)
	if len(b) == 8 {
		id = binary.BigEndian.Uint64(b)
	}
	s.kv.Set([]byte(keyNextID), binary.BigEndian.AppendUint64(nil, id+1))
	return id
}

func (s *store) deployment(id uint64) (*Deployment, error) {
	var d Deployment
	ok, err := s.getJSON(key(prefDep, id), &d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.E(errs.NotFound, "no deployment %d: see `stratus fn ls`", id)
	}
	return &d, nil
}

// putDeployment writes d's record: everything but the spec's env and cron
// bodies, which putSpec writes apart (up to ~580 KB as JSON), so that a
// usage report, an evaluation or a cron run never rewrites them.
func (s *store) putDeployment(d *Deployment) {
	rec := *d
	rec.Spec = lightSpec(d.Spec)
	s.putJSON(key(prefDep, d.ID), &rec)
}

// putSpec writes d's whole spec; only a deploy and an update do.
func (s *store) putSpec(d *Deployment) { s.putJSON(key(prefSpec, d.ID), d.Spec) }

// fullSpec fills in the env and cron bodies of d's spec.
func (s *store) fullSpec(d *Deployment) error {
	var sp Spec
	ok, err := s.getJSON(key(prefSpec, d.ID), &sp)
	if err != nil || !ok {
		return err
	}
	d.Spec = sp
	return nil
}

// lightSpec is sp without its env and cron bodies: what the chain's own
// work (billing, scaling, cron) reads.
func lightSpec(sp Spec) Spec {
	sp.Env = nil
	if len(sp.Cron) > 0 {
		jobs := make([]CronJob, len(sp.Cron))
		for i, j := range sp.Cron {
			j.Body = ""
			jobs[i] = j
		}
		sp.Cron = jobs
	}
	return sp
}

func (s *store) usage(id uint64, p identity.Address) (ProviderUsage, error) {
	var u ProviderUsage
	_, err := s.getJSON(key(prefSeq, id, p), &u)
	return u, err
}

// schedule moves a deployment's evaluation to at (0 removes it).
func (s *store) schedule(d *Deployment, at int64) {
	if d.DueMs == at {
		return
	}
	if d.DueMs != 0 {
		s.kv.Delete(key(prefDue, d.DueMs, d.ID))
	}
	d.DueMs = at
	if at != 0 {
		s.kv.Set(key(prefDue, at, d.ID), []byte{})
	}
}

func (s *store) addReplicaIndex(d *Deployment, r Replica) {
	s.kv.Set(key(prefByProv, r.Provider, d.ID, r.Lease), []byte{})
	s.kv.Set(key(prefByLease, r.Lease), key("", d.ID))
}

func (s *store) dropReplicaIndex(d *Deployment, r Replica) {
	s.kv.Delete(key(prefByProv, r.Provider, d.ID, r.Lease))
	s.kv.Delete(key(prefByLease, r.Lease))
}

// replicaOf returns the deployment whose replica lease is, or 0.
func (s *store) replicaOf(lease uint64) uint64 {
	b := s.kv.Get(key(prefByLease, lease))
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func depID(d *Deployment) string { return ledger.FormatInt(d.ID) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
