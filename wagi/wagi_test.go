package wagi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
)

// Built once in TestMain from examples/echo-go.
var (
	echoWasm         []byte // WASI command: a fresh instance per call
	echoReactorWasm  []byte // c-shared build: exports wagi_serve, reusable
	sharedCacheDir   string // compilation cache shared by the tests
	errTestMainSetup error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wagi-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCacheDir = filepath.Join(dir, "cache")
	echoWasm, err = buildGo(dir, "echo.wasm")
	if err == nil {
		echoReactorWasm, err = buildGo(dir, "echo-reactor.wasm", "-buildmode=c-shared")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build examples/echo-go:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() (string, error) {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p, nil
	}
	return exec.LookPath("go")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func buildGo(dir, name string, flags ...string) ([]byte, error) {
	gobin, err := goTool()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, name)
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", out, "../examples/echo-go")
	cmd := exec.Command(gobin, args...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return os.ReadFile(out)
}

func newRuntime(t testing.TB, dir string) *Runtime {
	t.Helper()
	if dir == "" {
		dir = sharedCacheDir
	}
	rt, err := New(context.Background(), Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

func compile(t testing.TB, rt *Runtime, wasm []byte) *Module {
	t.Helper()
	m, err := rt.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// echoed is what examples/echo-go printed, split up.
type echoed struct {
	method, path, query string
	headers, env        map[string]string
	body                string
}

func parseEcho(t *testing.T, resp *Response) echoed {
	t.Helper()
	if resp.Status != 200 || resp.Header.Get("X-Echo") != "1" {
		t.Fatalf("status %d, headers %v, body %q", resp.Status, resp.Header, resp.Body)
	}
	text, body, ok := strings.Cut(string(resp.Body), "\nbody=")
	if !ok {
		t.Fatalf("no body= in %q", resp.Body)
	}
	e := echoed{headers: map[string]string{}, env: map[string]string{}, body: body}
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch {
		case k == "method":
			e.method = v
		case k == "path":
			e.path = v
		case k == "query":
			e.query = v
		case strings.HasPrefix(k, "header."):
			e.headers[strings.TrimPrefix(k, "header.")] = v
		case strings.HasPrefix(k, "env."):
			e.env[strings.TrimPrefix(k, "env.")] = v
		}
	}
	return e
}

func TestWAGIEnvironment(t *testing.T) {
	rt := newRuntime(t, "")
	command := compile(t, rt, echoWasm)
	reactor := compile(t, rt, echoReactorWasm)
	if command.Reusable() || !reactor.Reusable() {
		t.Fatalf("Reusable: command %v, reactor %v", command.Reusable(), reactor.Reusable())
	}
	base := map[string]string{
		"AUTH_TYPE":         "",
		"GATEWAY_INTERFACE": "CGI/1.1",
		"REMOTE_ADDR":       "203.0.113.7",
		"REMOTE_HOST":       "203.0.113.7",
		"REMOTE_PORT":       "51234",
		"REMOTE_USER":       "",
		"SCRIPT_NAME":       "/fn/echo",
		"SERVER_NAME":       "gw.example",
		"SERVER_PORT":       "8080",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_SOFTWARE":   "Stratus-WAGI/1",
		"X_MATCHED_ROUTE":   "/...",
		"HTTP_HOST":         "gw.example:8080",
		"GREETING":          "hello world",
	}
	tests := []struct {
		name     string
		method   string
		target   string
		header   http.Header
		body     string
		wantEnv  map[string]string // on top of base
		wantBody string
	}{
		{
			name: "GET", method: "GET", target: "/fn/echo/",
			wantEnv: map[string]string{
				"REQUEST_METHOD": "GET", "PATH_INFO": "/", "PATH_TRANSLATED": "/", "X_RAW_PATH_INFO": "/",
				"QUERY_STRING": "", "REQUEST_URI": "/fn/echo/", "X_FULL_URL": "http://gw.example:8080/fn/echo/",
			},
		},
		{
			name: "GET with query", method: "GET", target: "/fn/echo/items/42?a=1&b=two%20words&a=3",
			wantEnv: map[string]string{
				"REQUEST_METHOD": "GET", "PATH_INFO": "/items/42", "PATH_TRANSLATED": "/items/42", "X_RAW_PATH_INFO": "/items/42",
				"QUERY_STRING": "a=1&b=two%20words&a=3", "REQUEST_URI": "/fn/echo/items/42?a=1&b=two%20words&a=3",
				"X_FULL_URL": "http://gw.example:8080/fn/echo/items/42?a=1&b=two%20words&a=3",
			},
		},
		{
			name: "POST with body", method: "POST", target: "/fn/echo/submit",
			header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {"27"}},
			body:   `{"name":"stratus","n":[1]}` + "\n",
			wantEnv: map[string]string{
				"REQUEST_METHOD": "POST", "PATH_INFO": "/submit", "PATH_TRANSLATED": "/submit", "X_RAW_PATH_INFO": "/submit",
				"QUERY_STRING": "", "REQUEST_URI": "/fn/echo/submit", "X_FULL_URL": "http://gw.example:8080/fn/echo/submit",
				"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "27",
			},
			wantBody: `{"name":"stratus","n":[1]}` + "\n",
		},
		{
			name: "headers", method: "PUT", target: "/fn/echo/h?x=y",
			header: http.Header{
				"Accept":          {"text/html"},
				"X-Multi":         {"one", "two"},
				"X-Request-Id":    {"abc-123"},
				"Authorization":   {"Bearer t0ken"},
				"Proxy":           {"http://evil.example"},
				"Accept-Encoding": {"gzip"},
			},
			wantEnv: map[string]string{
				"REQUEST_METHOD": "PUT", "PATH_INFO": "/h", "PATH_TRANSLATED": "/h", "X_RAW_PATH_INFO": "/h",
				"QUERY_STRING": "x=y", "REQUEST_URI": "/fn/echo/h?x=y", "X_FULL_URL": "http://gw.example:8080/fn/echo/h?x=y",
				"HTTP_ACCEPT": "text/html", "HTTP_X_MULTI": "one, two", "HTTP_X_REQUEST_ID": "abc-123",
				"HTTP_AUTHORIZATION": "Bearer t0ken", "HTTP_ACCEPT_ENCODING": "gzip",
			},
		},
	}
	for _, mod := range []*Module{command, reactor} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/reusable=%v", tt.name, mod.Reusable()), func(t *testing.T) {
				r := httptest.NewRequest(tt.method, "http://gw.example:8080"+tt.target, strings.NewReader(tt.body))
				r.RemoteAddr = "203.0.113.7:51234"
				for k, vs := range tt.header {
					r.Header[k] = vs
				}
				req := NewRequest(r, "/fn/echo", "/...")
				req.DeploymentEnv = map[string]string{"GREETING": "hello world", "PATH_INFO": "overridden by CGI"}
				resp, err := mod.Serve(context.Background(), req, Limits{})
				if err != nil {
					t.Fatal(err)
				}
				got := parseEcho(t, resp)
				want := map[string]string{}
				for k, v := range base {
					want[k] = v
				}
				for k, v := range tt.wantEnv {
					want[k] = v
				}
				for k, v := range want {
					if g, ok := got.env[k]; !ok || g != v {
						t.Errorf("env %s = %q (present %v), want %q", k, g, ok, v)
					}
				}
				for k, v := range got.env {
					if _, ok := want[k]; !ok {
						t.Errorf("unexpected env %s=%q", k, v)
					}
				}
				if got.method != tt.method || got.path != want["PATH_INFO"] || got.query != want["QUERY_STRING"] {
					t.Errorf("echo line: method %q path %q query %q", got.method, got.path, got.query)
				}
				if got.body != tt.wantBody {
					t.Errorf("body = %q, want %q", got.body, tt.wantBody)
				}
				if resp.Usage.Wall <= 0 || resp.Usage.MemoryBytes == 0 {
					t.Errorf("usage not recorded: %+v", resp.Usage)
				}
			})
		}
	}
}

