package fnspec

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
)

// smallest is the smallest valid spec, as issue 5 and docs/functions.md give it.
const smallest = `name: echo
module: ./echo.wasm
routes: ["/"]
limits: {memory: 64MiB, timeout: 5s}
scaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}
spend_limit: 100STR
`

const did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"

const objectID = "bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi"

// full is the annotated example of docs/functions.md, less the comments.
const full = `name: image-resize
module: ` + objectID + `
env:
  LOG_LEVEL: info
  MAX_WIDTH: 2048
limits:
  memory: 128MiB
  timeout: 2s
  max_request: 8MiB
  max_response: 32MiB
routes:
  - /
  - /resize/...
cron:
  - schedule: "*/5 * * * *"
    path: /tick
  - schedule: "@daily"
    path: /cleanup
    body: |
      {"older_than": "7d"}
scaling:
  min: 2
  max: 8
  target_concurrency: 16
  cooldown: 2m
spend_limit: 250STR
deposit: 50STR
split:
  - {to: provider, bps: 9000}
  - {to: ` + did + `, bps: 700}
  - {to: treasury, bps: 300}
reusable: true
`

func mustParse(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

func TestParseSmallest(t *testing.T) {
	got := mustParse(t, smallest)
	want := &Spec{
		Name:       "echo",
		Module:     "./echo.wasm",
		Env:        map[string]string{},
		Limits:     Limits{Memory: 64 * MiB, Timeout: 5 * time.Second, MaxRequest: DefaultMaxRequest, MaxResponse: DefaultMaxResponse},
		Routes:     []string{"/"},
		Cron:       []CronJob{},
		Scaling:    Scaling{Min: 1, Max: 3, TargetConcurrency: 8, Cooldown: time.Minute},
		SpendLimit: 100_000_000,
		Deposit:    100_000_000,
		Split:      []Payee{{To: PayeeProvider, Bps: 10_000}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(smallest)\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if _, ok := got.ModuleID(); ok {
		t.Errorf("ModuleID: a path reported as an object ID")
	}
	if p, want := got.ModulePath("/home/u/fn"), filepath.Join("/home/u/fn", "echo.wasm"); p != want {
		t.Errorf("ModulePath = %q, want %q", p, want)
	}
}

func TestParseFull(t *testing.T) {
	got := mustParse(t, full)
	want := &Spec{
		Name:   "image-resize",
		Module: objectID,
		Env:    map[string]string{"LOG_LEVEL": "info", "MAX_WIDTH": "2048"},
		Limits: Limits{Memory: 128 * MiB, Timeout: 2 * time.Second, MaxRequest: 8 * MiB, MaxResponse: 32 * MiB},
		Routes: []string{"/", "/resize/..."},
		Cron: []CronJob{
			{Schedule: "*/5 * * * *", Path: "/tick"},
			{Schedule: "@daily", Path: "/cleanup", Body: "{\"older_than\": \"7d\"}\n"},
		},
		Scaling:    Scaling{Min: 2, Max: 8, TargetConcurrency: 16, Cooldown: 2 * time.Minute},
		SpendLimit: 250_000_000,
		Deposit:    50_000_000,
		Split:      []Payee{{To: PayeeProvider, Bps: 9000}, {To: did, Bps: 700}, {To: PayeeTreasury, Bps: 300}},
		Reusable:   true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(full)\n got %+v\nwant %+v", got, want)
	}
	if id, ok := got.ModuleID(); !ok || id.String() != objectID {
		t.Errorf("ModuleID = %v, %v; want %s", id, ok, objectID)
	}
	if p := got.ModulePath("/x"); p != "" {
		t.Errorf("ModulePath of an object ID = %q, want \"\"", p)
	}
}

func TestModulePathAbsolute(t *testing.T) {
	s := mustParse(t, strings.Replace(smallest, "./echo.wasm", "/srv/fn/echo.wasm", 1))
	if p, want := s.ModulePath("/elsewhere"), filepath.FromSlash("/srv/fn/echo.wasm"); p != want {
		t.Errorf("ModulePath = %q, want %q", p, want)
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	for name, src := range map[string]string{"smallest": smallest, "full": full} {
		t.Run(name, func(t *testing.T) {
			s := mustParse(t, src)
			c := s.Canonical()
			back, err := Parse(c)
			if err != nil {
				t.Fatalf("Parse(Canonical()) = %v\ncanonical: %s", err, c)
			}
			if !reflect.DeepEqual(back, s) {
				t.Errorf("round trip changed the spec\n got %+v\nwant %+v", back, s)
			}
			if back.Hash() != s.Hash() {
				t.Errorf("round trip changed the hash")
			}
			if string(back.Canonical()) != string(c) {
				t.Errorf("canonical form is not stable:\n%s\n%s", c, back.Canonical())
			}
		})
	}
}

func TestCanonicalForm(t *testing.T) {
	got := string(mustParse(t, smallest).Canonical())
	want := `{"name":"echo","module":"./echo.wasm","env":{},"limits":{"memory":"64MiB","timeout":"5s","max_request":"1MiB","max_response":"16MiB"},"routes":["/"],"cron":[],"scaling":{"min":1,"max":3,"target_concurrency":8,"cooldown":"1m0s"},"spend_limit":"100STR","deposit":"100STR","split":[{"to":"provider","bps":10000}],"reusable":false}`
	if got != want {
		t.Errorf("Canonical()\n got %s\nwant %s", got, want)
	}
}

func TestHashIgnoresSpelling(t *testing.T) {
	// The same values written differently deploy the same thing.
	a := mustParse(t, smallest)
	b := mustParse(t, `# the same, spelled out
spend_limit: 100000000ustr
scaling:
  cooldown: 1m
  target_concurrency: 8
  max: 3
  min: 1
limits:
  timeout: 5000ms
  memory: 65536KiB
  max_request: 1MiB
routes:
  - /
module: ./echo.wasm
name: echo
deposit: 100STR
split: [{to: provider, bps: 10000}]
reusable: false
env: {}
`)
	if a.Hash() != b.Hash() {
		t.Errorf("hashes differ:\n%s\n%s", a.Canonical(), b.Canonical())
	}
	c := mustParse(t, strings.Replace(smallest, "max: 3", "max: 4", 1))
	if a.Hash() == c.Hash() {
		t.Errorf("a different spec has the same hash")
	}
}

func TestJSON(t *testing.T) {
	s := mustParse(t, full)
	b, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := back.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if back.Hash() != s.Hash() {
		t.Errorf("JSON round trip changed the hash")
	}
}

// problems parses src and returns its problems, failing unless Parse
// reports kind Invalid with Problems.
func problems(t *testing.T, src string) Problems {
	t.Helper()
	_, err := Parse([]byte(src))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", src)
	}
	if k := errs.KindOf(err); k != errs.Invalid {
		t.Errorf("kind = %s, want invalid (%v)", k, err)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error carries no Problems: %v", err)
	}
	return ps
}

// edit returns the smallest spec with the line starting with key replaced
// by line ("" deletes it), or with line added when no line starts with key.
func edit(key, line string) string {
	var out []string
	found := false
	for _, l := range strings.Split(strings.TrimSuffix(smallest, "\n"), "\n") {
		if strings.HasPrefix(l, key+":") {
			found = true
			if line != "" {
				out = append(out, line)
			}
			continue
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestValidationErrors(t *testing.T) {
	lim := func(body string) string { return edit("limits", "limits: {"+body+"}") }
	sc := func(body string) string { return edit("scaling", "scaling: {"+body+"}") }
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, src string
		path      string // the field the message must name
		want      string // and a phrase it must contain
	}{
		{"name missing", edit("name", ""), "name", "is missing"},
		{"name upper", edit("name", "name: Echo"), "name", "upper-case"},
		{"name underscore", edit("name", "name: my_fn"), "name", `'_'`},
		{"name hyphen", edit("name", "name: -echo"), "name", "'-'"},
		{"name long", edit("name", "name: "+long), "name", "64 characters"},
		{"name list", edit("name", "name: [a]"), "name", "is a list"},
		{"module missing", edit("module", ""), "module", "is missing"},
		{"module not wasm", edit("module", "module: ./echo.so"), "module", "neither a .wasm file nor an object ID"},
		{"module bad id", edit("module", "module: bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwz"), "module", "object ID"},
		{"module no file", edit("module", "module: dir/.wasm"), "module", "no file name"},
		{"env bad name", edit("env", "env: {1X: a}"), "env.1X", "not a variable name"},
		{"env reserved", edit("env", "env: {PATH_INFO: /x}"), "env.PATH_INFO", "set by the runtime"},
		{"env reserved prefix", edit("env", "env: {HTTP_HOST: x}"), "env.HTTP_HOST", "set by the runtime"},
		{"env control", edit("env", `env: {A: "x\ny"}`), "env.A", "control character"},
		{"env long", edit("env", "env: {A: "+strings.Repeat("x", MaxEnvValueLen+1)+"}"), "env.A", "the limit is 4096"},
		{"env not map", edit("env", "env: [A]"), "env", "not a mapping"},
		{"memory missing", lim("timeout: 5s"), "limits.memory", "is missing"},
		{"memory MB", lim("memory: 64MB, timeout: 5s"), "limits.memory", `"64MB" is not a size: write e.g. 64MiB`},
		{"memory bare", lim("memory: 64, timeout: 5s"), "limits.memory", "has no unit"},
		{"memory small", lim("memory: 512KiB, timeout: 5s"), "limits.memory", "1MiB to 4GiB"},
		{"memory big", lim("memory: 5GiB, timeout: 5s"), "limits.memory", "1MiB to 4GiB"},
		{"memory pages", lim("memory: 1100KiB, timeout: 5s"), "limits.memory", "write 1152KiB"},
		{"timeout missing", lim("memory: 64MiB"), "limits.timeout", "is missing"},
		{"timeout no unit", lim("memory: 64MiB, timeout: 5"), "limits.timeout", "write e.g. 5s"},
		{"timeout bad", lim("memory: 64MiB, timeout: soon"), "limits.timeout", "not a duration"},
		{"timeout long", lim("memory: 64MiB, timeout: 6m"), "limits.timeout", "1ms to 5m"},
		{"timeout zero", lim("memory: 64MiB, timeout: 0s"), "limits.timeout", "1ms to 5m"},
		{"max_request big", lim("memory: 64MiB, timeout: 5s, max_request: 65MiB"), "limits.max_request", "1KiB to 64MiB"},
		{"max_response small", lim("memory: 64MiB, timeout: 5s, max_response: 10B"), "limits.max_response", "1KiB to 64MiB"},
		{"limits unknown", lim("memory: 64MiB, timeout: 5s, cpu: 2"), "limits", `unknown field "cpu"`},
		{"limits typo", lim("memroy: 64MiB, timeout: 5s"), "limits", "did you mean memory?"},
		{"limits scalar", edit("limits", "limits: 64MiB"), "limits", "not a mapping"},
		{"routes none", edit("routes", ""), "routes", "at least one route or cron job"},
		{"routes scalar", edit("routes", "routes: /"), "routes", "not a list"},
		{"route relative", edit("routes", "routes: [hello]"), "routes[0]", `write e.g. "/hello"`},
		{"route dup", edit("routes", `routes: ["/", "/a", "/"]`), "routes[2]", "also routes[0]"},
		{"route wildcard middle", edit("routes", `routes: ["/.../a"]`), "routes[0]", "wildcard can only end"},
		{"route dotdot", edit("routes", `routes: ["/a/../b"]`), "routes[0]", `".." segment`},
		{"route space", edit("routes", `routes: ["/a b"]`), "routes[0]", "' '"},
		{"route query", edit("routes", `routes: ["/a?b"]`), "routes[0]", "'?'"},
		{"route empty segment", edit("routes", `routes: ["/a//b"]`), "routes[0]", "empty segment"},
		{"cron schedule", edit("cron", `cron: [{schedule: "61 * * * *", path: /tick}]`), "cron[0].schedule", "not a cron schedule"},
		{"cron six fields", edit("cron", `cron: [{schedule: "0 */5 * * * *", path: /tick}]`), "cron[0].schedule", "not a cron schedule"},
		{"cron tz", edit("cron", `cron: [{schedule: "TZ=UTC */5 * * * *", path: /tick}]`), "cron[0].schedule", "time zone"},
		{"cron every", edit("cron", `cron: [{schedule: "@every 10s", path: /tick}]`), "cron[0].schedule", "once a minute"},
		{"cron schedule missing", edit("cron", `cron: [{path: /tick}]`), "cron[0].schedule", "is missing"},
		{"cron path missing", edit("cron", `cron: [{schedule: "@hourly"}]`), "cron[0].path", "is missing"},
		{"cron path wildcard", edit("cron", `cron: [{schedule: "@hourly", path: /a/...}]`), "cron[0].path", "wildcard"},
		{"cron dup", edit("cron", `cron: [{schedule: "@hourly", path: /a}, {schedule: "@hourly", path: /a}]`), "cron[1]", "same job as cron[0]"},
		{"cron unknown", edit("cron", `cron: [{schedule: "@hourly", path: /a, method: POST}]`), "cron", `unknown field "method"`},
		{"cron body control", edit("cron", `cron: [{schedule: "@hourly", path: /a, body: "\x01"}]`), "cron[0].body", "control character"},
		{"scaling max below min", sc("min: 3, max: 1, target_concurrency: 8, cooldown: 60s"), "scaling.max", "1 is below scaling.min (3): set max to at least min"},
		{"scaling min zero", sc("min: 0, max: 1, target_concurrency: 8, cooldown: 60s"), "scaling.min", "from 1 to 32"},
		{"scaling max cap", sc("min: 1, max: 33, target_concurrency: 8, cooldown: 60s"), "scaling.max", "from 1 to 32"},
		{"scaling target zero", sc("min: 1, max: 3, target_concurrency: 0, cooldown: 60s"), "scaling.target_concurrency", "out of range"},
		{"scaling cooldown negative", sc("min: 1, max: 3, target_concurrency: 8, cooldown: -1s"), "scaling.cooldown", "out of range"},
		{"scaling cooldown missing", sc("min: 1, max: 3, target_concurrency: 8"), "scaling.cooldown", "is missing"},
		{"scaling not number", sc("min: one, max: 3, target_concurrency: 8, cooldown: 60s"), "scaling.min", "not a whole number"},
		{"scaling missing", edit("scaling", ""), "scaling.min", "is missing"},
		{"spend missing", edit("spend_limit", ""), "spend_limit", "is missing"},
		{"spend no unit", edit("spend_limit", "spend_limit: 100"), "spend_limit", "has no unit"},
		{"spend zero", edit("spend_limit", "spend_limit: 0STR"), "spend_limit", "more than 0"},
		{"deposit above", edit("deposit", "deposit: 101STR"), "deposit", "above spend_limit (100STR)"},
		{"deposit zero", edit("deposit", "deposit: 0ustr"), "deposit", "more than 0"},
		{"deposit bad", edit("deposit", "deposit: lots"), "deposit", "is not a number"},
		{"split sum", edit("split", "split: [{to: provider, bps: 9000}]"), "split", "add up to 9000"},
		{"split empty", edit("split", "split: []"), "split", "is empty"},
		{"split payee", edit("split", "split: [{to: alice, bps: 10000}]"), "split[0].to", "did:key"},
		{"split dup", edit("split", "split: [{to: provider, bps: 5000}, {to: provider, bps: 5000}]"), "split[1].to", "also split[0]"},
		{"split bps zero", edit("split", "split: [{to: provider, bps: 10000}, {to: treasury, bps: 0}]"), "split[1].bps", "1 to 10000"},
		{"split bps missing", edit("split", "split: [{to: provider}]"), "split[0].bps", "is missing"},
		{"split to missing", edit("split", "split: [{bps: 10000}]"), "split[0].to", "is missing"},
		{"split scalar", edit("split", "split: provider"), "split", "not a list"},
		{"reusable yes", edit("reusable", "reusable: yes"), "reusable", "true or false"},
		{"unknown top", edit("replicas", "replicas: 3"), "", `unknown field "replicas"`},
		{"top typo", edit("spend_limit", "spend_limt: 100STR"), "", "did you mean spend_limit?"},
		{"duplicate key", edit("name", "name: echo\nname: echo2"), "", `"name" already defined`},
		{"two documents", smallest + "---\nname: x\n", "", "more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := problems(t, tc.src)
			for _, p := range ps {
				if p.Path == tc.path && strings.Contains(p.Msg, tc.want) {
					if p.Path != "" && !strings.Contains(p.Error(), tc.path+": ") {
						t.Errorf("message %q does not name the field", p.Error())
					}
					return
				}
			}
			t.Errorf("no problem at %q containing %q; got:\n%v", tc.path, tc.want, ps)
		})
	}
}

func TestLineNumbers(t *testing.T) {
	src := `name: echo
module: ./echo.wasm
routes: ["/"]
limits:
  memory: 64MB
  timeout: 5s
scaling: {min: 3, max: 1, target_concurrency: 8, cooldown: 60s}
spend_limit: 100STR
colour: blue
`
	_, err := Parse([]byte(src))
	if err == nil {
		t.Fatal("Parse accepted a bad spec")
	}
	msg := err.Error()
	for _, want := range []string{
		"the spec has 3 problems:",
		`line 5: limits.memory: "64MB" is not a size: write e.g. 64MiB`,
		"line 7: scaling.max: 1 is below scaling.min (3): set max to at least min",
		`line 9: unknown field "colour"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	// In the order of the file.
	if i, j := strings.Index(msg, "line 5"), strings.Index(msg, "line 9"); i > j {
		t.Errorf("problems out of order:\n%s", msg)
	}
}

func TestSyntaxError(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		// An unclosed bracket is reported where it opens.
		{"name: echo\nmodule: [./echo.wasm\nroutes: [\"/\"]\n", "line 2: did not find expected ',' or ']'"},
		{"name: echo\nroutes: \"/\n", "line 2"},
		{"name: echo\nlimits:\n  memory: 1MiB\n - x\n", "line 4"},
		{"name: echo\n  module: x\n", "line 2"},
		{"name: echo\nlimits: {memory: 64MiB\n", "line 2"},
	} {
		_, err := Parse([]byte(tc.src))
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tc.src)
			continue
		}
		if !strings.Contains(err.Error(), "not valid YAML") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want a YAML error at %s", tc.src, err, tc.want)
		}
		if errs.KindOf(err) != errs.Invalid {
			t.Errorf("kind = %s, want invalid", errs.KindOf(err))
		}
	}
}

func TestWholeFileErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "empty"},
		{"# just a comment\n", "empty"},
		{"- a\n- b\n", "must be a mapping"},
		{"hello\n", "must be a mapping"},
		{strings.Repeat("#", MaxSpecSize+1), "the limit is"},
	} {
		_, err := Parse([]byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%.20q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestValidateInCode(t *testing.T) {
	s := mustParse(t, smallest)
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	s.Scaling.Max = 0
	s.Deposit = 0
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate accepted max 0 and deposit 0")
	}
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("Validate = %v, want 2 problems", err)
	}
	if !strings.Contains(err.Error(), "scaling.max: 0 is out of range") || !strings.Contains(err.Error(), "deposit: must be more than 0") {
		t.Errorf("Validate = %v", err)
	}
}

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		fmt  string
	}{
		{"64MiB", 64 * MiB, "64MiB"},
		{"64mib", 64 * MiB, "64MiB"},
		{"1.5GiB", 3 * GiB / 2, "1536MiB"},
		{"4096B", 4096, "4KiB"},
		{"100B", 100, "100B"},
		{"4GiB", 4 * GiB, "4GiB"},
		{" 8 KiB ", 8 * KiB, "8KiB"},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if f := FormatSize(got); f != tc.fmt {
			t.Errorf("FormatSize(%d) = %q, want %q", got, f, tc.fmt)
		}
	}
	for _, in := range []string{"", "64", "64MB", "64 GB", "MiB", "1.5B", ".5KiB", "5.KiB", "1..2MiB", "99999999999999999999GiB", "-1MiB", "1e3MiB"} {
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, n)
		}
	}
}
