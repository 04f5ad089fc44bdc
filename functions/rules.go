package functions

import (
	"fmt"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/stratus-cloud/stratus/errs"
)

// The rules the chain applies to a spec's env, cron jobs, paths and body
// limits. They are the chain's: package fnspec (the spec file) calls them,
// so a change to the CLI's parser cannot change what validators accept.

// Bounds of the rules below. fnspec and docs/functions.md repeat them from
// here.
const (
	MaxEnv         = 64
	MaxEnvNameLen  = 128
	MaxEnvValueLen = 4 << 10
	MaxEnvTotal    = 32 << 10 // names and values together

	// MaxCron is the jobs of one deployment; MaxCronBodyLen bounds each
	// job's body and MaxCronBodies all of them together, since the ledger
	// keeps them in the deployment's spec.
	MaxCron          = maxCron
	MaxCronBodyLen   = 64 << 10
	MaxCronBodies    = maxCronBodies
	MaxCronSchedule  = maxCronSpec
	MaxPathLen       = maxRoute
	MaxRoutes        = maxRoutes
	MinBodyLimit     = 1 << 10
	MaxBodyLimit     = 64 << 20
	MinCronEvery     = minCronInterval
	MaxCronEvery     = 366 * 24 * time.Hour
	cronLookaheadDay = 2 * 366
)

// GasPerCronJob is the gas a deploy or update pays for each cron job it
// validates and schedules: parsing at most 128 bytes, the year check (12
// months × 31 days of bit tests) and one Next (at most 732 day steps of
// bit tests), a few microseconds in all, priced like reading about 2 KB of
// state.
const GasPerCronJob = 2_000

// Violation is one rule of a spec broken: its field (a path such as
// "env.LOG_LEVEL" or "cron[1].schedule") and what is wrong, with what to
// write instead.
type Violation struct {
	Field string
	Msg   string
}

func (v Violation) Error() string {
	if v.Field == "" {
		return v.Msg
	}
	return v.Field + ": " + v.Msg
}

func violate(vs *[]Violation, field, format string, args ...any) {
	*vs = append(*vs, Violation{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// reservedEnv are the names the runtime sets for each request (RFC 3875's
// meta-variables and WAGI's additions); a spec cannot set them.
var reservedEnv = map[string]bool{
	"AUTH_TYPE": true, "CONTENT_LENGTH": true, "CONTENT_TYPE": true, "GATEWAY_INTERFACE": true,
	"PATH_INFO": true, "PATH_TRANSLATED": true, "QUERY_STRING": true, "REMOTE_ADDR": true,
	"REMOTE_HOST": true, "REMOTE_IDENT": true, "REMOTE_USER": true, "REQUEST_METHOD": true,
	"SERVER_NAME": true, "SERVER_PORT": true, "SERVER_PROTOCOL": true, "SCRIPT_NAME": true,
	"SERVER_SOFTWARE": true, "X_MATCHED_ROUTE": true, "X_FULL_URL": true, "X_RAW_PATH_INFO": true,
	"X_RELATIVE_PATH": true, "X_BASE_PATH": true,
}

// reservedEnvPrefixes are likewise the runtime's: HTTP_ carries request
// headers, STRATUS_ is kept for the runtime to describe the deployment.
var reservedEnvPrefixes = []string{"HTTP_", "STRATUS_"}

// CheckEnv returns what is wrong with a deployment's environment, in name
// order, or nothing.
func CheckEnv(env map[string]string) []Violation {
	var vs []Violation
	if len(env) > MaxEnv {
		violate(&vs, "env", "has %d variables: the limit is %d", len(env), MaxEnv)
		return vs
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
			violate(&vs, "env", "has a variable with an empty name: give it a name such as LOG_LEVEL")
		case len(k) > MaxEnvNameLen:
			violate(&vs, "env", "variable %.20q... has a name of %d bytes: the limit is %d", k, len(k), MaxEnvNameLen)
		case !envName(k):
			violate(&vs, path, "%q is not a variable name: use letters, digits and '_', not starting with a digit, e.g. LOG_LEVEL", k)
		case reservedEnv[k] || hasReservedPrefix(k):
			violate(&vs, path, "is set by the runtime for each request: choose another name")
		case len(v) > MaxEnvValueLen:
			violate(&vs, path, "the value is %d bytes: the limit is %d (put larger data in the module or in storage)", len(v), MaxEnvValueLen)
		default:
			if bad := BadText(v, false); bad != "" {
				violate(&vs, path, "the value contains %s: environment values are one line of printable text", bad)
			}
		}
	}
	if total > MaxEnvTotal {
		violate(&vs, "env", "names and values add up to %d bytes: the limit is %d", total, MaxEnvTotal)
	}
	return vs
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

// BadText returns the first character of s that has no place in a spec's
// free text, described ("the control character U+0000"), or "": invalid
// UTF-8, control characters (tab, and newlines when multiline, excepted),
// and the non-characters YAML refuses.
func BadText(s string, multiline bool) string {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return "invalid UTF-8"
			}
		case r == '\t', multiline && (r == '\n' || r == '\r'):
		case unicode.IsControl(r):
			return fmt.Sprintf("the control character %U", r)
		case r == 0xFEFF || r == 0xFFFE || r == 0xFFFF:
			return fmt.Sprintf("the non-character %U", r)
		}
	}
	return ""
}

