package functions

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/codec"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/storage"
)

// Messages are canonical JSON (ledger.EncodeJSON), like the market's.

// Bounds on a spec.
const (
	maxName     = 64
	maxRoutes   = 16
	maxRoute    = 256
	maxCron     = 8
	maxCronSpec = 128
	// maxCronBodies bounds the cron bodies of one deployment together,
	// since the ledger keeps them in the deployment's record.
	maxCronBodies    = 64 << 10
	maxPayees        = 8
	maxTimeoutMs     = 15 * 60 * 1000
	maxMemoryBytes   = 4 << 30 // wasm32's address space
	minMemoryBytes   = 64 << 10
	maxCooldownS     = 24 * 3600
	maxReplicasBound = 64
	minCronInterval  = time.Minute
)

// Scaling is a deployment's autoscaling rule.
type Scaling struct {
	Min uint32 `json:"min"`
	Max uint32 `json:"max"`
	// TargetConcurrency is the concurrent calls one replica should carry.
	TargetConcurrency uint32 `json:"target_concurrency"`
	// CooldownSeconds is how long the load must fit in one replica fewer
	// before one is closed.
	CooldownSeconds int64 `json:"cooldown_seconds"`
}

// Spec is a deployment spec as the ledger keeps it and the providers run
// it: the spec file (package fnspec) with the module's object ID in place
// of a path, less the name and deposit (the Deploy message's) and the
// reusable flag (the module's exports say that).
type Spec struct {
	// Module is the storage object ID of the .wasm module.
	Module string `json:"module"`
	// SpecHash is the hex SHA-256 of the spec file's canonical form, with
	// the module's ID: it names a version of the deployment (the gateway
	// tells providers which one a call is for).
	SpecHash    string `json:"spec_hash"`
	MemoryBytes uint64 `json:"memory_bytes,string"`
	TimeoutMs   uint64 `json:"timeout_ms"`
	// MaxRequestBytes and MaxResponseBytes cap a call's request body and
	// its CGI output; 0 is the spec's default (1MiB and 16MiB).
	MaxRequestBytes  uint64 `json:"max_request_bytes,omitempty,string"`
	MaxResponseBytes uint64 `json:"max_response_bytes,omitempty,string"`
	// Env is passed to every instance. It is on the ledger, public like
	// the rest of the spec: it is configuration, not a place for secrets.
	Env    map[string]string `json:"env,omitempty"`
	Routes []string          `json:"routes"`
	// Cron lists the scheduled calls, on block time in UTC.
	Cron    []CronJob `json:"cron,omitempty"`
	Scaling Scaling   `json:"scaling"`
	// SpendLimit caps the usage charges, in ustr, over the deployment's
	// life.
	SpendLimit uint64 `json:"spend_limit,string"`
	// Split lists payees as market.Payee; "provider" is the replica's
	// provider. Empty pays the provider everything.
	Split []market.Payee `json:"split,omitempty"`
}

// CronJob is a scheduled call: at each time Schedule names (5 fields,
// minute hour day month weekday, or a descriptor such as @hourly or
// @every 5m, in UTC), one replica calls Path with a POST of Body, or a GET
// when Body is empty.
type CronJob struct {
	Schedule string `json:"schedule"`
	Path     string `json:"path"`
	Body     string `json:"body,omitempty"`
}

// Deploy is functions/deploy: the signer creates a deployment named Name
// (unique among its deployments) with Deposit of escrow.
type Deploy struct {
	Name    string `json:"name"`
	Spec    Spec   `json:"spec"`
	Deposit uint64 `json:"deposit,string"`
}

// Update is functions/update: the owner replaces a deployment's spec.
type Update struct {
	ID   uint64 `json:"id,string"`
	Spec Spec   `json:"spec"`
}

// Topup is functions/topup: anyone adds escrow to a deployment.
type Topup struct {
	ID     uint64 `json:"id,string"`
	Amount uint64 `json:"amount,string"`
}

// Remove is functions/remove: the owner ends a deployment.
type Remove struct {
	ID uint64 `json:"id,string"`
}

// Scale is functions/scale: the owner sets a deployment's scaling.min and
// scaling.max. Replicas above the new max close in this block's
// evaluation, through the deployment, so that the usage they served stays
// billable. The spec's other fields and its spec_hash are unchanged: the
// providers run the same thing.
type Scale struct {
	ID  uint64 `json:"id,string"`
	Min uint32 `json:"min"`
	Max uint32 `json:"max"`
}

