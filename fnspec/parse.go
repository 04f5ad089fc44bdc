package fnspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/money"
)

// Parse reads a spec from YAML (or JSON, such as Canonical's output), fills
// in the defaults and validates it. Unknown fields are errors. It fails with
// kind Invalid: for a YAML syntax error with its line, otherwise with
// Problems listing every problem with its line and field path.
func Parse(b []byte) (*Spec, error) {
	if len(b) > MaxSpecSize {
		return nil, errs.E(errs.Invalid, "the spec is %d bytes: the limit is %d; keep data out of env and cron bodies", len(b), MaxSpecSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, syntaxError(err)
		}
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Kind == yaml.ScalarNode && root.Content[0].ShortTag() == "!!null" {
		return nil, errs.E(errs.Invalid, "the spec is empty: start from the smallest spec in docs/functions.md")
	}
	if top := root.Content[0]; top.Kind != yaml.MappingNode {
		return nil, errs.E(errs.Invalid, "line %d: the spec is a %s: it must be a mapping of fields, e.g. name: echo", top.Line, kindName(top.Kind))
	}
	lines := map[string]int{}
	recordLines(root.Content[0], "", lines)

	var ps Problems
	var raw rawSpec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, syntaxError(err)
		}
		for _, msg := range te.Errors {
			ps = append(ps, typeProblem(msg))
		}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		ps = append(ps, Problem{Line: next.Line, Msg: "the file holds more than one YAML document (---): keep one spec per file"})
	}

	s := raw.convert(&ps)
	// A deposit left out is the spend limit; if that is wrong, say so once.
	depositFromLimit := !raw.Deposit.set && ps.covers("spend_limit")
	for _, p := range s.validate() {
		if !ps.covers(p.Path) && !(depositFromLimit && p.Path == "deposit") {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		for i := range ps {
			if ps[i].Line == 0 {
				ps[i].Line = lineOf(lines, ps[i].Path)
			}
		}
		// Problems without a line (fields missing at the top) go last.
		sort.SliceStable(ps, func(i, j int) bool {
			li, lj := ps[i].Line, ps[j].Line
			return li != 0 && (lj == 0 || li < lj)
		})
		return nil, ps.err()
	}
	return s, nil
}

// parserErrors are the messages of go-yaml's parser (not its scanner). It
// prints their lines counted from 0, where it counts every other line from
// 1; syntaxError adds the 1.
var parserErrors = map[string]bool{
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxError reports a YAML syntax error with its line, counted from 1.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := reLine.FindStringSubmatch(msg); m != nil && parserErrors[m[2]] {
		n, _ := strconv.Atoi(m[1])
		msg = fmt.Sprintf("line %d: %s", n+1, m[2])
	} else if parserErrors[msg] {
		msg = "line 1: " + msg
	}
	return errs.E(errs.Invalid, "the spec is not valid YAML: %s", msg)
}

type rawSpec struct {
	Name       scalar            `yaml:"name"`
	Module     scalar            `yaml:"module"`
	Env        map[string]scalar `yaml:"env"`
	Limits     rawLimits         `yaml:"limits"`
	Routes     []scalar          `yaml:"routes"`
	Cron       []rawCron         `yaml:"cron"`
	Scaling    rawScaling        `yaml:"scaling"`
	SpendLimit scalar            `yaml:"spend_limit"`
	Deposit    scalar            `yaml:"deposit"`
	Split      []rawPayee        `yaml:"split"`
	Reusable   scalar            `yaml:"reusable"`
}

type rawLimits struct {
	Memory      scalar `yaml:"memory"`
	Timeout     scalar `yaml:"timeout"`
	MaxRequest  scalar `yaml:"max_request"`
	MaxResponse scalar `yaml:"max_response"`
}

type rawCron struct {
	Schedule scalar `yaml:"schedule"`
	Path     scalar `yaml:"path"`
	Body     scalar `yaml:"body"`
}

type rawScaling struct {
	Min               scalar `yaml:"min"`
	Max               scalar `yaml:"max"`
	TargetConcurrency scalar `yaml:"target_concurrency"`
	Cooldown          scalar `yaml:"cooldown"`
}

type rawPayee struct {
	To  scalar `yaml:"to"`
	Bps scalar `yaml:"bps"`
}

// scalar keeps a YAML value as written, whatever its type, so that the
// conversion below can say which field is wrong and how (the YAML decoder's
// own type errors name Go types). A null leaves it unset.
type scalar struct {
	set   bool
	kind  yaml.Kind
	tag   string
	value string
}

func (s *scalar) UnmarshalYAML(n *yaml.Node) error {
	*s = scalar{set: true, kind: n.Kind, tag: n.ShortTag(), value: n.Value}
	return nil
}