// CheckBodyLimit returns what is wrong with a request or response body
// limit of n bytes, or "": it must be 1KiB to 64MiB.
func CheckBodyLimit(n uint64) string {
	if n >= MinBodyLimit && n <= MaxBodyLimit {
		return ""
	}
	return formatSize(n) + " is out of range: write a size from 1KiB to 64MiB"
}

func formatSize(n uint64) string {
	for _, u := range []struct {
		name string
		mult uint64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatUint(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}

// CheckPath returns what is wrong with a route (wildcard true: it may end
// in "/...") or a cron job's path, or "".
func CheckPath(p string, wildcard bool) string {
	example := `"/", "/hello" or "/api/..."`
	if !wildcard {
		example = `"/tick"`
	}
	switch {
	case p == "":
		return "is empty: write a path such as " + example
	case len(p) > MaxPathLen:
		return fmt.Sprintf("%.20q... is %d bytes long: the limit is %d", p, len(p), MaxPathLen)
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

func describeByte(s string, i int) string {
	r, _ := utf8.DecodeRuneInString(s[i:])
	if r >= 'A' && r <= 'Z' {
		return "an upper-case letter"
	}
	return fmt.Sprintf("the character %q", r)
}

// pathByte reports whether c may appear in a path: RFC 3986's pchar without
// percent-encoding, and '/'.
func pathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

// CheckCron returns what is wrong with a deployment's cron jobs: their
// number, each job's schedule (ParseSchedule), path and body, two jobs the
// same, and the bodies' total size.
func CheckCron(jobs []CronJob) []Violation {
	var vs []Violation
	if len(jobs) > MaxCron {
		violate(&vs, "cron", "has %d jobs: the limit is %d", len(jobs), MaxCron)
		return vs
	}
	seen := map[CronJob]int{}
	bodies := 0
	for i, j := range jobs {
		path := fmt.Sprintf("cron[%d]", i)
		if _, err := ParseSchedule(j.Schedule); err != nil {
			violate(&vs, path+".schedule", "%s", err.Error())
		}
		if j.Path == "" {
			violate(&vs, path+".path", `is missing: write the path the job calls, e.g. path: /tick`)
		} else if msg := CheckPath(j.Path, false); msg != "" {
			violate(&vs, path+".path", "%s", msg)
		}
		bodies += len(j.Body)
		if len(j.Body) > MaxCronBodyLen {
			violate(&vs, path+".body", "is %d bytes: the limit is %d", len(j.Body), MaxCronBodyLen)
		} else if bad := BadText(j.Body, true); bad != "" {
			violate(&vs, path+".body", "contains %s: a body is text", bad)
		}
		if k, dup := seen[j]; dup {
			violate(&vs, path, "is the same job as cron[%d]: remove one", k)
		} else {
			seen[j] = i
		}
	}
	if bodies > MaxCronBodies {
		violate(&vs, "cron", "the bodies add up to %d bytes; the chain keeps at most %d (put larger data in storage)", bodies, MaxCronBodies)
	}
	return vs
}

// Schedule is a parsed cron schedule, in UTC: robfig/cron's bit sets of a
// 5-field schedule (its descriptors included), or the interval of
// "@every". Its Next takes bounded time whatever the schedule.
type Schedule struct {
	every                         time.Duration
	minute, hour, dom, month, dow uint64
}

const (
	starBit = 1 << 63
	// Bits of the values each field can take.
	allMinutes = 1<<60 - 1
	allHours   = 1<<24 - 1
	allDoms    = (1<<32 - 1) &^ 1
	allMonths  = (1<<13 - 1) &^ 1
	allDows    = 1<<7 - 1
)

// shortestDays is each month's length in its shortest year: a schedule
// must run in every year, so February has 28 days here.
var shortestDays = [13]uint{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

const scheduleFix = `write five fields (minute hour day-of-month month day-of-week), e.g. "*/5 * * * *", or @hourly, @daily, @every 10m`

// ParseSchedule parses a cron schedule as the chain runs it: robfig/cron's
// standard syntax (5 fields, or a descriptor such as @hourly or @every 5m),
// in UTC. It refuses a time zone prefix (it would read the node's time
// zone database), a schedule that runs more often than once a minute, and
// one that does not run at least once in every year (an empty field, or a
// date such as 31 February or 29 February alone). It takes bounded time
// whatever its input, a few microseconds: the string is at most 128 bytes
// and the year check tests at most 12 × 31 bits. Errors are of kind
// Invalid.
func ParseSchedule(spec string) (Schedule, error) {
	switch {
	case strings.TrimSpace(spec) == "":
		return Schedule{}, errs.E(errs.Invalid, "is missing: %s", scheduleFix)
	case len(spec) > MaxCronSchedule:
		return Schedule{}, errs.E(errs.Invalid, "%.20q... is too long (at most %d bytes): %s", spec, MaxCronSchedule, scheduleFix)
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return Schedule{}, errs.E(errs.Invalid, "%q names a time zone: schedules run in UTC on block time; remove the prefix", spec)
	}
	sch, err := cron.ParseStandard(spec)
	if err != nil {
		return Schedule{}, errs.E(errs.Invalid, "%q is not a cron schedule (%v): %s", spec, err, scheduleFix)
	}
	switch s := sch.(type) {
	case cron.ConstantDelaySchedule:
		if s.Delay < MinCronEvery {
			return Schedule{}, errs.E(errs.Invalid, "%q is more often than once a minute: write @every 1m or longer", spec)
		}
		if s.Delay > MaxCronEvery {
			return Schedule{}, errs.E(errs.Invalid, "%q runs less than once a year: write @every 8784h (366 days) or shorter", spec)
		}
		return Schedule{every: s.Delay}, nil
	case *cron.SpecSchedule:
		out := Schedule{minute: s.Minute, hour: s.Hour, dom: s.Dom, month: s.Month, dow: s.Dow}
		if s.Second != 1 {
			return Schedule{}, errs.E(errs.Invalid, "%q has a seconds field: %s", spec, scheduleFix)
		}
		if why := out.never(); why != "" {
			return Schedule{}, errs.E(errs.Invalid, "%q never runs: %s; a schedule must run at least once a year", spec, why)
		}
		return out, nil
	}
	return Schedule{}, errs.E(errs.Invalid, "%q is not a cron schedule: %s", spec, scheduleFix)
}

// never says why s has no run in some year, or "" when it runs in every
// year. robfig/cron matches a day when day-of-month and day-of-week both
// match if either field has a '*', and when either matches otherwise.
func (s Schedule) never() string {
	switch {
	case s.minute&allMinutes == 0:
		return "its minute field is empty"
	case s.hour&allHours == 0:
		return "its hour field is empty"
	case s.dom&allDoms == 0:
		return "its day-of-month field is empty"
	case s.month&allMonths == 0:
		return "its month field is empty"
	case s.dow&allDows == 0:
		return "its day-of-week field is empty"
	}
	// Every month of every year has every weekday.
	dowAny := s.dow&allDows != 0
	domFits := false
	for m := uint(1); m <= 12; m++ {
		if s.month&(1<<m) != 0 && s.dom&(1<<(shortestDays[m]+1)-1)&allDoms != 0 {
			domFits = true
			break
		}
	}
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		// Both must match: a day-of-week '*' leaves the day of month to
		// fit; a day-of-month '*' fits every day, leaving the weekday.
		if s.dow&starBit != 0 && !domFits {
			return "no month it names has the day of the month it names in every year"
		}
		if !dowAny {
			return "no weekday"
		}
		return ""
	}
	if domFits || dowAny {
		return ""
	}
	return "no month it names has the day of the month it names in every year"
}

// Next returns the schedule's first run strictly after t, in UTC, or the
// zero time when it has none within two years (only a schedule stored
// before ParseSchedule refused such ones). It takes at most 732 steps of
// one day.
func (s Schedule) Next(t time.Time) time.Time {
	t = t.UTC()
	if s.every > 0 {
		// As robfig/cron: whole seconds after t.
		return t.Add(s.every - time.Duration(t.Nanosecond())*time.Nanosecond)
	}
	// Runs are at second 0 of a minute, strictly after t.
	start := t.Truncate(time.Minute).Add(time.Minute)
	day := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < cronLookaheadDay; i, day = i+1, day.AddDate(0, 0, 1) {
		if s.month&(1<<uint(day.Month())) == 0 || !s.dayMatches(day) {
			continue
		}
		h0, m0 := 0, 0
		if i == 0 {
			h0, m0 = start.Hour(), start.Minute()
		}
		for h := nextBit(s.hour&allHours, h0); h >= 0; h = nextBit(s.hour&allHours, h+1) {
			from := 0
			if h == h0 {
				from = m0
			}
			if m := nextBit(s.minute&allMinutes, from); m >= 0 {
				return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
			}
		}
	}
	return time.Time{}
}

// dayMatches is robfig/cron's rule for the day fields.
func (s Schedule) dayMatches(day time.Time) bool {
	domMatch := s.dom&(1<<uint(day.Day())) != 0
	dowMatch := s.dow&(1<<uint(day.Weekday())) != 0
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// nextBit returns the lowest set bit of set at or above from, or -1.
func nextBit(set uint64, from int) int {
	if from >= 64 {
		return -1
	}
	rest := set >> uint(from) << uint(from)
	if rest == 0 {
		return -1
	}
	return bits.TrailingZeros64(rest)
}
