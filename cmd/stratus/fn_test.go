package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/fnspec"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/node"
)

const (
	testObject = "bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi"
	testDID    = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
)

func mustParse(t *testing.T, yaml string) *fnspec.Spec {
	t.Helper()
	s, err := fnspec.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

// specHash is what chainSpec must put in SpecHash: the hash of the spec
// with module in place of its own.
func specHash(s *fnspec.Spec, module string) string {
	c := *s
	c.Module = module
	h := c.Hash()
	return hex.EncodeToString(h[:])
}

func TestChainSpec(t *testing.T) {
	smallest := `name: echo
module: ./echo.wasm
routes: ["/"]
limits: {memory: 64MiB, timeout: 5s}
scaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}
spend_limit: 100STR
`
	full := `name: image-resize
module: ` + testObject + `
env: {LOG_LEVEL: info}
limits: {memory: 128MiB, timeout: 1500us, max_request: 8MiB, max_response: 32MiB}
routes: [/, /resize/...]
cron:
  - {schedule: "*/5 * * * *", path: /tick}
  - {schedule: "@daily", path: /cleanup, body: "{}"}
scaling: {min: 2, max: 8, target_concurrency: 16, cooldown: 1500ms}
spend_limit: 250STR
deposit: 50STR
split:
  - {to: provider, bps: 9000}
  - {to: ` + testDID + `, bps: 700}
  - {to: treasury, bps: 300}
reusable: true
`
	tests := []struct {
		name   string
		yaml   string
		module string
		want   functions.Spec
	}{
		{"smallest, uploaded", smallest, testObject, functions.Spec{
			Module:      testObject,
			MemoryBytes: 64 << 20,
			TimeoutMs:   5000,
			// The defaults, written out.
			MaxRequestBytes:  1 << 20,
			MaxResponseBytes: 16 << 20,
			Routes:           []string{"/"},
			Scaling:          functions.Scaling{Min: 1, Max: 3, TargetConcurrency: 8, CooldownSeconds: 60},
			SpendLimit:       100_000_000,
			Split:            []market.Payee{{To: "provider", Bps: 10_000}},
		}},
		// Sub-unit durations round up: 1.5ms is 2ms, 1.5s is 2s.
		{"full, stored", full, testObject, functions.Spec{
			Module:           testObject,
			MemoryBytes:      128 << 20,
			TimeoutMs:        2,
			MaxRequestBytes:  8 << 20,
			MaxResponseBytes: 32 << 20,
			Env:              map[string]string{"LOG_LEVEL": "info"},
			Routes:           []string{"/", "/resize/..."},
			Cron:             []functions.CronJob{{Schedule: "*/5 * * * *", Path: "/tick"}, {Schedule: "@daily", Path: "/cleanup", Body: "{}"}},
			Scaling:          functions.Scaling{Min: 2, Max: 8, TargetConcurrency: 16, CooldownSeconds: 2},
			SpendLimit:       250_000_000,
			Split: []market.Payee{
				{To: "provider", Bps: 9000},
				{To: testDID, Bps: 700},
				{To: "treasury", Bps: 300},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.yaml)
			got, err := chainSpec(s, tt.module)
			if err != nil {
				t.Fatalf("chainSpec: %v", err)
			}
			tt.want.SpecHash = specHash(s, tt.module)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("chainSpec =\n%+v\nwant\n%+v", got, tt.want)
			}
			if err := (&functions.Deploy{Name: s.Name, Spec: got, Deposit: s.Deposit}).Validate(); err != nil {
				t.Errorf("the deploy message does not validate: %v", err)
			}
		})
	}
}

func TestChainSpecHash(t *testing.T) {
	a := mustParse(t, "name: echo\nmodule: ./echo.wasm\nroutes: [/]\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n")
	// The same spec in other words, naming the object directly.
	b := mustParse(t, "name: echo\nmodule: "+testObject+"\nroutes: [/]\nlimits: {memory: 65536KiB, timeout: 5000ms, max_request: 1MiB}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 1m}\nspend_limit: 100000000ustr\n")
	ca, err := chainSpec(a, testObject)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := chainSpec(b, testObject)
	if err != nil {
		t.Fatal(err)
	}
	if ca.SpecHash != cb.SpecHash {
		t.Errorf("one spec, two hashes: %s and %s", ca.SpecHash, cb.SpecHash)
	}
	// The hash covers what stays off chain, such as env.
	c := mustParse(t, "name: echo\nmodule: ./echo.wasm\nenv: {A: b}\nroutes: [/]\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n")
	cc, err := chainSpec(c, testObject)
	if err != nil {
		t.Fatal(err)
	}
	if cc.SpecHash == ca.SpecHash {
		t.Errorf("env does not change the hash")
	}
}

