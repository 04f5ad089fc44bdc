// Package fnspec is the deployment spec of a WASI function: the YAML file a
// user writes ("name", "module", "limits", "routes", "cron", "scaling",
// "spend_limit", ...), its validation, its defaults, and its canonical JSON
// form, whose SHA-256 names a version of a deployment.
//
// It is vocabulary only. It does not read the module, upload it, talk to the
// ledger or run anything; the CLI and the compute runtime use the Spec it
// returns. The rules the chain applies (env, cron jobs, paths, body limits)
// are the chain's own, in package functions: fnspec calls them, so the file
// and the chain always agree. docs/functions.md describes the file for
// users.
package fnspec

import (
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

// Size units. Sizes are written with binary units only ("64MiB"): wasm
// memory comes in 64KiB pages, and "MB" would leave the reader guessing.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// Bounds and defaults. docs/functions.md repeats them; keep the two in step.
const (
	// WasmPage is the unit of wasm memory. Limits.Memory must be a multiple.
	WasmPage = 64 * KiB
	// MinMemory and MaxMemory bound Limits.Memory. 4GiB is all a wasm32
	// module can address.
	MinMemory = 1 * MiB
	MaxMemory = 4 * GiB

	MinTimeout = time.Millisecond
	MaxTimeout = 5 * time.Minute

	DefaultMaxRequest  = 1 * MiB
	DefaultMaxResponse = 16 * MiB
	// MinBodyLimit and MaxBodyLimit bound Limits.MaxRequest and
	// Limits.MaxResponse.
	MinBodyLimit = functions.MinBodyLimit
	MaxBodyLimit = functions.MaxBodyLimit

	// MaxReplicas caps Scaling.Max: every replica is a lease the ledger
	// opens, watches and settles, and 32 is far more than one deployment
	// needs to spread across providers.
	MaxReplicas = 32
	// MaxTargetConcurrency caps Scaling.TargetConcurrency.
	MaxTargetConcurrency = 10_000
	// MaxCooldown caps Scaling.Cooldown.
	MaxCooldown = 24 * time.Hour

	MaxNameLen   = 63
	MaxModuleLen = 1024

	// The env, cron, path and body rules are the chain's (package
	// functions); these repeat its bounds.
	MaxEnv         = functions.MaxEnv
	MaxEnvNameLen  = functions.MaxEnvNameLen
	MaxEnvValueLen = functions.MaxEnvValueLen
	MaxEnvTotal    = functions.MaxEnvTotal // names and values together

	MaxRoutes   = functions.MaxRoutes
	MaxRouteLen = functions.MaxPathLen

	MaxCron        = functions.MaxCron
	MaxCronBodyLen = functions.MaxCronBodyLen

	// MaxPayees matches the market's limit on a lease's split.
	MaxPayees = 8
	// TotalBps is what a split's shares add up to.
	TotalBps = 10_000

	// MaxSpecSize bounds the YAML file Parse accepts.
	MaxSpecSize = 1 * MiB
)

// Payee names for a split, besides did:key addresses. They match the
// market's: "provider" is each lease's provider, "treasury" the treasury.
const (
	PayeeProvider = "provider"
	PayeeTreasury = "treasury"
)

// Spec is a function's deployment spec. Parse returns one with every default
// filled in; Validate checks one built in code.
type Spec struct {
	// Name is a DNS-label-like name: 1..63 lowercase letters, digits and
	// '-', not starting or ending with '-'.
	Name string
	// Module is a local path ending in ".wasm", relative to the spec file's
	// folder (see ModulePath), or the ID of an object already in storage.
	Module string
	// Env is passed to every instance, next to the CGI variables the
	// runtime sets for each request.
	Env map[string]string
	// Limits bound each call.
	Limits Limits
	// Routes are the paths under the deployment's URL that reach the
	// function, in the order written. A trailing "/..." matches any rest.
	Routes []string
	// Cron lists scheduled calls.
	Cron []CronJob
	// Scaling is the autoscaling rule.
	Scaling Scaling
	// SpendLimit caps what the deployment may be charged in total, in ustr.
	SpendLimit money.Amount
	// Deposit is what deploy puts in escrow, in ustr. It defaults to
	// SpendLimit and cannot exceed it.
	Deposit money.Amount
	// Split divides each payment among payees; it defaults to all of it to
	// the provider that served the calls.
	Split []Payee
	// Reusable declares that one instance of the module can serve many
	// requests in turn. It is an opt-in the runtime may use to skip the
	// start-up of a fresh instance; it may still start one per request.
	Reusable bool
}

// Limits bound each call of a function.
type Limits struct {
	Memory      uint64        // bytes of linear memory, a multiple of WasmPage
	Timeout     time.Duration // wall time of one call
	MaxRequest  uint64        // bytes of request body
	MaxResponse uint64        // bytes of CGI output (headers and body)
}

// CronJob is a scheduled call: at each time Schedule names, the function is
// called with a POST to Path (a GET when Body is empty).
type CronJob struct {
	Schedule string // standard 5-field cron, or a descriptor such as @hourly
	Path     string
	Body     string
}

// Scaling is a deployment's autoscaling rule: the ledger keeps between Min
// and Max leases, adds one when concurrency per lease stays above
// TargetConcurrency, and removes one when it has stayed below for Cooldown.
type Scaling struct {
	Min               int
	Max               int
	TargetConcurrency int
	Cooldown          time.Duration
}

// Payee is one share of a payment: To is a did:key, "provider" or
// "treasury"; Bps is its share in basis points.
type Payee struct {
	To  string
	Bps uint64
}

// ModuleID returns the object ID Module names, and false when Module is a
// local path.
func (s *Spec) ModuleID() (storage.ID, bool) {
	if strings.HasSuffix(s.Module, ".wasm") {
		return storage.ID{}, false
	}
	id, err := storage.ParseID(s.Module)
	return id, err == nil
}

// ModulePath returns the file Module names, relative paths taken from
// specDir (the folder of the spec file), or "" when Module is an object ID.
func (s *Spec) ModulePath(specDir string) string {
	if !strings.HasSuffix(s.Module, ".wasm") {
		return ""
	}
	p := filepath.FromSlash(s.Module)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(specDir, p)
}

// The canonical form has the YAML field names and the YAML value syntax, so
// it is itself a valid spec file, and every default is written out.
type canonSpec struct {
	Name       string            `json:"name"`
	Module     string            `json:"module"`
	Env        map[string]string `json:"env"`
	Limits     canonLimits       `json:"limits"`
	Routes     []string          `json:"routes"`
	Cron       []canonCron       `json:"cron"`
	Scaling    canonScaling      `json:"scaling"`
	SpendLimit string            `json:"spend_limit"`
	Deposit    string            `json:"deposit"`
	Split      []canonPayee      `json:"split"`
	Reusable   bool              `json:"reusable"`
}

type canonLimits struct {
	Memory      string `json:"memory"`
	Timeout     string `json:"timeout"`
	MaxRequest  string `json:"max_request"`
	MaxResponse string `json:"max_response"`
}

type canonCron struct {
	Schedule string `json:"schedule"`
	Path     string `json:"path"`
	Body     string `json:"body"`
}

type canonScaling struct {
	Min               int    `json:"min"`
	Max               int    `json:"max"`
	TargetConcurrency int    `json:"target_concurrency"`
	Cooldown          string `json:"cooldown"`
}

type canonPayee struct {
	To  string `json:"to"`
	Bps uint64 `json:"bps"`
}

// Canonical returns the spec as compact JSON in a form that depends only on
// its values: fields in a fixed order, env sorted by name, empty lists and
// maps written as [] and {}, sizes in the largest binary unit that divides
// them ("64MiB"), durations as Go prints them ("1m0s"), amounts as
// money.Format prints them ("100STR"). The result parses back (JSON is
// YAML) to an equal Spec when the spec is valid.
func (s *Spec) Canonical() []byte {
	c := canonSpec{
		Name:   s.Name,
		Module: s.Module,
		Env:    map[string]string{},
		Limits: canonLimits{
			Memory:      FormatSize(s.Limits.Memory),
			Timeout:     s.Limits.Timeout.String(),
			MaxRequest:  FormatSize(s.Limits.MaxRequest),
			MaxResponse: FormatSize(s.Limits.MaxResponse),
		},
		Routes: append([]string{}, s.Routes...),
		Cron:   []canonCron{},
		Scaling: canonScaling{
			Min:               s.Scaling.Min,
			Max:               s.Scaling.Max,
			TargetConcurrency: s.Scaling.TargetConcurrency,
			Cooldown:          s.Scaling.Cooldown.String(),
		},
		SpendLimit: money.Format(s.SpendLimit),
		Deposit:    money.Format(s.Deposit),
		Split:      []canonPayee{},
		Reusable:   s.Reusable,
	}
	for k, v := range s.Env {
		c.Env[k] = v
	}
	for _, j := range s.Cron {
		c.Cron = append(c.Cron, canonCron(j))
	}
	for _, p := range s.Split {
		c.Split = append(c.Split, canonPayee(p))
	}
	// Marshal sorts map keys and cannot fail on these types.
	b, err := json.Marshal(c)
	if err != nil {
		panic("fnspec: canonical form: " + err.Error())
	}
	return b
}

// Hash returns the SHA-256 of Canonical: two specs have the same hash
// exactly when they deploy the same thing.
func (s *Spec) Hash() [32]byte { return sha256.Sum256(s.Canonical()) }

// MarshalJSON writes the canonical form, so the spec crosses the wire in the
// syntax users write.
func (s *Spec) MarshalJSON() ([]byte, error) { return s.Canonical(), nil }

// UnmarshalJSON reads a spec in the canonical form, or any JSON spec, as
// Parse does, and fails with Parse's errors.
func (s *Spec) UnmarshalJSON(b []byte) error {
	p, err := Parse(b)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}
