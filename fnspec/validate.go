package fnspec

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
)

// Validate checks every field against its bounds and the rules between
// fields. It returns nil, or an error of kind Invalid wrapping Problems that
// lists every problem, each naming its field and saying what to write.
// It does not fill in defaults: a zero Deposit or MaxRequest is an error.
func (s *Spec) Validate() error { return s.validate().err() }

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

// checkEnv applies the chain's rules (functions.CheckEnv).
func checkEnv(ps *Problems, env map[string]string) {
	for _, v := range functions.CheckEnv(env) {
		ps.add(v.Field, "%s", v.Msg)
	}
}

// badText reports the first character of s that has no place in a spec's
// free text (functions.BadText, the chain's rule), and false; or "", true.
func badText(s string, multiline bool) (string, bool) {
	bad := functions.BadText(s, multiline)
	return bad, bad == ""
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
	msg := functions.CheckBodyLimit(n)
	switch {
	case msg == "":
	case def == 0:
		ps.add(path, "%s", msg)
	default:
		ps.add(path, "%s, or leave it out for %s", msg, FormatSize(def))
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

// checkPath checks a route (wildcard true) or a cron path by the chain's
// rule (functions.CheckPath) and returns what is wrong, or "".
func checkPath(p string, wildcard bool) string { return functions.CheckPath(p, wildcard) }

// checkCron applies the chain's rules to the jobs (functions.CheckCron):
// their number, schedules, paths and bodies.
func checkCron(ps *Problems, jobs []CronJob) {
	cj := make([]functions.CronJob, len(jobs))
	for i, j := range jobs {
		cj[i] = functions.CronJob{Schedule: j.Schedule, Path: j.Path, Body: j.Body}
	}
	for _, v := range functions.CheckCron(cj) {
		ps.add(v.Field, "%s", v.Msg)
	}
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