func TestChainSpecRefused(t *testing.T) {
	base := "module: ./f.wasm\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"name starts with a digit", "name: 1echo\nroutes: [/]\n" + base, "name \"1echo\""},
		{"cron only", "name: tick\ncron: [{schedule: '@hourly', path: /tick}]\n" + base, "routes: give 1 to 16 routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.yaml)
			_, err := chainSpec(s, testObject)
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "the chain refuses this spec: ") {
				t.Errorf("chainSpec = %v; want an invalid error about %q", err, tt.want)
			}
		})
	}
}

func TestReadSpec(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var stderr bytes.Buffer
	if _, err := readSpec(filepath.Join(dir, "none.yaml"), &stderr); !errs.Is(err, errs.NotFound) {
		t.Errorf("missing file: %v, want not found", err)
	}
	one := write("one.yaml", "name: echo\nmodule: ./echo.wasm\nroutes: [/]\nlimits: {memory: 64MB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n")
	_, err := readSpec(one, &stderr)
	if !errs.Is(err, errs.Invalid) || !strings.HasPrefix(err.Error(), one+": line 4: limits.memory: ") || stderr.Len() != 0 {
		t.Errorf("one problem: %v (stderr %q)", err, stderr.String())
	}
	three := write("three.yaml", "name: Echo\nmodule: ./echo.wasm\nroutes: [/]\nlimits: {memory: 64MB, timeout: 5s}\nscaling: {min: 3, max: 1, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n")
	_, err = readSpec(three, &stderr)
	if !errs.Is(err, errs.Invalid) || err.Error() != three+" has 3 problems, listed above: fix them and run the command again" {
		t.Errorf("three problems: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("stderr has %d lines, want 3: %q", len(lines), stderr.String())
	}
	for i, want := range []string{"line 1: name: ", "line 4: limits.memory: ", "line 5: scaling.max: "} {
		if !strings.HasPrefix(lines[i], three+": "+want) {
			t.Errorf("stderr line %d = %q, want it to start with %q", i+1, lines[i], want)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := parseHeaders([]string{"Content-Type: application/json", "X-A:1", "x-a: 2", "X-Empty:"})
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Content-Type": {"application/json"}, "X-A": {"1", "2"}, "X-Empty": {""}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("parseHeaders = %v, want %v", h, want)
	}
	for _, bad := range []string{"nocolon", ": v", "Bad Name: v"} {
		if _, err := parseHeaders([]string{bad}); !errs.Is(err, errs.Invalid) {
			t.Errorf("parseHeaders(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestInvokeData(t *testing.T) {
	p := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(p, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, stdin, want string }{
		{"hello", "", "hello"},
		{"-", "from stdin", "from stdin"},
		{"@" + p, "", `{"a":1}`},
	}
	for _, tt := range tests {
		got, err := invokeData(tt.in, strings.NewReader(tt.stdin))
		if err != nil || string(got) != tt.want {
			t.Errorf("invokeData(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := invokeData("@"+p+".none", nil); !errs.Is(err, errs.NotFound) {
		t.Errorf("missing @file: %v, want not found", err)
	}
}

// fakeFnNode is a node's function routes and gateway, and one compute
// provider's log route, over one deployment.
type fakeFnNode struct {
	t        *testing.T
	owner    identity.Address
	provider identity.Address
	mu       sync.Mutex // guards dep
	dep      functions.DeploymentView
	node     *httptest.Server
	prov     *httptest.Server
}

func newFakeFnNode(t *testing.T, owner identity.Address) *fakeFnNode {
	t.Helper()
	f := &fakeFnNode{t: t, owner: owner}
	f.provider[0] = 7
	f.dep = functions.DeploymentView{
		Deployment: functions.Deployment{ID: 3, Owner: owner, Name: "echo", State: functions.StateActive,
			Spec: functions.Spec{Module: testObject, MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
				Scaling: functions.Scaling{Min: 1, Max: 3, TargetConcurrency: 8, CooldownSeconds: 60}, SpendLimit: 100_000_000},
			Deposited: 100_000_000, Escrow: 98_999_000, Charged: 1000, ReplicaFunding: 1_000_000, Calls: 5000, MiBMs: 320_000,
			Payees:   []market.Payee{{To: "provider", Bps: 10_000, Paid: 1000}},
			Replicas: []functions.Replica{{Lease: 11, Provider: f.provider}}},
		Replicas: []functions.ReplicaView{{Replica: functions.Replica{Lease: 11, Provider: f.provider}, LeaseState: market.LeaseActive}},
		Room:     98_999_000,
		Usage:    []functions.ProviderUsageView{{Provider: f.provider, ProviderUsage: functions.ProviderUsage{Sequence: 2, Calls: 5000, MiBMs: 320_000, Paid: 1000}}},
	}
	verifier := httpsig.NewVerifier(httpsig.VerifierOptions{})
	f.prov = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fn/3/_logs" {
			http.NotFound(w, r)
			return
		}
		signer, err := verifier.Verify(r, time.Now(), nil)
		if err != nil || signer != owner {
			w.Header().Set("Content-Type", api.ProblemContentType)
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.Problem{Title: "Unauthorized", Status: 401, Kind: "unauthorized", Detail: fmt.Sprintf("not the owner: %v", err)})
			return
		}
		fmt.Fprintf(w, "echo: GET /\necho: POST /x follow=%s\n", r.URL.Query().Get("follow"))
	}))
	t.Cleanup(f.prov.Close)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/functions/3", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(f.dep)
	})
	mux.HandleFunc("GET /v1/functions/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.ProblemContentType)
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(api.Problem{Title: "Not found", Status: 404, Kind: "not_found", Detail: "no deployment " + r.PathValue("id") + ": see `stratus fn ls`"})
	})
	mux.HandleFunc("GET /v1/functions/by-name/{owner}/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("owner") != owner.String() || r.PathValue("name") != "echo" {
			w.Header().Set("Content-Type", api.ProblemContentType)
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.Problem{Title: "Not found", Status: 404, Kind: "not_found", Detail: "no such name"})
			return
		}
		json.NewEncoder(w).Encode(f.dep)
	})
	mux.HandleFunc("GET /v1/functions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("owner") != owner.String() {
			fmt.Fprint(w, `{"items":[],"next":""}`)
			return
		}
		json.NewEncoder(w).Encode(api.Page[functions.Deployment]{Items: []functions.Deployment{f.dep.Deployment}})
	})
	mux.HandleFunc("GET /v1/providers/{did}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(market.Provider{Operator: f.provider, Endpoint: f.prov.URL})
	})
	mux.HandleFunc("/fn/3/{path...}", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.PathValue("path") {
		case "missing":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "no such page")
		case "broke":
			w.Header().Set("Content-Type", api.ProblemContentType)
			w.WriteHeader(http.StatusPaymentRequired)
			json.NewEncoder(w).Encode(api.Problem{Title: "Insufficient funds", Status: 402, Kind: "insufficient_funds", Detail: "deployment 3 has no escrow left: its owner must top it up"})
		default:
			w.Header().Set("X-Echo", "1")
			fmt.Fprintf(w, "%s /%s?%s %s=%s", r.Method, r.PathValue("path"), r.URL.RawQuery, r.Header.Get("X-Test"), body)
		}
	})
	f.node = httptest.NewServer(mux)
	t.Cleanup(f.node.Close)
	return f
}

