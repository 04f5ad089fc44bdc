package fnspec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

// Validate checks every field against its bounds and the rules between
// fields. It returns nil, or an error of kind Invalid wrapping Problems that
// lists every problem, each naming its field and saying what to write.
// It does not fill in defaults: a zero Deposit or MaxRequest is an error.
func (s *Spec) Validate() error { return s.validate().err() }

// ValidateEnv checks a deployment's environment as Validate does. The
// ledger calls it on the env it is sent, so the chain and the file agree.
// It returns nil, or an error of kind Invalid wrapping Problems.
func ValidateEnv(env map[string]string) error {
	var ps Problems
	checkEnv(&ps, env)
	return ps.err()
}

// ValidateCron checks cron jobs as Validate does (schedule, path and body of
// each, and no two the same). It returns nil, or an error of kind Invalid
// wrapping Problems.
func ValidateCron(jobs []CronJob) error {
	var ps Problems
	checkCron(&ps, jobs)
	return ps.err()
}

// ValidateBodyLimit checks a request or response body limit (field names
// it in the error) as Validate does: 1KiB to 64MiB.
func ValidateBodyLimit(field string, n uint64) error {
	var ps Problems
	checkBody(&ps, field, n, 0)
	return ps.err()
}

func (s *Spec) validate() Problems {
	var ps Problems
	checkName(&ps, s.Name)
	checkModule(&ps, s.Module)
	checkEnv(&ps, s.Env)
	checkLimits(&ps, s.Limits)
	checkRoutes(&ps, s.Routes)
	checkCron(&ps, s.Cron)
	if len(s.Routes) == 0 && len(s.Cron) == 0 {
		ps.add("routes", `a function needs at least one route or cron job: write e.g. routes: ["/"]`)
	}
	checkScaling(&ps, s.Scaling)
	if s.SpendLimit == 0 {
		ps.add("spend_limit", "must be more than 0: write e.g. spend_limit: 100STR")
	}
	switch {
	case s.Deposit == 0:
		ps.add("deposit", "must be more than 0: leave it out to deposit the spend limit")
	case s.SpendLimit > 0 && s.Deposit > s.SpendLimit:
		ps.add("deposit", "%s is above spend_limit (%s), and a deposit above the spend limit can never be spent: set deposit to at most %s",
			money.Format(s.Deposit), money.Format(s.SpendLimit), money.Format(s.SpendLimit))
	}
	checkSplit(&ps, s.Split)
	return ps
}

func checkName(ps *Problems, name string) {
	const fix = "use 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. echo or image-resize"
	switch {
	case name == "":
		ps.add("name", "is missing: write e.g. name: echo")
		return
	case len(name) > MaxNameLen:
		ps.add("name", "%.20q... is %d characters long: %s", name, len(name), fix)
		return
	case name[0] == '-' || name[len(name)-1] == '-':
		ps.add("name", "%q starts or ends with '-': %s", name, fix)
		return
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			ps.add("name", "%q has %s: %s", name, describeByte(name, i), fix)
			return
		}
	}
}

func describeByte(s string, i int) string {
	r, _ := utf8.DecodeRuneInString(s[i:])
	if r >= 'A' && r <= 'Z' {
		return "an upper-case letter"
	}
	return fmt.Sprintf("the character %q", r)
}

func checkModule(ps *Problems, m string) {
	const fix = "write a .wasm path relative to the spec file, e.g. ./echo.wasm, or the ID of an object from `stratus store put`"
	switch {
	case m == "":
		ps.add("module", "is missing: %s", fix)
	case len(m) > MaxModuleLen:
		ps.add("module", "%.20q... is %d bytes long: the limit is %d", m, len(m), MaxModuleLen)
	case strings.HasSuffix(m, ".wasm"):
		if bad, ok := badText(m, false); !ok {
			ps.add("module", "%q contains %s: rename the file", m, bad)
		} else if m == ".wasm" || strings.HasSuffix(m, "/.wasm") {
			ps.add("module", "%q has no file name before .wasm: %s", m, fix)
		}
	default:
		if _, err := storage.ParseID(m); err != nil {
			if strings.HasPrefix(m, "baf") && !strings.ContainsAny(m, "./") {
				ps.add("module", "%v: copy the ID that `stratus store put` printed, or write a .wasm path", err)
			} else {
				ps.add("module", "%q is neither a .wasm file nor an object ID: %s", m, fix)
			}
		}
	}
}