func TestHelloWat(t *testing.T) {
	src, err := os.ReadFile("../examples/hello-wat/hello.wat")
	if err != nil {
		t.Fatal(err)
	}
	if lit := strings.ReplaceAll(helloText, "\n", `\n`); !bytes.Contains(src, []byte(`"`+lit+`"`)) {
		t.Fatalf("hello.wat no longer prints %q; keep it and helloWasm in sync", helloText)
	}
	if !bytes.Contains(src, []byte(`\10\00\00\00\29\00\00\00`)) {
		t.Fatal("hello.wat's iovec no longer matches helloWasm")
	}
	rt := newRuntime(t, t.TempDir())
	m := compile(t, rt, helloWasm())
	resp, err := m.Serve(context.Background(), &Request{}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Header.Get("Content-Type") != "text/plain" || string(resp.Body) != "hello from wat\n" {
		t.Fatalf("got %d %v %q", resp.Status, resp.Header, resp.Body)
	}
	if resp.Usage.MemoryBytes != pageSize || resp.Usage.Reused {
		t.Errorf("usage = %+v, want one page, not reused", resp.Usage)
	}
}

func TestHostileModules(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	tests := []struct {
		name   string
		wasm   []byte
		limits Limits
		want   error
		kind   errs.Kind
		status int
	}{
		{"infinite loop", loopWasm(), Limits{Timeout: 200 * time.Millisecond}, ErrTimeout, errs.Timeout, 504},
		{"memory bomb", memoryBombWasm(), Limits{MemoryBytes: 8 << 20}, ErrMemoryLimit, errs.TooLarge, 507},
		{"huge output", floodWasm(), Limits{MaxResponseBytes: 1 << 20}, ErrResponseTooLarge, errs.TooLarge, 502},
		{"trap", trapWasm(), Limits{}, ErrTrap, errs.Internal, 502},
		{"fails to instantiate", unknownWASIWasm(), Limits{}, ErrInstantiate, errs.Internal, 502},
		{"initial memory over limit", startModule(nil, 200), Limits{MemoryBytes: 1 << 20}, ErrMemoryLimit, errs.TooLarge, 507},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compile(t, rt, tt.wasm)
			var log LogBuffer
			resp, err := m.Serve(context.Background(), &Request{Log: &log}, tt.limits)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if errs.KindOf(err) != tt.kind || HTTPStatus(err) != tt.status {
				t.Errorf("kind %s status %d, want %s %d", errs.KindOf(err), HTTPStatus(err), tt.kind, tt.status)
			}
			if resp != nil && (resp.Status != tt.status || resp.Header.Get("X-Stratus-Function-Error") != Reason(err)) {
				t.Errorf("error response %d %v", resp.Status, resp.Header)
			}
			if resp != nil && !strings.Contains(log.String(), "[stratus] call failed ("+Reason(err)+")") {
				t.Errorf("log = %q, want the failure", log.String())
			}
			t.Logf("%s: %v", Reason(err), err)
		})
	}
}