// runCLI runs the stratus command line in-process and returns its stdout,
// stderr and the exit status run would return.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var stdout, stderr bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		fmt.Fprintln(&stderr, "Error:", oneLine(err.Error()))
		code = errs.ExitCode(errs.KindOf(err))
	}
	return stdout.String(), stderr.String(), code
}

func TestFnCommandsAgainstFakeNode(t *testing.T) {
	home := t.TempDir()
	t.Setenv("STRATUS_PASSPHRASE", "pw")
	t.Setenv("STRATUS_NODE", "")
	key, _, err := identity.OpenKeystore(node.KeysDir(home)).Create("alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeFnNode(t, key.Address())
	g := []string{"--home", home, "--node", f.node.URL}
	cli := func(stdin string, args ...string) (string, string, int) {
		return runCLI(t, stdin, append(append([]string{}, g...), args...)...)
	}

	tests := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		stdout     string // exact, unless empty
		stderrHas  string
		stdoutHas  []string
		jsonFields map[string]any
	}{
		{name: "invoke by name", args: []string{"fn", "invoke", "echo", "--from", "alice", "--path", "/hi?x=1", "-H", "X-Test: t"},
			stdout: "GET /hi?x=1 t="},
		{name: "invoke by id with data", args: []string{"fn", "invoke", "3", "--data", "body"}, stdout: "POST /? =body"},
		{name: "invoke with stdin and method", stdin: "in", args: []string{"fn", "invoke", "3", "-X", "put", "-d", "-"}, stdout: "PUT /? =in"},
		{name: "invoke json", args: []string{"fn", "invoke", "3", "--output", "json"},
			jsonFields: map[string]any{"status": float64(200), "body": "GET /? ="}},
		{name: "invoke 404 from the function", args: []string{"fn", "invoke", "3", "--path", "/missing"}, code: 3,
			stderrHas: "no such page\nError: " + f.node.URL + "/fn/3/missing answered 404 Not Found\n"},
		{name: "invoke 402 from the gateway", args: []string{"fn", "invoke", "3", "--path", "/broke"}, code: 5,
			stderrHas: "Error: 402 Payment Required: deployment 3 has no escrow left: its owner must top it up\n"},
		{name: "invoke unknown name", args: []string{"fn", "invoke", "nope", "--from", "alice"}, code: 3},
		{name: "invoke bad header", args: []string{"fn", "invoke", "3", "-H", "nocolon"}, code: 2},
		{name: "info unknown id", args: []string{"fn", "info", "99"}, code: 3, stderrHas: "Error: no deployment 99: see `stratus fn ls`\n"},
		{name: "info zero", args: []string{"fn", "info", "0"}, code: 2},
		{name: "info", args: []string{"fn", "info", "echo", "--from", "alice"},
			stdoutHas: []string{"deployment:  3 echo (active)", "url:         " + f.node.URL + "/fn/3", "usage:       5000 calls, 320000 MiB-ms",
				"charged:     0.001STR of the 100STR spend limit (99.999STR left)", "provider", "paid 0.001STR"}},
		{name: "info json", args: []string{"fn", "info", "3", "--output", "json"}, jsonFields: map[string]any{"id": "3", "name": "echo", "room": "98999000"}},
		{name: "ls", args: []string{"fn", "ls", "--owner", "alice"}, stdoutHas: []string{"ID", "echo", "active"}},
		{name: "ls other", args: []string{"fn", "ls", "--owner", testDID}, stdoutHas: []string{"No deployments for " + testDID}},
		{name: "logs", args: []string{"fn", "logs", "echo", "--from", "alice"},
			stdoutHas: []string{"] echo: GET /\n", "] echo: POST /x follow=\n"}},
		{name: "logs follow", args: []string{"fn", "logs", "3", "--from", "alice", "--follow"},
			stdoutHas: []string{"echo: POST /x follow=1\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := cli(tt.stdin, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.code, stdout, stderr)
			}
			if tt.code != 0 && stdout != "" {
				t.Errorf("failed but wrote %q to stdout", stdout)
			}
			if tt.stdout != "" && stdout != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.stdout)
			}
			if tt.stderrHas != "" && !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr = %q, want it to hold %q", stderr, tt.stderrHas)
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout = %q, want it to hold %q", stdout, s)
				}
			}
			if tt.jsonFields != nil {
				var m map[string]any
				if err := json.Unmarshal([]byte(stdout), &m); err != nil {
					t.Fatalf("stdout is not JSON: %v: %q", err, stdout)
				}
				for k, want := range tt.jsonFields {
					if !reflect.DeepEqual(m[k], want) {
						t.Errorf("%s = %#v, want %#v", k, m[k], want)
					}
				}
			}
		})
	}

	// The log lines carry the provider's label.
	stdout, _, code := cli("", "fn", "logs", "3", "--from", "alice")
	label := providerLabel(nil, f.provider.String())
	if code != 0 || stdout != fmt.Sprintf("[%s] echo: GET /\n[%s] echo: POST /x follow=\n", label, label) {
		t.Errorf("logs: exit %d, stdout %q", code, stdout)
	}
	// A key that is not the owner's is refused before any request.
	if _, _, err := identity.OpenKeystore(node.KeysDir(home)).Create("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cli("", "fn", "logs", "3", "--from", "bob"); code != 4 || !strings.Contains(stderr, "only its owner can read its logs") {
		t.Errorf("logs as bob: exit %d, stderr %q", code, stderr)
	}
	// deploy refuses a name the key already has, before uploading anything.
	dir := t.TempDir()
	spec := filepath.Join(dir, "echo.yaml")
	os.WriteFile(spec, []byte("name: echo\nmodule: ./echo.wasm\nroutes: [/]\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n"), 0o644)
	if _, stderr, code := cli("", "fn", "deploy", spec, "--from", "alice"); code != 6 || !strings.Contains(stderr, "already has a deployment named \"echo\" (3): change it with `stratus fn update echo "+spec+"`") {
		t.Errorf("deploy of a taken name: exit %d, stderr %q", code, stderr)
	}
	// update refuses a spec with another name.
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte("name: other\nmodule: "+testObject+"\nroutes: [/]\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n"), 0o644)
	if _, stderr, code := cli("", "fn", "update", "3", other, "--from", "alice"); code != 2 || !strings.Contains(stderr, "a deployment keeps its name") {
		t.Errorf("update with another name: exit %d, stderr %q", code, stderr)
	}
	// A missing module is named, with how to build one.
	fresh := filepath.Join(dir, "fresh.yaml")
	os.WriteFile(fresh, []byte("name: fresh\nmodule: ./fresh.wasm\nroutes: [/]\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\n"), 0o644)
	if _, stderr, code := cli("", "fn", "deploy", fresh, "--from", "alice"); code != 3 || !strings.Contains(stderr, "fresh.wasm (from "+fresh+") does not exist: build it first") {
		t.Errorf("deploy without its module: exit %d, stderr %q", code, stderr)
	}
}

