package httpsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

var t0 = time.Unix(1_700_000_000, 0)

func fixedKey(b byte) *identity.Key {
	return &identity.Key{Priv: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))}
}

// signed returns a signed client request and the same request as a server
// would receive it.
func signed(t *testing.T, key *identity.Key, method, url, body, nonce string, opts ...SignOption) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(req, key, t0, nonce, opts...); err != nil {
		t.Fatal(err)
	}
	return received(req, body)
}

// received turns a client request into what a server sees.
func received(req *http.Request, body string) *http.Request {
	srv := httptest.NewRequest(req.Method, req.URL.RequestURI(), strings.NewReader(body))
	srv.Host = req.URL.Host
	if req.Host != "" {
		srv.Host = req.Host
	}
	srv.Header = req.Header.Clone()
	return srv
}

func TestRoundTrip(t *testing.T) {
	key := fixedKey(1)
	tests := []struct {
		name, method, url, body string
	}{
		{"put with body", "PUT", "https://p.example:8443/shards/ab?x=1&y=2", "hello shard"},
		{"delete no body", "DELETE", "http://127.0.0.1:9000/shards/ab", ""},
		{"escaped path", "GET", "http://h/a%2Fb/c%20d?q=%20", ""},
		{"root", "POST", "http://h", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(VerifierOptions{})
			req := signed(t, key, tt.method, tt.url, tt.body, "n-"+tt.name)
			got, err := v.Verify(req, t0.Add(time.Second), nil)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != key.Address() {
				t.Errorf("signer = %v, want %v", got, key.Address())
			}
			b, _ := io.ReadAll(req.Body)
			if string(b) != tt.body {
				t.Errorf("body after Verify = %q, want %q", b, tt.body)
			}
		})
	}
}