func TestCompileRejects(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	for name, wasm := range map[string][]byte{
		"not wasm":       []byte("#!/bin/sh\necho hi\n"),
		"truncated":      helloWasm()[:20],
		"foreign import": foreignImportWasm(),
		"no entry point": wasmModule{funcs: []wasmFunc{{export: "main", sig: sigVoid}}}.encode(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rt.Compile(context.Background(), wasm)
			if !errors.Is(err, ErrInvalidModule) || errs.KindOf(err) != errs.Invalid {
				t.Fatalf("err = %v, want ErrInvalidModule", err)
			}
			t.Log(err)
		})
	}
}

// TestIsolation runs hostile modules while good calls keep succeeding.
func TestIsolation(t *testing.T) {
	rt := newRuntime(t, "")
	hostile := []struct {
		wasm   []byte
		limits Limits
	}{
		{loopWasm(), Limits{Timeout: 300 * time.Millisecond}},
		{memoryBombWasm(), Limits{MemoryBytes: 32 << 20}},
		{floodWasm(), Limits{MaxResponseBytes: 2 << 20}},
		{trapWasm(), Limits{}},
		{unknownWASIWasm(), Limits{}},
	}
	good := compile(t, rt, echoWasm)
	hello := compile(t, rt, helloWasm())
	ctx := context.Background()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, h := range hostile {
		m := compile(t, rt, h.wasm)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.Serve(ctx, &Request{}, h.limits); err == nil {
					t.Errorf("hostile module succeeded")
				}
			}()
		}
	}
	go func() { wg.Wait(); close(done) }()
	var goodWG sync.WaitGroup
	calls := 0
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			goodWG.Add(2)
			calls += 2
			go func() {
				defer goodWG.Done()
				body := fmt.Sprintf("call %d", i)
				resp, err := good.Serve(ctx, &Request{Method: "POST", Body: strings.NewReader(body)}, Limits{})
				if err != nil || !strings.HasSuffix(string(resp.Body), "body="+body) {
					t.Errorf("good call %d: %v", i, err)
				}
			}()
			go func() {
				defer goodWG.Done()
				resp, err := hello.Serve(ctx, &Request{}, Limits{})
				if err != nil || string(resp.Body) != "hello from wat\n" {
					t.Errorf("hello call %d: %v", i, err)
				}
			}()
			goodWG.Wait()
			continue
		}
		break
	}
	t.Logf("%d good calls ran during the hostile ones", calls)
}