// text returns the value as a string, or false after recording a problem
// when it is a list or a mapping. An unset value is "".
func (s scalar) text(ps *Problems, path string) (string, bool) {
	if !s.set {
		return "", true
	}
	if s.kind != yaml.ScalarNode {
		ps.add(path, "is a %s: write a single value", kindName(s.kind))
		return "", false
	}
	return s.value, true
}

// required returns the text of a value that must be present.
func (s scalar) required(ps *Problems, path, example string) (string, bool) {
	if !s.set {
		ps.add(path, "is missing: write e.g. %s", example)
		return "", false
	}
	return s.text(ps, path)
}

func (raw *rawSpec) convert(ps *Problems) *Spec {
	s := &Spec{Env: map[string]string{}, Routes: []string{}, Cron: []CronJob{}}
	s.Name, _ = raw.Name.text(ps, "name")
	s.Module, _ = raw.Module.text(ps, "module")

	keys := make([]string, 0, len(raw.Env))
	for k := range raw.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := raw.Env[k].text(ps, "env."+k); ok {
			s.Env[k] = v
		}
	}

	l := raw.Limits
	s.Limits.Memory = sizeField(ps, "limits.memory", l.Memory, 0, "memory: 64MiB")
	s.Limits.Timeout = durationField(ps, "limits.timeout", l.Timeout, "timeout: 5s")
	s.Limits.MaxRequest = sizeField(ps, "limits.max_request", l.MaxRequest, DefaultMaxRequest, "")
	s.Limits.MaxResponse = sizeField(ps, "limits.max_response", l.MaxResponse, DefaultMaxResponse, "")

	for i, r := range raw.Routes {
		v, _ := r.text(ps, fmt.Sprintf("routes[%d]", i))
		s.Routes = append(s.Routes, v)
	}
	for i, c := range raw.Cron {
		path := fmt.Sprintf("cron[%d]", i)
		var j CronJob
		j.Schedule, _ = c.Schedule.text(ps, path+".schedule")
		j.Path, _ = c.Path.text(ps, path+".path")
		j.Body, _ = c.Body.text(ps, path+".body")
		s.Cron = append(s.Cron, j)
	}

	sc := raw.Scaling
	s.Scaling.Min = intField(ps, "scaling.min", sc.Min, "min: 1")
	s.Scaling.Max = intField(ps, "scaling.max", sc.Max, "max: 3")
	s.Scaling.TargetConcurrency = intField(ps, "scaling.target_concurrency", sc.TargetConcurrency, "target_concurrency: 8")
	s.Scaling.Cooldown = durationField(ps, "scaling.cooldown", sc.Cooldown, "cooldown: 60s")

	s.SpendLimit = amountField(ps, "spend_limit", raw.SpendLimit, true)
	s.Deposit = s.SpendLimit
	if raw.Deposit.set {
		s.Deposit = amountField(ps, "deposit", raw.Deposit, false)
	}

	if raw.Split == nil {
		s.Split = []Payee{{To: PayeeProvider, Bps: TotalBps}}
	} else {
		s.Split = []Payee{}
	}
	for i, p := range raw.Split {
		path := fmt.Sprintf("split[%d]", i)
		var y Payee
		y.To, _ = p.To.text(ps, path+".to")
		if v, ok := p.Bps.required(ps, path+".bps", "bps: 10000"); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				ps.add(path+".bps", "%q is not a whole number of basis points: write e.g. bps: 9000 for 90%%", v)
			}
			y.Bps = n
		}
		s.Split = append(s.Split, y)
	}

	if v, ok := raw.Reusable.text(ps, "reusable"); ok && raw.Reusable.set {
		if raw.Reusable.tag != "!!bool" {
			ps.add("reusable", "%q is not true or false: write reusable: true or leave it out", v)
		} else {
			s.Reusable, _ = strconv.ParseBool(strings.ToLower(v))
		}
	}
	return s
}

// sizeField converts a size; an unset value is def, or a problem when
// example is set (the field is required).
func sizeField(ps *Problems, path string, sc scalar, def uint64, example string) uint64 {
	if !sc.set && example == "" {
		return def
	}
	v, ok := sc.required(ps, path, example)
	if !ok {
		return 0
	}
	n, err := ParseSize(v)
	if err != nil {
		ps.add(path, "%v", err)
	}
	return n
}

func durationField(ps *Problems, path string, sc scalar, example string) time.Duration {
	v, ok := sc.required(ps, path, example)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			ps.add(path, "%s has no unit: write e.g. %ss", v, v)
		} else {
			ps.add(path, "%q is not a duration: write e.g. 5s, 500ms or 2m", v)
		}
	}
	return d
}

func intField(ps *Problems, path string, sc scalar, example string) int {
	v, ok := sc.required(ps, path, example)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		ps.add(path, "%q is not a whole number: write e.g. %s", v, example)
	}
	return n
}

