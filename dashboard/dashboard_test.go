package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/dashboard"
)

// server is an API server with the dashboard mounted, and no backend: the
// dashboard's routes never call one.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	s := api.NewServer(nil, api.Options{})
	dashboard.Mount(s)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestServesTheDashboard(t *testing.T) {
	srv := server(t)
	for _, c := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/ui/app.js">`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "import"},
		{"/ui/style.css", "text/css; charset=utf-8", ":root"},
		{"/ui/audit.js", "text/javascript; charset=utf-8", "rootFromInclusion"},
	} {
		resp, body := get(t, srv.URL+c.path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.contains, strings.Contains(body, c.contains))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want scripts from the node only, nothing unsafe, no framing", c.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", c.path, resp.Header.Get("X-Content-Type-Options"))
		}
		// A browser revalidates, and gets 304 for what it has.
		etag := resp.Header.Get("ETag")
		if resp.Header.Get("Cache-Control") != "no-cache" || etag == "" {
			t.Errorf("GET %s: Cache-Control %q, ETag %q", c.path, resp.Header.Get("Cache-Control"), etag)
			continue
		}
		if again, _ := get(t, srv.URL+c.path, "If-None-Match", etag); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", c.path, again.StatusCode)
		}
	}
}

// TestLeavesTheAPIAlone checks that the dashboard answers only its own
// paths: the API's unknown routes still get the API's problems.
func TestLeavesTheAPIAlone(t *testing.T) {
	srv := server(t)
	for _, c := range []struct {
		method, path string
		status       int
		problem      bool
	}{
		{"GET", "/v1/nothing", http.StatusNotFound, true},
		{"GET", "/index.html", http.StatusNotFound, true},
		{"GET", "/v1/", http.StatusNotFound, true},
		{"POST", "/", http.StatusMethodNotAllowed, true},
		{"GET", "/ui/", http.StatusNotFound, false},
		{"GET", "/ui/index.html", http.StatusNotFound, false},
		{"GET", "/ui/missing.js", http.StatusNotFound, false},
		{"GET", "/ui/../go.mod", http.StatusNotFound, true},
		{"GET", "/ui/%2e%2e/dashboard.go", http.StatusNotFound, false},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		isProblem := resp.Header.Get("Content-Type") == api.ProblemContentType
		if resp.StatusCode != c.status || isProblem != c.problem {
			t.Errorf("%s %s: %d %q, want %d (problem: %v)", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.problem)
		}
	}
}

// TestModulesResolve checks the page's scripts statically: every module
// one imports is embedded, and index.html has no inline script (the
// Content-Security-Policy would refuse it).
func TestModulesResolve(t *testing.T) {
	srv := server(t)
	_, index := get(t, srv.URL+"/")
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(index, -1) {
		if !strings.Contains(tag, `src="/ui/`) {
			t.Errorf("index.html has an inline script %s", tag)
		}
	}
	imports := regexp.MustCompile(`(?m)^import .* from '\./([a-z0-9]+\.js)';$|import\('/ui/([a-z0-9]+\.js)'\)`)
	seen := map[string]bool{}
	queue := []string{"app.js"}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		resp, body := get(t, srv.URL+"/ui/"+name)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a module imports %s, which is not served: %d", name, resp.StatusCode)
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(body, -1) {
			queue = append(queue, m[1]+m[2])
		}
	}
	for _, want := range []string{"app.js", "ui.js", "api.js", "market.js", "auditlog.js", "audit.js", "sha256.js", "chart.js"} {
		if !seen[want] {
			t.Errorf("%s is not reached from app.js; reached %v", want, seen)
		}
	}
}