func TestConcurrencyLimit(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	m := compile(t, rt, loopWasm())
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := m.Serve(ctx, &Request{}, Limits{MaxConcurrency: 1, Timeout: time.Minute})
		first <- err
	}()
	for {
		m.gate.mu.Lock()
		active := m.gate.active
		m.gate.mu.Unlock()
		if active == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := m.Serve(context.Background(), &Request{}, Limits{MaxConcurrency: 1, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrBusy) || HTTPStatus(err) != 503 || resp != nil {
		t.Fatalf("second call: %v, want ErrBusy", err)
	}
	cancel()
	if err := <-first; errs.KindOf(err) != errs.Unavailable || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v", err)
	}
	// The slot is free again.
	if _, err := m.Serve(context.Background(), &Request{}, Limits{MaxConcurrency: 1, Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("third call: %v, want ErrTimeout", err)
	}
}

func TestRequestTooLarge(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	m := compile(t, rt, helloWasm())
	resp, err := m.Serve(context.Background(), &Request{Body: strings.NewReader("12345678901")}, Limits{MaxRequestBytes: 10})
	if !errors.Is(err, ErrRequestTooLarge) || HTTPStatus(err) != 413 || resp != nil {
		t.Fatalf("err = %v", err)
	}
}

func TestCompilationCacheSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	snapshot := func() map[string]string {
		files := map[string]string{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				info, _ := d.Info()
				files[p] = fmt.Sprint(info.Size(), info.ModTime().UnixNano())
			}
			return nil
		})
		return files
	}
	ctx := context.Background()
	rt1, err := New(ctx, Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := rt1.Compile(ctx, echoWasm)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rt1.Compile(ctx, echoWasm)
	if err != nil || again.c != m1.c {
		t.Fatalf("second Compile in the same Runtime did not reuse the code: %v", err)
	}
	rt1.Close(ctx)
	before := snapshot()
	if len(before) == 0 {
		t.Fatal("no files in the compilation cache")
	}
	rt2 := newRuntime(t, dir)
	m2 := compile(t, rt2, echoWasm)
	if after := snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("cache files changed on restart:\nbefore %v\nafter  %v", before, after)
	}
	if m2.Hash() != m1.Hash() {
		t.Fatal("hash differs")
	}
	resp, err := m2.Serve(ctx, &Request{Path: "/after-restart"}, Limits{})
	if err != nil || parseEcho(t, resp).path != "/after-restart" {
		t.Fatalf("serve after restart: %v", err)
	}
}

func TestReusableModule(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	m := compile(t, rt, counterWasm())
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		resp, err := m.Serve(ctx, &Request{}, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("call %d\n", i); string(resp.Body) != want {
			t.Errorf("call %d: body %q, want %q", i, resp.Body, want)
		}
		if resp.Usage.Reused != (i > 1) || (i > 1) != (resp.Usage.Start == 0) {
			t.Errorf("call %d: usage %+v", i, resp.Usage)
		}
	}
	// A fresh Module handle for the same code has its own pool, pre-warmed.
	m2 := compile(t, rt, counterWasm())
	if err := m2.Prewarm(ctx, 2, nil, Limits{}); err != nil {
		t.Fatal(err)
	}
	resp, err := m2.Serve(ctx, &Request{}, Limits{})
	if err != nil || !resp.Usage.Reused || string(resp.Body) != "call 1\n" {
		t.Fatalf("prewarmed call: %v %+v %q", err, resp.Usage, resp.Body)
	}
}