// reservedEnv are the names the runtime sets for each request (RFC 3875's
// meta-variables and WAGI's additions); a spec cannot set them.
var reservedEnv = map[string]bool{
	"AUTH_TYPE": true, "CONTENT_LENGTH": true, "CONTENT_TYPE": true, "GATEWAY_INTERFACE": true,
	"PATH_INFO": true, "PATH_TRANSLATED": true, "QUERY_STRING": true, "REMOTE_ADDR": true,
	"REMOTE_HOST": true, "REMOTE_IDENT": true, "REMOTE_USER": true, "REQUEST_METHOD": true,
	"SCRIPT_NAME": true, "SERVER_NAME": true, "SERVER_PORT": true, "SERVER_PROTOCOL": true,
	"SERVER_SOFTWARE": true, "X_MATCHED_ROUTE": true, "X_FULL_URL": true, "X_RAW_PATH_INFO": true,
	"X_RELATIVE_PATH": true, "X_BASE_PATH": true,
}

// reservedEnvPrefixes are likewise the runtime's: HTTP_ carries request
// headers, STRATUS_ is kept for the runtime to describe the deployment.
var reservedEnvPrefixes = []string{"HTTP_", "STRATUS_"}

func checkEnv(ps *Problems, env map[string]string) {
	if len(env) > MaxEnv {
		ps.add("env", "has %d variables: the limit is %d", len(env), MaxEnv)
		return
	}
	names := make([]string, 0, len(env))
	total := 0
	for k, v := range env {
		names = append(names, k)
		total += len(k) + len(v)
	}
	sort.Strings(names)
	for _, k := range names {
		v := env[k]
		path := "env." + k
		switch {
		case k == "":
			ps.add("env", "has a variable with an empty name: give it a name such as LOG_LEVEL")
		case len(k) > MaxEnvNameLen:
			ps.add("env", "variable %.20q... has a name of %d bytes: the limit is %d", k, len(k), MaxEnvNameLen)
		case !envName(k):
			ps.add(path, "%q is not a variable name: use letters, digits and '_', not starting with a digit, e.g. LOG_LEVEL", k)
		case reservedEnv[k] || hasReservedPrefix(k):
			ps.add(path, "is set by the runtime for each request: choose another name")
		case len(v) > MaxEnvValueLen:
			ps.add(path, "the value is %d bytes: the limit is %d (put larger data in the module or in storage)", len(v), MaxEnvValueLen)
		default:
			if bad, ok := badText(v, false); !ok {
				ps.add(path, "the value contains %s: environment values are one line of printable text", bad)
			}
		}
	}
	if total > MaxEnvTotal {
		ps.add("env", "names and values add up to %d bytes: the limit is %d", total, MaxEnvTotal)
	}
}

func hasReservedPrefix(k string) bool {
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func envName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return k != ""
}

// badText reports the first character of s that has no place in a spec's
// free text: invalid UTF-8, control characters (tab, and newlines when
// multiline, excepted), and the non-characters YAML refuses. Keeping them
// out is also what lets the canonical form parse back.
func badText(s string, multiline bool) (string, bool) {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && len(s[i:]) > 0:
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return "invalid UTF-8", false
			}
		case r == '\t', multiline && (r == '\n' || r == '\r'):
		case unicode.IsControl(r):
			return fmt.Sprintf("the control character %U", r), false
		case r == 0xFEFF || r == 0xFFFE || r == 0xFFFF:
			return fmt.Sprintf("the non-character %U", r), false
		}
	}
	return "", true
}

