package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stratus-cloud/stratus/internal/testnet"
	"github.com/stratus-cloud/stratus/node"
)

// TestMain lets the test binary play `stratus`: testscript puts a copy of it
// named stratus on the scripts' PATH, and running that copy runs the CLI.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stratus": func() { os.Exit(run()) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script: every documented
// command, run as a user types it.
//
// Besides testscript's own commands the scripts have:
//
//	waitnode [-height N|+N] [HOME|URL]
//	    wait (60s at most) until the node running in HOME (default
//	    $HOME/.stratus/devnet), found through its node.json, or the API at
//	    URL, answers GET /v1/status with height >= N (default 2); +N means
//	    N blocks after the height it first answers with.
//	expectexit CODE COMMAND [ARGS...]
//	    run COMMAND and check its exit status. For a non-zero CODE, also
//	    check that stdout is empty and that stderr ends with the one line
//	    "Error: ...", the only one that starts with "Error:" (prompts or
//	    logs may come before it).
//	setenvjson NAME FILE PATH
//	    set $NAME to the value at PATH in the JSON document FILE (stdout and
//	    stderr mean the last command's output).
//	jsonfield FILE PATH WANT
//	    check that the value at PATH in FILE is WANT; with !, that it is not.
//	jsonsum FILE|URL TOTAL PATH...
//	    check that the integer at TOTAL equals the sum of the integers at the
//	    PATHs (JSON numbers or decimal strings, exactly); with !, that it
//	    does not. In these PATHs a segment '*' stands for every element of
//	    an array or object (split.*.paid, buckets.*), and =N is the integer
//	    N itself (=$REFUND, =-1000). An http(s) URL is fetched with GET
//	    instead of reading a file.
//	setenvtext NAME FILE
//	    set $NAME to the text of FILE without its final newline (stdout
//	    and stderr mean the last command's output): what the shell's
//	    NAME=$(command) does.
//	mkfile NAME SIZE SEED [OFFSET]
//	    write SIZE bytes to NAME: those from OFFSET (default 0) on of a
//	    pseudo-random stream that SEED picks, so that part of a file is
//	    the same command with an OFFSET.
//	httpget [-range SPEC] URL FILE
//	    GET URL, with the header "Range: SPEC" if given, and write the body
//	    to FILE; fail unless the status is 200 or 206. With !, fail unless it
//	    is neither.
//	flipbyte FILE PATH
//	    change one byte of the value at PATH in the JSON document FILE: the
//	    last byte of a hex or base64 string, a number plus one, or the last
//	    character of another string (audit_script_test.go).
//
// A PATH is dot-separated object keys and array indexes, "." for the whole
// document; a last segment '#' is the length of the array or object. Strings
// are compared unquoted, anything else as compact JSON.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			var vars []string
			for _, kv := range env.Vars {
				name, _, _ := strings.Cut(kv, "=")
				switch name {
				case "STRATUS_PASSPHRASE", "STRATUS_NODE", "STRATUS_HOME":
				default:
					vars = append(vars, kv)
				}
			}
			env.Vars = vars
			// The default home, ~/.stratus/devnet, is then inside $WORK.
			env.Setenv("HOME", env.WorkDir)
			// Never leave a testnet's processes behind, whatever the script did.
			env.Defer(func() { stopTestnets(env.WorkDir) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitnode":   cmdWaitNode,
			"expectexit": cmdExpectExit,
			"setenvjson": cmdSetenvJSON,
			"jsonfield":  cmdJSONField,
			"jsonsum":    cmdJSONSum,
			"setenvtext": cmdSetenvText,
			"mkfile":     cmdMkfile,
			"wasmbuild":  cmdWasmBuild,
			"httpget":    cmdHTTPGet,
			"webserver":  cmdWebServer,
			"flipbyte":   cmdFlipByte, // audit_script_test.go
		},
	})
}

// stopTestnets stops every testnet laid out directly under dir.
func stopTestnets(dir string) {
	homes, _ := filepath.Glob(filepath.Join(dir, "*", "validator0"))
	for _, h := range homes {
		testnet.Stop(filepath.Dir(h))
	}
}