func TestLogIsBounded(t *testing.T) {
	rt := newRuntime(t, "")
	m := compile(t, rt, echoWasm)
	var log LogBuffer
	if _, err := m.Serve(context.Background(), &Request{Method: "DELETE", Path: "/x", Log: &log}, Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := log.String(); got != "echo: DELETE /x\n" {
		t.Fatalf("log = %q", got)
	}
	var small LogBuffer
	if _, err := m.Serve(context.Background(), &Request{Path: "/long/path", Log: &small}, Limits{MaxLogBytes: 4}); err != nil {
		t.Fatal(err)
	}
	if got := small.String(); got != "echo\n[stratus: log output truncated]\n" {
		t.Fatalf("log = %q", got)
	}
}

func TestHandler(t *testing.T) {
	rt := newRuntime(t, "")
	var usage []Usage
	h := &Handler{Module: compile(t, rt, echoWasm), ScriptName: "/fn/echo", Env: map[string]string{"A": "b"},
		OnCall: func(u Usage, err error) { usage = append(usage, u) }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Post(srv.URL+"/fn/echo/p?q=1", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(b, []byte("env.A=b\n")) || !bytes.Contains(b, []byte("path=/p\nquery=q=1\n")) || !bytes.HasSuffix(b, []byte("body=hi")) {
		t.Fatalf("%d %q", res.StatusCode, b)
	}
	if len(usage) != 1 || usage[0].Wall == 0 {
		t.Fatalf("usage %+v", usage)
	}
}

func TestParseCGI(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		status  int
		header  http.Header
		body    string
		wantErr bool
	}{
		{"content type", "Content-Type: text/html\n\n<p>hi</p>", 200, http.Header{"Content-Type": {"text/html"}}, "<p>hi</p>", false},
		{"status and crlf", "Status: 404 Not Found\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nnope", 404, http.Header{"Content-Type": {"text/plain"}, "X-A": {"1"}}, "nope", false},
		{"location", "Location: /elsewhere\n\n", 302, http.Header{"Location": {"/elsewhere"}}, "", false},
		{"location with status", "Status: 301 Moved\nLocation: https://x.example/\n\n", 301, http.Header{"Location": {"https://x.example/"}}, "", false},
		{"no headers", "just text\nmore\n", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "just text\nmore\n", false},
		{"no blank line", "Content-Type: text/plain", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "Content-Type: text/plain", false},
		{"empty", "", 0, nil, "", true},
		{"bad status", "Status: teapot\n\n", 0, nil, "", true},
		{"no required header", "X-Only: 1\n\nbody", 0, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body, err := parseCGI([]byte(tt.out))
			if tt.wantErr {
				if !errors.Is(err, ErrBadResponse) || HTTPStatus(err) != 502 {
					t.Fatalf("err = %v, want ErrBadResponse", err)
				}
				return
			}
			if err != nil || status != tt.status || fmt.Sprint(header) != fmt.Sprint(tt.header) || string(body) != tt.body {
				t.Fatalf("got %d %v %q %v, want %d %v %q", status, header, body, err, tt.status, tt.header, tt.body)
			}
		})
	}
}

func TestColdStart(t *testing.T) {
	rt := newRuntime(t, "")
	for name, wasm := range map[string][]byte{"hello-wat": helloWasm(), "echo-go": echoWasm, "echo-go-reactor": echoReactorWasm} {
		m := compile(t, rt, wasm)
		d, err := m.ColdStart(context.Background(), Limits{})
		if err != nil || d <= 0 {
			t.Fatalf("%s: %v %v", name, d, err)
		}
		t.Logf("cold start %s: %v", name, d)
	}
}

func BenchmarkServe(b *testing.B) {
	rt := newRuntime(b, "")
	for _, bc := range []struct {
		name string
		wasm []byte
	}{{"hello-wat", helloWasm()}, {"echo-go", echoWasm}, {"echo-go-reusable", echoReactorWasm}} {
		b.Run(bc.name, func(b *testing.B) {
			m := compile(b, rt, bc.wasm)
			cold, err := m.ColdStart(context.Background(), Limits{})
			if err != nil {
				b.Fatal(err)
			}
			limits := Limits{MaxConcurrency: runtime.GOMAXPROCS(0)}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Serve(context.Background(), &Request{Path: "/bench"}, limits); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cold.Microseconds())/1000, "cold_start_ms")
		})
	}
}

func TestFailedReusableInstanceIsDiscarded(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	spin := wasmModule{
		funcs:    []wasmFunc{{export: ExportServe, sig: sigVoid, body: []byte{opLoop, blockVoid, opBr, 0, opEnd}}},
		memPages: 1,
	}.encode()
	m := compile(t, rt, spin)
	for range 2 {
		_, err := m.Serve(context.Background(), &Request{}, Limits{Timeout: 100 * time.Millisecond})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if n := len(m.idle); n != 0 {
			t.Fatalf("%d failed instances kept for reuse", n)
		}
	}
}