func checkLimits(ps *Problems, l Limits) {
	switch {
	case l.Memory < MinMemory || l.Memory > MaxMemory:
		ps.add("limits.memory", "%s is out of range: write a size from 1MiB to 4GiB, e.g. 64MiB", FormatSize(l.Memory))
	case l.Memory%WasmPage != 0:
		up := (l.Memory/WasmPage + 1) * WasmPage
		ps.add("limits.memory", "%s is not a whole number of 64KiB wasm pages: write %s", FormatSize(l.Memory), FormatSize(up))
	}
	if l.Timeout < MinTimeout || l.Timeout > MaxTimeout {
		ps.add("limits.timeout", "%s is out of range: write a duration from 1ms to 5m, e.g. 5s", l.Timeout)
	}
	checkBody(ps, "limits.max_request", l.MaxRequest, DefaultMaxRequest)
	checkBody(ps, "limits.max_response", l.MaxResponse, DefaultMaxResponse)
}

func checkBody(ps *Problems, path string, n, def uint64) {
	switch {
	case n >= MinBodyLimit && n <= MaxBodyLimit:
	case def == 0:
		ps.add(path, "%s is out of range: write a size from 1KiB to 64MiB", FormatSize(n))
	default:
		ps.add(path, "%s is out of range: write a size from 1KiB to 64MiB, or leave it out for %s", FormatSize(n), FormatSize(def))
	}
}

func checkRoutes(ps *Problems, routes []string) {
	if len(routes) > MaxRoutes {
		ps.add("routes", "has %d routes: the limit is %d (use a wildcard such as /api/...)", len(routes), MaxRoutes)
		return
	}
	seen := map[string]int{}
	for i, r := range routes {
		path := fmt.Sprintf("routes[%d]", i)
		if msg := checkPath(r, true); msg != "" {
			ps.add(path, "%s", msg)
			continue
		}
		if j, dup := seen[r]; dup {
			ps.add(path, "%q is also routes[%d]: remove one", r, j)
			continue
		}
		seen[r] = i
	}
}

// checkPath checks a route (wildcard true) or a cron path and returns what is
// wrong, or "".
func checkPath(p string, wildcard bool) string {
	example := `"/", "/hello" or "/api/..."`
	if !wildcard {
		example = `"/tick"`
	}
	switch {
	case p == "":
		return "is empty: write a path such as " + example
	case len(p) > MaxRouteLen:
		return fmt.Sprintf("%.20q... is %d bytes long: the limit is %d", p, len(p), MaxRouteLen)
	case p[0] != '/':
		return fmt.Sprintf("%q does not start with '/': write e.g. %q", p, "/"+p)
	}
	rest := p
	if wildcard && strings.HasSuffix(p, "/...") {
		rest = strings.TrimSuffix(p, "...")
	}
	for i := 0; i < len(rest); i++ {
		if !pathByte(rest[i]) {
			return fmt.Sprintf("%q has %s: a path uses letters, digits and -._~!$&'()*+,;=:@/ (a wildcard is a trailing /...)", p, describeByte(rest, i))
		}
	}
	for _, seg := range strings.Split(rest[1:], "/") {
		switch seg {
		case ".", "..":
			return fmt.Sprintf("%q has a %q segment: write the path without it", p, seg)
		case "...":
			if wildcard {
				return fmt.Sprintf("%q has \"...\" before its end: a wildcard can only end a route, e.g. /api/...", p)
			}
			return fmt.Sprintf("%q has a wildcard: a cron job calls one path, e.g. /tick", p)
		}
	}
	if strings.Contains(rest, "//") {
		return fmt.Sprintf("%q has an empty segment (//): write the path without it", p)
	}
	return ""
}

// pathByte reports whether c may appear in a path: RFC 3986's pchar without
// percent-encoding, and '/'.
func pathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// minCronEvery is the shortest @every interval: cron runs on block time, and
// standard schedules cannot fire more often than once a minute either.
const minCronEvery = time.Minute

func checkCron(ps *Problems, jobs []CronJob) {
	if len(jobs) > MaxCron {
		ps.add("cron", "has %d jobs: the limit is %d", len(jobs), MaxCron)
		return
	}
	seen := map[CronJob]int{}
	for i, j := range jobs {
		path := fmt.Sprintf("cron[%d]", i)
		if msg := checkSchedule(j.Schedule); msg != "" {
			ps.add(path+".schedule", "%s", msg)
		}
		if j.Path == "" {
			ps.add(path+".path", `is missing: write the path the job calls, e.g. path: /tick`)
		} else if msg := checkPath(j.Path, false); msg != "" {
			ps.add(path+".path", "%s", msg)
		}
		if len(j.Body) > MaxCronBodyLen {
			ps.add(path+".body", "is %d bytes: the limit is %d", len(j.Body), MaxCronBodyLen)
		} else if bad, ok := badText(j.Body, true); !ok {
			ps.add(path+".body", "contains %s: a body is text", bad)
		}
		if k, dup := seen[j]; dup {
			ps.add(path, "is the same job as cron[%d]: remove one", k)
		} else {
			seen[j] = i
		}
	}
}