func TestWaitRunning(t *testing.T) {
	var owner identity.Address
	f := newFakeFnNode(t, owner)
	g := &globals{node: f.node.URL, output: "text"}
	if n, err := g.waitRunning(context.Background(), 3, time.Second); n != 1 || err != nil {
		t.Errorf("an active replica: waitRunning = %d, %v; want 1, nil", n, err)
	}
	f.mu.Lock()
	f.dep.Replicas[0].LeaseState = market.LeasePending
	f.mu.Unlock()
	start := time.Now()
	n, err := g.waitRunning(context.Background(), 3, 300*time.Millisecond)
	if n != 0 || !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "has not acknowledged lease 11") {
		t.Errorf("a pending replica: waitRunning = %d, %v; want 0 and an unavailable error naming lease 11", n, err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("waitRunning took %s, want about 300ms", took)
	}
	if n, err := g.waitRunning(context.Background(), 3, 0); n != 0 || err != nil {
		t.Errorf("no wait: waitRunning = %d, %v; want 0, nil", n, err)
	}
}

// buildEcho builds examples/echo-go for wasip1 into dir, with extra go
// build flags.
func buildEcho(t *testing.T, dir, name string, flags ...string) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go tool to build examples/echo-go")
		}
	}
	out := filepath.Join(dir, name)
	args := append(append([]string{"build"}, flags...), "-o", out, "../../examples/echo-go")
	cmd := exec.Command(gobin, args...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}