func TestTampering(t *testing.T) {
	key, other := fixedKey(1), fixedKey(2)
	const url, body = "https://p.example/shards/ab?x=1", "shard bytes"
	tests := []struct {
		name   string
		change func(r *http.Request)
		want   string
	}{
		{"method", func(r *http.Request) { r.Method = "DELETE" }, "bad signature"},
		{"path", func(r *http.Request) { r.URL.Path = "/shards/cd"; r.URL.RawPath = "" }, "bad signature"},
		{"query", func(r *http.Request) { r.URL.RawQuery = "x=2" }, "bad signature"},
		{"query dropped", func(r *http.Request) { r.URL.RawQuery = "" }, "bad signature"},
		{"authority", func(r *http.Request) { r.Host = "evil.example" }, "bad signature"},
		{"body", func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("shard bytez")) }, "does not match its Content-Digest"},
		{"digest header", func(r *http.Request) {
			r.Header.Set("Content-Digest", ContentDigest(sha256.Sum256([]byte("shard bytez"))))
			r.Body = io.NopCloser(strings.NewReader("shard bytez"))
		}, "bad signature"},
		{"digest header removed", func(r *http.Request) { r.Header.Del("Content-Digest") }, "no sha-256"},
		{"signature", func(r *http.Request) {
			s := r.Header.Get("Signature")
			c := byte('A')
			if s[10] == 'A' {
				c = 'B'
			}
			r.Header.Set("Signature", s[:10]+string(c)+s[11:])
		}, "bad signature"},
		{"keyid swapped", func(r *http.Request) {
			in := r.Header.Get("Signature-Input")
			r.Header.Set("Signature-Input", strings.Replace(in, key.Address().String(), other.Address().String(), 1))
		}, "bad signature"},
		{"created changed", func(r *http.Request) {
			in := r.Header.Get("Signature-Input")
			r.Header.Set("Signature-Input", strings.Replace(in, "created=1700000000", "created=1700000001", 1))
		}, "bad signature"},
		{"component dropped", func(r *http.Request) {
			in := r.Header.Get("Signature-Input")
			r.Header.Set("Signature-Input", strings.Replace(in, ` "@query"`, "", 1))
		}, `missing component: the signature must cover "@query"`},
		{"alg", func(r *http.Request) {
			in := r.Header.Get("Signature-Input")
			r.Header.Set("Signature-Input", strings.Replace(in, `alg="ed25519"`, `alg="hmac-sha256"`, 1))
		}, "alg"},
		{"no signature", func(r *http.Request) { r.Header.Del("Signature") }, "no Signature header"},
		{"no signature input", func(r *http.Request) { r.Header.Del("Signature-Input") }, "no Signature-Input header"},
		{"other label", func(r *http.Request) {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), Label+"=", "sig1=", 1))
		}, "no signature labelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signed(t, key, "PUT", url, body, "nonce-1")
			tt.change(req)
			_, err := NewVerifier(VerifierOptions{}).Verify(req, t0, nil)
			if err == nil {
				t.Fatal("Verify accepted a tampered request")
			}
			if !errs.Is(err, errs.Unauthorized) {
				t.Errorf("kind = %v, want unauthorized (%v)", errs.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestTimeAndReplay(t *testing.T) {
	key := fixedKey(1)
	tests := []struct {
		name string
		now  time.Time
		opts []SignOption
		want string // "" for success
	}{
		{"at creation", t0, nil, ""},
		{"just before expiry", t0.Add(DefaultWindow - time.Second), nil, ""},
		{"within skew after expiry", t0.Add(DefaultWindow + 29*time.Second), nil, ""},
		{"expired", t0.Add(DefaultWindow + 30*time.Second), nil, "expired"},
		{"long expired", t0.Add(time.Hour), nil, "expired"},
		{"created slightly in the future", t0.Add(-29 * time.Second), nil, ""},
		{"created in the future", t0.Add(-31 * time.Second), nil, "in the future"},
		{"window too long", t0, []SignOption{WithWindow(10 * time.Minute)}, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signed(t, key, "GET", "http://h/x", "", "n1", tt.opts...)
			_, err := NewVerifier(VerifierOptions{}).Verify(req, tt.now, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errs.Is(err, errs.Unauthorized)):
				t.Fatalf("Verify = %v, want an unauthorized error saying %q", err, tt.want)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		v := NewVerifier(VerifierOptions{})
		req := signed(t, key, "GET", "http://h/x", "", "once")
		again := req.Clone(req.Context())
		if _, err := v.Verify(req, t0, nil); err != nil {
			t.Fatal(err)
		}
		_, err := v.Verify(again, t0.Add(time.Second), nil)
		if err == nil || !strings.Contains(err.Error(), "replayed") {
			t.Fatalf("replay: Verify = %v, want replayed", err)
		}
		// The same nonce from another key is a different request.
		if _, err := v.Verify(signed(t, fixedKey(2), "GET", "http://h/x", "", "once"), t0, nil); err != nil {
			t.Fatalf("same nonce, other key: %v", err)
		}
	})

	t.Run("bad signature does not use the nonce", func(t *testing.T) {
		v := NewVerifier(VerifierOptions{})
		req := signed(t, key, "GET", "http://h/x", "", "n")
		bad := req.Clone(req.Context())
		bad.Method = "HEAD"
		if _, err := v.Verify(bad, t0, nil); err == nil {
			t.Fatal("tampered request accepted")
		}
		if _, err := v.Verify(req, t0, nil); err != nil {
			t.Fatalf("good request after a bad one with its nonce: %v", err)
		}
	})

	t.Run("cache evicts expired and is bounded", func(t *testing.T) {
		v := NewVerifier(VerifierOptions{MaxNonces: 2, MaxNoncesPerKey: 2})
		for _, n := range []string{"a", "b"} {
			if _, err := v.Verify(signed(t, key, "GET", "http://h/x", "", n), t0, nil); err != nil {
				t.Fatal(err)
			}
		}
		_, err := v.Verify(signed(t, key, "GET", "http://h/x", "", "c"), t0, nil)
		if !errs.Is(err, errs.Unavailable) {
			t.Fatalf("full cache: Verify = %v, want unavailable", err)
		}
		// Once a and b have expired they are evicted, and c fits.
		req := signed(t, key, "GET", "http://h/x", "", "c", WithWindow(5*time.Minute))
		later := t0.Add(DefaultWindow + 30*time.Second)
		if _, err := v.Verify(req, later, nil); err != nil {
			t.Fatalf("after expiry: %v", err)
		}
		if n := v.nonces.len(); n != 1 {
			t.Errorf("cache holds %d nonces, want 1", n)
		}
	})
}

func TestStreamedBody(t *testing.T) {
	key := fixedKey(1)
	body := strings.Repeat("0123456789", 10000)
	sum := sha256.Sum256([]byte(body))
	client, err := http.NewRequest("PUT", "http://h/shards/x", io.NopCloser(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(client, key, t0, "s1"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("Sign of a stream without WithDigest = %v, want invalid", err)
	}
	if err := Sign(client, key, t0, "s1", WithDigest(sum)); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, body string
		wantErr    bool
	}{
		{"intact", body, false},
		{"changed", body[:len(body)-1] + "x", true},
		{"short", body[:len(body)-1], true},
		{"empty", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := received(client, tt.body)
			if _, err := NewVerifier(VerifierOptions{}).VerifyHeaders(req, t0, nil); err != nil {
				t.Fatal(err)
			}
			dr, err := NewDigestReader(iotest.HalfReader(req.Body), req.Header.Get("Content-Digest"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(dr)
			if tt.wantErr {
				if !errors.Is(err, ErrDigestMismatch) || !errs.Is(err, errs.Unauthorized) {
					t.Fatalf("ReadAll = %v, want ErrDigestMismatch", err)
				}
				if _, err2 := dr.Read(make([]byte, 1)); !errors.Is(err2, ErrDigestMismatch) {
					t.Errorf("second Read after mismatch = %v, want the same error", err2)
				}
				return
			}
			if err != nil || string(got) != body {
				t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
			}
		})
	}

	t.Run("Verify refuses a body over MaxBody", func(t *testing.T) {
		req := received(client, body)
		_, err := NewVerifier(VerifierOptions{MaxBody: 1000}).Verify(req, t0, nil)
		if !errs.Is(err, errs.TooLarge) {
			t.Fatalf("Verify = %v, want too large", err)
		}
	})
}

func TestSignErrors(t *testing.T) {
	key := fixedKey(1)
	for _, tt := range []struct {
		name, nonce string
		opts        []SignOption
	}{
		{"empty nonce", "", nil},
		{"long nonce", strings.Repeat("n", MaxNonceLen+1), nil},
		{"control in nonce", "a\nb", nil},
		{"tiny window", "n", []SignOption{WithWindow(time.Millisecond)}},
	} {
		req := httptest.NewRequest("GET", "http://h/", nil)
		if err := Sign(req, key, t0, tt.nonce, tt.opts...); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: Sign = %v, want invalid", tt.name, err)
		}
	}
	// A nonce with quotes and backslashes is escaped and still verifies.
	req := signed(t, key, "GET", "http://h/", "", `a"b\c`)
	if _, err := NewVerifier(VerifierOptions{}).Verify(req, t0, nil); err != nil {
		t.Errorf("escaped nonce: %v", err)
	}
	if n, err := NewNonce(); err != nil || len(n) != 32 {
		t.Errorf("NewNonce = %q, %v", n, err)
	}
}

// TestKnownAnswer pins the exact headers and signature base for a fixed key,
// time and nonce, so that any change to the wire format is deliberate.
func TestKnownAnswer(t *testing.T) {
	key := fixedKey(7)
	req, err := http.NewRequest("PUT", "https://Provider.Example:8443/shards/00ff?lease=42", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(req, key, t0, "0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	did := key.Address().String()
	const wantDID = "did:key:z6MkvDqGT54cXesYGvABpF1UapVNwjCqRcafi4Px6Thv5T3Z"
	if did != wantDID {
		t.Errorf("did = %s, want %s", did, wantDID)
	}
	wantDigest := "sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:"
	wantInput := `stratus=("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;expires=1700000060;nonce="0123456789abcdef";keyid="` + wantDID + `";alg="ed25519"`
	wantBase := `"@method": PUT
"@authority": provider.example:8443
"@path": /shards/00ff
"@query": ?lease=42
"content-digest": ` + wantDigest + `
"@signature-params": ("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;expires=1700000060;nonce="0123456789abcdef";keyid="` + wantDID + `";alg="ed25519"`
	const wantSig = "stratus=:rY+Cn+7pIykoFWrte0Ir9Fdx0z5Ww+HJ89h92RdqqX29iyF2V3J9L9CLj8yPwEni1wAmUPb3EUy37w3IzgO8Dg==:"

	if got := req.Header.Get("Content-Digest"); got != wantDigest {
		t.Errorf("Content-Digest = %s\nwant %s", got, wantDigest)
	}
	if got := req.Header.Get("Signature-Input"); got != wantInput {
		t.Errorf("Signature-Input = %s\nwant %s", got, wantInput)
	}
	p, err := parseSignatureInput(req.Header.Get("Signature-Input"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := signatureBase(req, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if base != wantBase {
		t.Errorf("signature base =\n%s\nwant\n%s", base, wantBase)
	}
	if got := req.Header.Get("Signature"); got != wantSig {
		t.Errorf("Signature = %s\nwant %s", got, wantSig)
	}
	if _, err := NewVerifier(VerifierOptions{}).Verify(received(req, "hello"), t0, nil); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestParseSignatureInputErrors(t *testing.T) {
	did := fixedKey(1).Address().String()
	good := `("@method" "@authority" "@path" "@query" "content-digest");created=1;expires=2;nonce="n";keyid="` + did + `";alg="ed25519"`
	if _, err := parseSignatureInput("stratus=" + good); err != nil {
		t.Fatalf("good input: %v", err)
	}
	if _, err := parseSignatureInput(`sig1=("@method");created=1, stratus=` + good); err != nil {
		t.Fatalf("good input after another signature: %v", err)
	}
	for _, in := range []string{
		"",
		"stratus",
		"stratus=",
		"stratus=(",
		`stratus="@method"`,
		"stratus=" + good + ",",
		"stratus=" + good + ", stratus=" + good,
		"stratus=" + good + ";created=3",
		"stratus=" + good + ";tag=\"x\"",
		"stratus=" + strings.Replace(good, "created=1;", "", 1),
		"stratus=" + strings.Replace(good, "created=1", "created=1.5", 1),
		"stratus=" + strings.Replace(good, "created=1", "created=-1", 1),
		"stratus=" + strings.Replace(good, `nonce="n";`, "", 1),
		"stratus=" + strings.Replace(good, `nonce="n"`, `nonce=""`, 1),
		"stratus=" + strings.Replace(good, `nonce="n"`, `nonce=n`, 1),
		"stratus=" + strings.Replace(good, `"@method"`, `"@method" "@method"`, 1),
		"stratus=" + strings.Replace(good, `"@method"`, `"@method";req`, 1),
		"stratus=" + strings.Replace(good, `"@method"`, `"@target-uri"`, 1),
		"stratus=" + strings.Replace(good, `"@method"`, `"date"`, 1),
		"stratus=" + strings.Replace(good, `"@method" `, `"@method"`, 1),
		"stratus=" + strings.Replace(good, `"n"`, `"n\x"`, 1),
		"stratus=" + strings.Replace(good, `"n"`, "\"\x7f\"", 1),
		"Stratus=" + good,
		strings.Repeat("a=1, ", 9) + "stratus=" + good,
	} {
		if _, err := parseSignatureInput(in); err == nil {
			t.Errorf("parseSignatureInput(%q) succeeded", in)
		} else if !errs.Is(err, errs.Unauthorized) {
			t.Errorf("parseSignatureInput(%q) = %v, want unauthorized", in, err)
		}
	}
}

func FuzzParseSignatureInput(f *testing.F) {
	did := fixedKey(1).Address().String()
	good := `stratus=("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;expires=1700000060;nonce="0123";keyid="` + did + `";alg="ed25519"`
	for _, s := range []string{
		good,
		`sig1=("@method" "@target-uri");created=1618884473;keyid="test-key-ed25519", ` + good,
		`stratus=("@method";req "x");created=-1;nonce="a\"b\\c";flag;b=?1;t=tok/en:x`,
		`stratus=:AAAA:, x=?0, y=1.5`,
		`stratus=(`,
		`stratus=("`,
		`stratus=:`,
		"",
		",",
		strings.Repeat("(", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseSignatureInput(s)
		if err != nil {
			if !errs.Is(err, errs.Unauthorized) {
				t.Fatalf("error of kind %v: %v", errs.KindOf(err), err)
			}
			return
		}
		// What parses is complete, and its raw value parses the same way.
		if len(p.components) != len(components) || p.nonce == "" || p.keyid == "" || p.alg != Alg {
			t.Fatalf("incomplete parameters accepted: %+v", p)
		}
		q, err := parseSignatureInput(Label + "=" + p.raw)
		if err != nil || q.serialize() != p.serialize() {
			t.Fatalf("raw %q does not reparse: %v", p.raw, err)
		}
		parseSignature(s)
		ParseContentDigest(s)
	})
}

// TestContentAddressed: a signature without a body digest is accepted only
// by VerifyContentAddressed, which says the body is not covered; one with a
// digest is accepted by both and says it is. The path stays covered.
func TestContentAddressed(t *testing.T) {
	key := fixedKey(4)
	url := "https://p.example/shards/abcd"
	req := signed(t, key, "PUT", url, "shard bytes", "n-ca-1", WithoutBodyDigest())
	if req.Header.Get("Content-Digest") != "" {
		t.Fatalf("Content-Digest %q sent without a digest", req.Header.Get("Content-Digest"))
	}
	if _, err := NewVerifier(VerifierOptions{}).VerifyHeaders(req, t0, nil); !errs.Is(err, errs.Unauthorized) || !strings.Contains(err.Error(), "content-digest") {
		t.Fatalf("VerifyHeaders of a digest-less signature = %v, want unauthorized naming content-digest", err)
	}
	signer, digest, err := NewVerifier(VerifierOptions{}).VerifyContentAddressed(req, t0, nil)
	if err != nil || digest || signer != key.Address() {
		t.Fatalf("VerifyContentAddressed = %v, %v, %v; want the signer and digest false", signer, digest, err)
	}
	// Another path (another shard) breaks it.
	moved := received(req, "shard bytes")
	moved.URL.Path = "/shards/abce"
	moved.RequestURI = "/shards/abce"
	if _, _, err := NewVerifier(VerifierOptions{}).VerifyContentAddressed(moved, t0, nil); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("digest-less signature on another path = %v, want unauthorized", err)
	}
	// With a digest, it is covered and reported so.
	req = signed(t, key, "PUT", url, "shard bytes", "n-ca-2")
	if _, digest, err := NewVerifier(VerifierOptions{}).VerifyContentAddressed(req, t0, nil); err != nil || !digest {
		t.Fatalf("VerifyContentAddressed with a digest = %v, %v; want digest true", digest, err)
	}
}
