package wagi

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// A header whose name has '_' (or another character that the CGI mapping
// folds) is dropped, so it cannot pass for the one a gateway set; the
// proper header keeps its variable.
func TestEnvDropsAmbiguousHeaders(t *testing.T) {
	r := httptest.NewRequest("GET", "http://gw.example/fn/7/", nil)
	for _, k := range []string{"X_Forwarded_For", "x_forwarded_for", "X.Forwarded.For", "X-Forwarded-For_"} {
		r.Header[k] = []string{"6.6.6.6"}
	}
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("X-Trace-2", "ok")
	for range 50 { // map order must not matter
		env := NewRequest(r, "/fn/7", "/...").Env(0)
		if !slices.Contains(env, "HTTP_X_FORWARDED_FOR=203.0.113.9") || !slices.Contains(env, "HTTP_X_TRACE_2=ok") {
			t.Fatalf("env lacks the proper headers: %q", env)
		}
		for _, kv := range env {
			if strings.Contains(kv, "6.6.6.6") {
				t.Fatalf("an ambiguous header reached the function: %q", kv)
			}
		}
	}
}

func TestCGISafeHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Forwarded-For": true, "Accept": true, "X-Trace-2": true,
		"X_Forwarded_For": false, "X.Forwarded": false, "": false, "X Y": false, "Ünicode": false,
	} {
		if got := CGISafeHeader(name); got != want {
			t.Errorf("CGISafeHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