func checkSchedule(s string) string {
	const fix = `write five fields (minute hour day-of-month month day-of-week), e.g. "*/5 * * * *", or @hourly, @daily, @every 10m`
	switch {
	case strings.TrimSpace(s) == "":
		return "is missing: " + fix
	case len(s) > 128:
		return fmt.Sprintf("%.20q... is too long: %s", s, fix)
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return fmt.Sprintf("%q names a time zone: schedules run in UTC on block time; remove the prefix", s)
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return fmt.Sprintf("%q is not a cron schedule (%v): %s", s, err, fix)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < minCronEvery {
		return fmt.Sprintf("%q is more often than once a minute: write @every 1m or longer", s)
	}
	return ""
}

func checkScaling(ps *Problems, sc Scaling) {
	if sc.Min < 1 || sc.Min > MaxReplicas {
		ps.add("scaling.min", "%d is out of range: write a number of replicas from 1 to %d", sc.Min, MaxReplicas)
	}
	switch {
	case sc.Max < 1 || sc.Max > MaxReplicas:
		ps.add("scaling.max", "%d is out of range: write a number of replicas from 1 to %d", sc.Max, MaxReplicas)
	case sc.Min >= 1 && sc.Max < sc.Min:
		ps.add("scaling.max", "%d is below scaling.min (%d): set max to at least min", sc.Max, sc.Min)
	}
	if sc.TargetConcurrency < 1 || sc.TargetConcurrency > MaxTargetConcurrency {
		ps.add("scaling.target_concurrency", "%d is out of range: write the concurrent calls one replica should carry, from 1 to %d, e.g. 8", sc.TargetConcurrency, MaxTargetConcurrency)
	}
	if sc.Cooldown < 0 || sc.Cooldown > MaxCooldown {
		ps.add("scaling.cooldown", "%s is out of range: write a duration from 0s to 24h, e.g. 60s", sc.Cooldown)
	}
}

func checkSplit(ps *Problems, split []Payee) {
	if len(split) == 0 {
		ps.add("split", "is empty: leave it out to pay everything to the provider, or list payees, e.g. [{to: provider, bps: 10000}]")
		return
	}
	if len(split) > MaxPayees {
		ps.add("split", "has %d payees: the limit is %d", len(split), MaxPayees)
		return
	}
	var sum uint64
	seen := map[string]int{}
	bad := false
	for i, p := range split {
		path := fmt.Sprintf("split[%d]", i)
		switch {
		case p.To == "":
			ps.add(path+".to", "is missing: write provider, treasury or a did:key address")
			bad = true
		case p.To != PayeeProvider && p.To != PayeeTreasury:
			if !strings.HasPrefix(p.To, "did:") {
				ps.add(path+".to", "%q is not a payee: write provider, treasury or a did:key address (see `stratus keys list`)", p.To)
				bad = true
			} else if _, err := identity.ParseDID(p.To); err != nil {
				ps.add(path+".to", "%v", err)
				bad = true
			}
		}
		if j, dup := seen[p.To]; dup && p.To != "" {
			ps.add(path+".to", "%s is also split[%d]: merge the two shares", p.To, j)
			bad = true
		} else {
			seen[p.To] = i
		}
		if p.Bps == 0 || p.Bps > TotalBps {
			ps.add(path+".bps", "%d is out of range: write a share from 1 to 10000 basis points (10000 is 100%%)", p.Bps)
			bad = true
		}
		sum += p.Bps
	}
	if !bad && sum != TotalBps {
		ps.add("split", "the shares add up to %s bps: they must add up to 10000 (100%%)", strconv.FormatUint(sum, 10))
	}
}