func cmdWaitNode(ts *testscript.TestScript, neg bool, args []string) {
	usage := "usage: waitnode [-height N|+N] [HOME|URL]"
	if neg {
		ts.Fatalf("unsupported: ! waitnode")
	}
	minHeight, relative := int64(2), false
	if len(args) >= 2 && args[0] == "-height" {
		n, rel := strings.CutPrefix(args[1], "+")
		h, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			ts.Fatalf("%s: bad height %q", usage, args[1])
		}
		minHeight, relative, args = h, rel, args[2:]
	}
	target := filepath.Join(ts.Getenv("HOME"), ".stratus", "devnet")
	switch len(args) {
	case 0:
	case 1:
		target = args[0]
		if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
			target = ts.MkAbs(target)
		}
	default:
		ts.Fatalf("%s", usage)
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	const timeout = 60 * time.Second
	deadline := time.Now().Add(timeout)
	var last error
	for {
		api, height, err := nodeHeight(hc, target)
		if err == nil && relative {
			minHeight, relative = height+minHeight, false
		}
		if err == nil && height >= minHeight {
			ts.Logf("node %s is at height %d", api, height)
			return
		}
		if err == nil {
			err = fmt.Errorf("height %d < %d", height, minHeight)
		}
		last = err
		if time.Now().After(deadline) {
			ts.Fatalf("node %s not ready within %v: %v", target, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeHeight finds the API of target (a URL, or a home with a node.json) and
// returns the height its /v1/status reports.
func nodeHeight(hc *http.Client, target string) (string, int64, error) {
	api := target
	if !strings.HasPrefix(target, "http") {
		rt, err := node.ReadRuntime(target)
		if err != nil {
			return "", 0, fmt.Errorf("no runtime file: %w", err)
		}
		if rt.API == "" {
			return "", 0, fmt.Errorf("%s has no api", node.RuntimeFile(target))
		}
		api = rt.API
	}
	resp, err := hc.Get(strings.TrimSuffix(api, "/") + "/v1/status")
	if err != nil {
		return api, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api, 0, fmt.Errorf("GET /v1/status: %s", resp.Status)
	}
	var st struct {
		Height int64 `json:"height"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return api, 0, fmt.Errorf("GET /v1/status: %w", err)
	}
	return api, st.Height, nil
}

var errorLine = regexp.MustCompile(`(?m)^Error:`)

// endsWithOneErrorLine reports whether stderr ends with the line
// "Error: ..." and has no other line that starts with "Error:".
func endsWithOneErrorLine(stderr string) bool {
	body, ok := strings.CutSuffix(stderr, "\n")
	if !ok {
		return false
	}
	last := body[strings.LastIndexByte(body, '\n')+1:]
	return strings.HasPrefix(last, "Error: ") && len(errorLine.FindAllStringIndex(stderr, -1)) == 1
}

func cmdExpectExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! expectexit")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: expectexit CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("usage: expectexit CODE COMMAND [ARGS...]: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
	if want == 0 {
		return
	}
	if out := ts.ReadFile("stdout"); out != "" {
		ts.Fatalf("%s failed but wrote to stdout", args[1])
	}
	if !endsWithOneErrorLine(ts.ReadFile("stderr")) {
		ts.Fatalf("%s failed, but stderr does not end with its one line `Error: ...`", args[1])
	}
}

func cmdSetenvJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setenvjson NAME FILE PATH")
	}
	v, err := jsonLookup(ts.ReadFile(args[1]), args[2])
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	ts.Setenv(args[0], v)
}

func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonfield FILE PATH WANT")
	}
	got, err := jsonLookup(ts.ReadFile(args[0]), args[1])
	if err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	switch {
	case !neg && got != args[2]:
		ts.Fatalf("%s: %s is %q, want %q", args[0], args[1], got, args[2])
	case neg && got == args[2]:
		ts.Fatalf("%s: %s is %q, want anything else", args[0], args[1], got)
	}
}

// jsonLookup returns the value at path in the JSON document doc: a string
// unquoted, anything else as compact JSON.
func jsonLookup(doc, path string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("not JSON: %v", err)
	}
	if path != "." && path != "" {
		for seg := range strings.SplitSeq(path, ".") {
			switch x := v.(type) {
			case map[string]any:
				if seg == "#" {
					v = json.Number(strconv.Itoa(len(x)))
					continue
				}
				f, ok := x[seg]
				if !ok {
					return "", fmt.Errorf("no field %q in %s", seg, path)
				}
				v = f
			case []any:
				if seg == "#" {
					v = json.Number(strconv.Itoa(len(x)))
					continue
				}
				i, err := strconv.Atoi(seg)
				if err != nil || i < 0 || i >= len(x) {
					return "", fmt.Errorf("no element %q in %s (length %d)", seg, path, len(x))
				}
				v = x[i]
			default:
				return "", fmt.Errorf("%s: %q is inside a %T", path, seg, v)
			}
		}
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func cmdJSONSum(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: jsonsum FILE|URL TOTAL PATH...")
	}
	var doc string
	if strings.HasPrefix(args[0], "http://") || strings.HasPrefix(args[0], "https://") {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(args[0])
		if err != nil {
			ts.Fatalf("GET %s: %v", args[0], err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			ts.Fatalf("GET %s: %s %v", args[0], resp.Status, err)
		}
		doc = string(b)
		ts.Logf("GET %s: %s", args[0], strings.TrimSpace(doc))
	} else {
		doc = ts.ReadFile(args[0])
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		ts.Fatalf("%s: not JSON: %v", args[0], err)
	}
	ints := func(path string) []*big.Int {
		if lit, ok := strings.CutPrefix(path, "="); ok {
			n, ok := new(big.Int).SetString(lit, 10)
			if !ok {
				ts.Fatalf("jsonsum: %q is not an integer", path)
			}
			return []*big.Int{n}
		}
		vals, err := jsonSelect(v, path)
		if err != nil {
			ts.Fatalf("%s: %v", args[0], err)
		}
		out := make([]*big.Int, len(vals))
		for i, x := range vals {
			s := fmt.Sprint(x)
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				ts.Fatalf("%s: %s holds %q, not an integer", args[0], path, s)
			}
			out[i] = n
		}
		return out
	}
	total := ints(args[1])
	if len(total) != 1 {
		ts.Fatalf("%s: %s selects %d values, want 1", args[0], args[1], len(total))
	}
	sum := new(big.Int)
	var terms []string
	for _, p := range args[2:] {
		for _, n := range ints(p) {
			sum.Add(sum, n)
			terms = append(terms, n.String())
		}
	}
	eq := total[0].Cmp(sum) == 0
	switch {
	case !neg && !eq:
		ts.Fatalf("%s: %s is %s, but %s = %s", args[0], args[1], total[0], strings.Join(terms, " + "), sum)
	case neg && eq:
		ts.Fatalf("%s: %s is %s = %s, want anything else", args[0], args[1], strings.Join(terms, " + "), sum)
	}
}

// jsonSelect returns the values at path in v, where a segment '*' fans out
// over every element of an array or object.
func jsonSelect(v any, path string) ([]any, error) {
	cur := []any{v}
	if path == "." || path == "" {
		return cur, nil
	}
	for seg := range strings.SplitSeq(path, ".") {
		var next []any
		for _, x := range cur {
			switch x := x.(type) {
			case map[string]any:
				if seg == "*" {
					for _, e := range x {
						next = append(next, e)
					}
					continue
				}
				f, ok := x[seg]
				if !ok {
					return nil, fmt.Errorf("no field %q in %s", seg, path)
				}
				next = append(next, f)
			case []any:
				if seg == "*" {
					next = append(next, x...)
					continue
				}
				i, err := strconv.Atoi(seg)
				if err != nil || i < 0 || i >= len(x) {
					return nil, fmt.Errorf("no element %q in %s (length %d)", seg, path, len(x))
				}
				next = append(next, x[i])
			default:
				return nil, fmt.Errorf("%s: %q is inside a %T", path, seg, x)
			}
		}
		cur = next
	}
	return cur, nil
}

func cmdSetenvText(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setenvtext NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSuffix(ts.ReadFile(args[1]), "\n"))
}

func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	usage := "usage: mkfile NAME SIZE SEED [OFFSET]"
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("%s", usage)
	}
	var n [3]int64
	for i, a := range args[1:] {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil || v < 0 {
			ts.Fatalf("%s: %q is not a number of bytes", usage, a)
		}
		n[i] = v
	}
	size, seed, off := n[0], n[1], n[2]
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], uint64(seed))
	src := rand.NewChaCha8(key)
	if _, err := io.CopyN(io.Discard, src, off); err != nil {
		ts.Fatalf("mkfile: %v", err)
	}
	f, err := os.Create(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("mkfile: %v", err)
	}
	_, err = io.CopyN(f, src, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		ts.Fatalf("mkfile: %v", err)
	}
}

func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	usage := "usage: httpget [-range SPEC] URL FILE"
	var rng string
	if len(args) >= 2 && args[0] == "-range" {
		rng, args = args[1], args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf("%s", usage)
	}
	req, err := http.NewRequest(http.MethodGet, args[0], nil)
	if err != nil {
		ts.Fatalf("%s: %v", usage, err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		ts.Fatalf("GET %s: %v", args[0], err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		ts.Fatalf("GET %s: %v", args[0], err)
	}
	ts.Logf("GET %s (Range %q): %s, %d bytes", args[0], rng, resp.Status, len(body))
	if err := os.WriteFile(ts.MkAbs(args[1]), body, 0o644); err != nil {
		ts.Fatalf("httpget: %v", err)
	}
	ok := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent
	switch {
	case !neg && !ok:
		ts.Fatalf("GET %s: %s: %s", args[0], resp.Status, body)
	case neg && ok:
		ts.Fatalf("GET %s: %s, want an error status", args[0], resp.Status)
	}
}

// webserver VAR
//
//	start a web server that is not a Stratus node (it answers every
//	request with Go's plain "404 page not found") on a loopback port, and
//	set $VAR to its URL. It stops when the script ends.
func cmdWebServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: webserver VAR")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

// wasmbuild OUT [-reactor]
//
//	build examples/echo-go for wasip1 into OUT (with -reactor as a
//	reusable WAGI reactor, -buildmode=c-shared), with the test's own go
//	tool, environment and build cache.
func cmdWasmBuild(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "-reactor" {
		ts.Fatalf("usage: wasmbuild OUT [-reactor]")
	}
	flags := []string{"build"}
	if len(args) == 2 {
		flags = append(flags, "-buildmode=c-shared")
	}
	flags = append(flags, "-o", ts.MkAbs(args[0]), "../../examples/echo-go")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), flags...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		ts.Fatalf("go %s: %v\n%s", strings.Join(flags, " "), err, b)
	}
}