func amountField(ps *Problems, path string, sc scalar, required bool) money.Amount {
	var v string
	var ok bool
	if required {
		v, ok = sc.required(ps, path, path+": 100STR")
	} else {
		v, ok = sc.text(ps, path)
	}
	if !ok {
		return 0
	}
	a, err := money.Parse(v)
	if err != nil {
		ps.add(path, "%v", err)
	}
	return a
}

// ParseSize reads a size written with a binary unit: "64MiB", "512KiB",
// "1.5GiB", "4096B" (units are case-insensitive). It fails with kind
// Invalid for decimal units ("64MB"), bare numbers and fractions of a byte.
func ParseSize(s string) (uint64, error) {
	n, reason, ok := parseSize(s)
	if ok {
		return n, nil
	}
	suggest := "64MiB"
	t := strings.TrimSpace(s)
	if i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i > 0 {
		switch strings.ToLower(strings.TrimSpace(t[i:])) {
		case "k", "kb":
			suggest = t[:i] + "KiB"
		case "m", "mb":
			suggest = t[:i] + "MiB"
		case "g", "gb":
			suggest = t[:i] + "GiB"
		}
	} else if i < 0 && t != "" && len(t) < 12 {
		suggest = t + "MiB"
	}
	return 0, errs.E(errs.Invalid, "%q is not a size: write e.g. %s (it %s; sizes use B, KiB, MiB or GiB)", s, suggest, reason)
}

// recordLines maps each field path ("limits.memory", "routes[1]",
// "cron[0].path", "env.NAME") to the line it is on.
func recordLines(n *yaml.Node, path string, lines map[string]int) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(n.Content[i].Value)
			if _, dup := lines[p]; !dup {
				lines[p] = n.Content[i].Line
			}
			recordLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			recordLines(c, p, lines)
		}
	}
}

// lineOf returns the line of path, or of the nearest enclosing field that
// is in the file (a missing field points at its parent).
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.DocumentNode:
		return "document"
	case yaml.AliasNode:
		return "alias"
	}
	return "single value"
}

// sections describes the YAML decoder's Go types in the spec's words.
var sections = map[string]struct {
	path, want string
	fields     reflect.Type
}{
	"fnspec.rawSpec":           {"", "a mapping of fields, e.g. name: echo", reflect.TypeOf(rawSpec{})},
	"fnspec.rawLimits":         {"limits", "a mapping, e.g. limits: {memory: 64MiB, timeout: 5s}", reflect.TypeOf(rawLimits{})},
	"fnspec.rawScaling":        {"scaling", "a mapping, e.g. scaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}", reflect.TypeOf(rawScaling{})},
	"fnspec.rawCron":           {"cron", `a job, e.g. {schedule: "*/5 * * * *", path: /tick}`, reflect.TypeOf(rawCron{})},
	"[]fnspec.rawCron":         {"cron", `a list of jobs, e.g. cron: [{schedule: "*/5 * * * *", path: /tick}]`, nil},
	"fnspec.rawPayee":          {"split", "a payee, e.g. {to: provider, bps: 10000}", reflect.TypeOf(rawPayee{})},
	"[]fnspec.rawPayee":        {"split", "a list of payees, e.g. split: [{to: provider, bps: 9000}, {to: treasury, bps: 1000}]", nil},
	"[]fnspec.scalar":          {"routes", `a list of paths, e.g. routes: ["/"]`, nil},
	"map[string]fnspec.scalar": {"env", "a mapping of names to values, e.g. env: {LOG_LEVEL: debug}", nil},
	"string":                   {"env", "a name, e.g. LOG_LEVEL", nil},
}

var (
	reUnknown = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)
	reType    = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	reLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// typeProblem rewrites one of the YAML decoder's messages in the spec's
// words: which field, what is wrong, what to write.
func typeProblem(msg string) Problem {
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		sec := sections[m[3]]
		var names []string
		if sec.fields != nil {
			for i := 0; i < sec.fields.NumField(); i++ {
				names = append(names, sec.fields.Field(i).Tag.Get("yaml"))
			}
		}
		where := "the spec"
		if sec.path != "" {
			where = sec.path
		}
		hint := ""
		if near := nearest(m[2], names); near != "" {
			hint = fmt.Sprintf("did you mean %s? ", near)
		}
		return Problem{Line: line, Path: sec.path, Msg: fmt.Sprintf("unknown field %q: %sthe fields of %s are %s", m[2], hint, where, strings.Join(names, ", "))}
	}
	if m := reType.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		sec, ok := sections[m[4]]
		if !ok {
			sec.want = m[4]
		}
		got := map[string]string{"!!map": "a mapping", "!!seq": "a list"}[m[2]]
		if got == "" {
			got = fmt.Sprintf("%q", m[3])
		}
		return Problem{Line: line, Path: sec.path, Msg: fmt.Sprintf("%s is not %s", got, sec.want)}
	}
	if m := reLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Msg: m[2]}
	}
	return Problem{Msg: msg}
}

// nearest returns the name in names within two edits of s, if one is.
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