// TestFnDevnet is the user's path on a devnet, in-process: build the Go
// example, deploy it with one command, call it, read its logs and books,
// update it to the reusable build, top it up and remove it.
func TestFnDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a devnet and builds a wasm module")
	}
	dir := t.TempDir()
	buildEcho(t, dir, "echo.wasm")
	buildEcho(t, dir, "echo-reactor.wasm", "-buildmode=c-shared")

	home := filepath.Join(dir, "home")
	cfg := node.DefaultConfig()
	cfg.API.Listen, cfg.Consensus.RPCListen, cfg.Consensus.P2PListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	if _, err := node.InitDevnet(home, cfg, ""); err != nil {
		t.Fatal(err)
	}
	cfg, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(context.Background(), home, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	t.Setenv("STRATUS_PASSPHRASE", "")
	t.Setenv("STRATUS_NODE", "")
	cli := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, stdin, append([]string{"--home", home}, args...)...)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		stdout, stderr, code := cli(stdin, args...)
		if code != 0 {
			t.Fatalf("stratus %s: exit %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}
	jsonOf := func(s string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("not JSON: %v: %q", err, s)
		}
		return m
	}
	spec := func(name, module string, reusable bool) string {
		p := filepath.Join(dir, name+".yaml")
		text := fmt.Sprintf("name: echo\nmodule: ./%s\nenv: {GREETING: hello}\nroutes: [\"/...\"]\nlimits: {memory: 64MiB, timeout: 5s}\nscaling: {min: 1, max: 3, target_concurrency: 8, cooldown: 60s}\nspend_limit: 100STR\ndeposit: 10STR\nreusable: %v\n", module, reusable)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	dep := jsonOf(must("", "fn", "deploy", spec("echo", "echo.wasm", false), "--output", "json"))
	id, _ := dep["id"].(string)
	if dep["url"] != n.APIURL()+"/fn/"+id || dep["running"] != float64(1) {
		t.Fatalf("deploy = %v; want url %s/fn/%s and 1 running replica", dep, n.APIURL(), id)
	}

	// The Go function answers through the gateway, with the WAGI
	// environment. (Not yet the spec's env: it stays off chain, and no
	// provider is handed it.)
	got := must("hi there", "fn", "invoke", "echo", "--path", "/greet?who=ada", "-H", "X-Test: 1", "--data", "-")
	for _, want := range []string{"method=POST\n", "path=/greet\n", "query=who=ada\n", "header.X_TEST=1\n", "env.CONTENT_LENGTH=8\n", "body=hi there"} {
		if !strings.Contains(got, want) {
			t.Errorf("invoke: the answer has no %q:\n%s", want, got)
		}
	}
	inv := jsonOf(must("", "fn", "invoke", id, "--output", "json"))
	if inv["status"] != float64(200) || !strings.Contains(fmt.Sprint(inv["body"]), "method=GET\n") {
		t.Errorf("invoke --output json = %v", inv)
	}

	// Its stderr is the log, which only the owner may read.
	logs := must("", "fn", "logs", "echo")
	if !strings.Contains(logs, "[compute0] echo: POST /greet\n") || !strings.Contains(logs, "[compute0] echo: GET /\n") {
		t.Errorf("logs:\n%s", logs)
	}

	info := jsonOf(must("", "fn", "info", id, "--output", "json"))
	if info["state"] != "active" || info["escrow"] != "9000000" || len(info["replicas"].([]any)) != 1 {
		t.Errorf("info = %v", info)
	}

	// The reusable build: the same answers, from one instance.
	must("", "fn", "update", "echo", spec("echo-reactor", "echo-reactor.wasm", true))
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, code := cli("", "fn", "invoke", "echo", "--path", "/again", "--output", "json")
		if code == 0 && strings.Contains(fmt.Sprint(jsonOf(out)["body"]), "path=/again\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the update, invoke gives exit %d: %s", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if out := must("", "fn", "topup", "echo", "--amount", "1STR"); !strings.Contains(out, "escrow 10STR") {
		t.Errorf("topup: %s", out)
	}
	rm := jsonOf(must("", "fn", "rm", "echo", "--output", "json"))
	// What the replica's final report may charge is kept back for a
	// while; the rest is refunded now.
	refunded, _ := strconv.ParseUint(fmt.Sprint(rm["refunded"]), 10, 64)
	reserved, _ := strconv.ParseUint(fmt.Sprint(rm["reserved"]), 10, 64)
	if refunded+reserved != 10_000_000 || reserved == 0 {
		t.Errorf("rm = %v; want 10STR refunded or kept back", rm)
	}
	if _, stderr, code := cli("", "fn", "invoke", id); code != 6 && code != 3 {
		t.Errorf("invoke of a removed deployment: exit %d, stderr %q", code, stderr)
	}
}

func TestFormatNanoUstr(t *testing.T) {
	for n, want := range map[uint64]string{0: "0ustr", 16: "0.000000016ustr", 200_000_000: "0.2ustr", 1_000_000_000: "1ustr", 1_500_000_001: "1.500000001ustr"} {
		if got := formatNanoUstr(n); got != want {
			t.Errorf("formatNanoUstr(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCloseAdviceForReplicas: the ledger's refusal to close a replica's
// lease names the fn commands that close it.
func TestCloseAdviceForReplicas(t *testing.T) {
	in := errs.E(errs.Conflict, "transaction rejected: lease 2 is a replica of deployment 7 (echo): a replica's lease closes through its deployment, by lowering its scaling (functions/scale) or removing it (functions/remove), so that the usage served before the close stays billable")
	got := closeAdvice(in)
	want := "transaction rejected: lease 2 is a replica of deployment 7 (echo): a replica's lease closes through its deployment, with `stratus fn scale 7 --replicas N` or `stratus fn rm 7`, so that the usage served before the close stays billable"
	if got.Error() != want || errs.KindOf(got) != errs.Conflict {
		t.Errorf("closeAdvice = %q (%v), want %q (conflict)", got, errs.KindOf(got), want)
	}
	other := errs.E(errs.NotFound, "no lease 9")
	if closeAdvice(other) != other {
		t.Errorf("closeAdvice changed an unrelated error")
	}
}