// UsageReport is functions/usage_report, signed by a provider holding an
// active replica of the deployment: what it served in an epoch.
type UsageReport struct {
	Deployment uint64 `json:"deployment,string"`
	// Sequence must exceed the last one this provider reported for the
	// deployment.
	Sequence uint64 `json:"sequence,string"`
	Epoch    int64  `json:"epoch"`
	Calls    uint64 `json:"calls,string"`
	// MiBMs is the memory limit in MiB times the wall time in ms, summed
	// over the calls.
	MiBMs           uint64 `json:"mib_ms,string"`
	PeakConcurrency uint32 `json:"peak_concurrency"`
	AvgConcurrency  uint32 `json:"avg_concurrency"`
	// ModuleError is why the provider cannot run the deployment's module
	// (it does not compile, or cannot be fetched), at most 512 bytes of
	// one line; "" when it can. The deployment shows it until a report
	// with calls and no error, or an update.
	ModuleError string `json:"module_error,omitempty"`
}

// MaxModuleError bounds UsageReport.ModuleError.
const MaxModuleError = 512

func (*Deploy) Type() string      { return "functions/deploy" }
func (*Update) Type() string      { return "functions/update" }
func (*Topup) Type() string       { return "functions/topup" }
func (*Remove) Type() string      { return "functions/remove" }
func (*Scale) Type() string       { return "functions/scale" }
func (*UsageReport) Type() string { return "functions/usage_report" }

func (m *Deploy) Encode(w *codec.Writer)            { ledger.EncodeJSON(w, m) }
func (m *Update) Encode(w *codec.Writer)            { ledger.EncodeJSON(w, m) }
func (m *Topup) Encode(w *codec.Writer)             { ledger.EncodeJSON(w, m) }
func (m *Remove) Encode(w *codec.Writer)            { ledger.EncodeJSON(w, m) }
func (m *Scale) Encode(w *codec.Writer)             { ledger.EncodeJSON(w, m) }
func (m *Scale) Decode(r *codec.Reader) error       { return ledger.DecodeJSON(r, m) }
func (m *UsageReport) Encode(w *codec.Writer)       { ledger.EncodeJSON(w, m) }
func (m *Deploy) Decode(r *codec.Reader) error      { return ledger.DecodeJSON(r, m) }
func (m *Update) Decode(r *codec.Reader) error      { return ledger.DecodeJSON(r, m) }
func (m *Topup) Decode(r *codec.Reader) error       { return ledger.DecodeJSON(r, m) }
func (m *Remove) Decode(r *codec.Reader) error      { return ledger.DecodeJSON(r, m) }
func (m *UsageReport) Decode(r *codec.Reader) error { return ledger.DecodeJSON(r, m) }

// ValidName reports whether a deployment name is usable: 1 to 64 bytes of
// lowercase letters, digits and '-', starting with a letter.
func ValidName(n string) error {
	if n == "" || len(n) > maxName {
		return errs.E(errs.Invalid, "name: must be 1 to %d characters", maxName)
	}
	for i, r := range n {
		ok := (r >= 'a' && r <= 'z') || (i > 0 && ((r >= '0' && r <= '9') || r == '-'))
		if !ok {
			return errs.E(errs.Invalid, "name %q: use lowercase letters, digits and '-', starting with a letter", n)
		}
	}
	return nil
}

// Validate checks a spec on its own; each error names the field.
func (s *Spec) Validate() error {
	if _, err := storage.ParseID(s.Module); err != nil {
		return errs.E(errs.Invalid, "module: %v", err)
	}
	if len(s.SpecHash) != 64 || strings.ToLower(s.SpecHash) != s.SpecHash {
		return errs.E(errs.Invalid, "spec_hash: must be 64 lowercase hex digits (SHA-256)")
	}
	if _, err := hex.DecodeString(s.SpecHash); err != nil {
		return errs.E(errs.Invalid, "spec_hash: must be 64 lowercase hex digits (SHA-256)")
	}
	if s.MemoryBytes < minMemoryBytes || s.MemoryBytes > maxMemoryBytes {
		return errs.E(errs.Invalid, "limits.memory: must be between 64KiB and 4GiB, not %d bytes", s.MemoryBytes)
	}
	if s.TimeoutMs == 0 || s.TimeoutMs > maxTimeoutMs {
		return errs.E(errs.Invalid, "limits.timeout: must be between 1ms and 15m, not %dms", s.TimeoutMs)
	}
	if len(s.Routes) == 0 || len(s.Routes) > maxRoutes {
		return errs.E(errs.Invalid, "routes: give 1 to %d routes", maxRoutes)
	}
	seen := map[string]bool{}
	for i, r := range s.Routes {
		if msg := CheckPath(r, true); msg != "" {
			return errs.E(errs.Invalid, "routes[%d]: %s", i, msg)
		}
		if seen[r] {
			return errs.E(errs.Invalid, "routes: %q appears twice", r)
		}
		seen[r] = true
	}
	for _, b := range []struct {
		field string
		n     uint64
	}{{"limits.max_request", s.MaxRequestBytes}, {"limits.max_response", s.MaxResponseBytes}} {
		if b.n != 0 {
			if msg := CheckBodyLimit(b.n); msg != "" {
				return errs.E(errs.Invalid, "%s: %s", b.field, msg)
			}
		}
	}
	if vs := CheckEnv(s.Env); len(vs) > 0 {
		return errs.E(errs.Invalid, "%s", vs[0].Error())
	}
	if vs := CheckCron(s.Cron); len(vs) > 0 {
		return errs.E(errs.Invalid, "%s", vs[0].Error())
	}
	sc := s.Scaling
	switch {
	case sc.Min == 0:
		return errs.E(errs.Invalid, "scaling.min: must be at least 1")
	case sc.Max < sc.Min || sc.Max > maxReplicasBound:
		return errs.E(errs.Invalid, "scaling.max: must be between min (%d) and %d", sc.Min, maxReplicasBound)
	case sc.TargetConcurrency == 0:
		return errs.E(errs.Invalid, "scaling.target_concurrency: must be at least 1")
	case sc.CooldownSeconds < 0 || sc.CooldownSeconds > maxCooldownS:
		return errs.E(errs.Invalid, "scaling.cooldown: must be between 0s and 24h")
	}
	if s.SpendLimit == 0 {
		return errs.E(errs.Invalid, "spend_limit: must be positive")
	}
	return validateSplit(s.Split)
}

