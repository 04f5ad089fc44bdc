package node

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/wagi"
)

// buildEcho builds examples/echo-go, which answers with its whole CGI
// environment, as a WASI command.
func buildEcho(t *testing.T) []byte {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatal("no go tool to build examples/echo-go")
		}
	}
	out := filepath.Join(t.TempDir(), "echo.wasm")
	cmd := exec.Command(gobin, "build", "-o", out, "../examples/echo-go")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo-go: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Attack 12: a caller sends X_Forwarded_For (and friends) beside, or
// instead of, the X-Forwarded-* headers the gateway sets. Both used to
// become HTTP_X_FORWARDED_FOR, and map order chose which one the function
// saw (the attacker's won 177 of 200 calls). Through the gateway to a real
// function, the gateway's values win every one of 200 calls, and the
// caller's values reach the function under no name.
func TestGatewayForwardedHeadersCannotBeSpoofed(t *testing.T) {
	ctx := context.Background()
	rt, err := wagi.New(ctx, wagi.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.Compile(ctx, buildEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	prov := httptestServer(t, &wagi.Handler{Module: mod, ScriptName: "/fn/7", MatchedRoute: "/..."})
	gw := testGateway(t, func() []fnTarget { return []fnTarget{{endpoint: prov}} })
	gwHost := strings.TrimPrefix(gw.URL, "http://")

	const evil = "6.6.6.6"
	for i := range 200 {
		req, _ := http.NewRequest("GET", gw.URL+"/fn/7/who", nil)
		for _, k := range []string{"X_Forwarded_For", "X-Forwarded-For", "X_FORWARDED_FOR", "x_forwarded_for", "X.Forwarded.For"} {
			req.Header[k] = []string{evil}
		}
		for _, k := range []string{"X_Forwarded_Host", "X-Forwarded-Host", "X_Forwarded_Proto", "Forwarded"} {
			req.Header[k] = []string{"evil.example"}
		}
		resp, err := gw.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, b)
		}
		env := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "env.") {
				env[strings.TrimPrefix(k, "env.")] = v
			}
		}
		want := map[string]string{"HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_X_FORWARDED_HOST": gwHost, "HTTP_X_FORWARDED_PROTO": "http"}
		for k, v := range want {
			if env[k] != v {
				t.Fatalf("call %d: the function saw %s=%q, want the gateway's %q", i, k, env[k], v)
			}
		}
		if strings.Contains(string(b), evil) || strings.Contains(string(b), "evil.example") {
			t.Fatalf("call %d: the caller's value reached the function:\n%s", i, b)
		}
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