func validateSplit(split []market.Payee) error {
	if len(split) == 0 {
		return nil
	}
	if len(split) > maxPayees {
		return errs.E(errs.Invalid, "split: at most %d payees", maxPayees)
	}
	var sum uint64
	seen := map[string]bool{}
	for _, p := range split {
		if p.To != market.PayeeTreasury && p.To != payeeProvider {
			if _, err := identity.ParseDID(p.To); err != nil {
				return errs.E(errs.Invalid, "split: payee %q must be a did:key, \"provider\" or \"treasury\"", p.To)
			}
		}
		if seen[p.To] {
			return errs.E(errs.Invalid, "split: payee %s appears twice", p.To)
		}
		seen[p.To] = true
		if p.Bps == 0 || p.Bps > 10_000 || p.Paid != 0 {
			return errs.E(errs.Invalid, "split: payee %s needs a share between 1 and 10000 bps", p.To)
		}
		sum += p.Bps
	}
	if sum != 10_000 {
		return errs.E(errs.Invalid, "split: the shares add up to %d bps; they must add up to 10000", sum)
	}
	return nil
}

func validID(id uint64) error {
	if id == 0 {
		return errs.E(errs.Invalid, "deployment id must be positive")
	}
	return nil
}

func (m *Deploy) Validate() error {
	if err := ValidName(m.Name); err != nil {
		return err
	}
	if m.Deposit == 0 {
		return errs.E(errs.Invalid, "deposit: a deployment needs escrow")
	}
	return m.Spec.Validate()
}

func (m *Update) Validate() error {
	if err := validID(m.ID); err != nil {
		return err
	}
	return m.Spec.Validate()
}

func (m *Topup) Validate() error {
	if m.Amount == 0 {
		return errs.E(errs.Invalid, "a top-up must be positive")
	}
	return validID(m.ID)
}

func (m *Remove) Validate() error { return validID(m.ID) }

func (m *Scale) Validate() error {
	switch {
	case m.Min == 0:
		return errs.E(errs.Invalid, "scaling.min: must be at least 1")
	case m.Max < m.Min || m.Max > maxReplicasBound:
		return errs.E(errs.Invalid, "scaling.max: must be between min (%d) and %d", m.Min, maxReplicasBound)
	}
	return validID(m.ID)
}

func (m *UsageReport) Validate() error {
	if err := validID(m.Deployment); err != nil {
		return err
	}
	switch {
	case m.Sequence == 0:
		return errs.E(errs.Invalid, "usage report sequence must be positive")
	case m.Epoch < 0:
		return errs.E(errs.Invalid, "usage report epoch must not be negative")
	case m.AvgConcurrency > m.PeakConcurrency:
		return errs.E(errs.Invalid, "usage report avg_concurrency %d is above peak_concurrency %d", m.AvgConcurrency, m.PeakConcurrency)
	case m.Calls == 0 && m.MiBMs > 0:
		return errs.E(errs.Invalid, "usage report has %d MiB-ms but no calls", m.MiBMs)
	case len(m.ModuleError) > MaxModuleError:
		return errs.E(errs.Invalid, "usage report module_error is %d bytes; at most %d", len(m.ModuleError), MaxModuleError)
	}
	if bad := BadText(m.ModuleError, false); bad != "" {
		return errs.E(errs.Invalid, "usage report module_error contains %s", bad)
	}
	return nil
}
