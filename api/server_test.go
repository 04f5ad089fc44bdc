package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
)

// fakeBackend is an in-memory Backend.
type fakeBackend struct {
	mu        sync.Mutex
	height    int64
	accounts  map[string]Account
	txs       map[string]TxResult
	blocks    map[int64]Block
	submitted [][]byte
	waited    []bool
	statusErr error
}

var (
	testAddr = identity.AddressOf(bytes.Repeat([]byte{7}, 32)).String()
	testHash = strings.Repeat("ab", 32)
	testTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

func newFake() *fakeBackend {
	return &fakeBackend{
		height:   2,
		accounts: map[string]Account{testAddr: {Address: testAddr, Balance: "1500000", Nonce: 3}},
		txs: map[string]TxResult{testHash: {
			Hash: testHash, Height: 2, Code: 0, Log: "a<b&c", Signer: testAddr, Nonce: 3, Fee: "10",
			Type: "transfer", Msg: json.RawMessage(`{"to":"x"}`), Events: []Event{{Type: "transfer", Attrs: map[string]string{"amount": "5"}}},
		}},
		blocks: map[int64]Block{
			1: {Height: 1, Hash: "B1", Time: testTime, Proposer: "P", AppHash: "A1"},
			2: {Height: 2, Hash: "B2", Time: testTime, Proposer: "P", AppHash: "A2", NumTxs: 1, TxHashes: []string{testHash}, LastBlock: "B1"},
		},
	}
}

func (f *fakeBackend) Status(context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return Status{}, f.statusErr
	}
	return Status{ChainID: "stratus-test", NodeID: "node0", Height: f.height, LatestBlockTime: testTime,
		LatestBlockHash: "B2", AppHash: "A2", Validators: []Validator{{Name: "v0", ConsAddress: "C0", PubKey: "cGs=", Power: 10}}}, nil
}

func (f *fakeBackend) Account(_ context.Context, did string) (Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[did]; ok {
		return a, nil
	}
	return Account{Address: did, Balance: "0"}, nil
}

func (f *fakeBackend) SubmitTx(_ context.Context, tx []byte, wait bool) (TxResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if string(tx) == "overdraft" {
		return TxResult{}, errs.E(errs.Insufficient, "need 5STR but only 1STR is available")
	}
	f.submitted = append(f.submitted, tx)
	f.waited = append(f.waited, wait)
	res := TxResult{Hash: fmt.Sprintf("%064x", len(f.submitted))}
	if wait {
		res.Height = f.height
	}
	return res, nil
}

func (f *fakeBackend) SimulateTx(_ context.Context, tx []byte) (Simulation, error) {
	if string(tx) == "garbage" {
		return Simulation{}, errs.E(errs.Invalid, "malformed transaction")
	}
	return Simulation{Code: 0, GasUsed: uint64(len(tx)), Fee: fmt.Sprint(len(tx))}, nil
}

func (f *fakeBackend) Tx(_ context.Context, hash string) (TxResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tx, ok := f.txs[hash]; ok {
		return tx, nil
	}
	return TxResult{}, errs.E(errs.NotFound, "transaction %s not found", hash)
}

func (f *fakeBackend) Block(_ context.Context, height int64) (Block, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.blocks[height]; ok {
		return b, nil
	}
	return Block{}, errs.E(errs.NotFound, "block %d not found: the chain is at height %d", height, f.height)
}

func (f *fakeBackend) Supply(context.Context) (Supply, error) {
	return Supply{Supply: "1000", Height: 2, Buckets: map[string]string{"accounts": "900", "escrow": "100"}}, nil
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testEnv struct {
	srv  *Server
	fake *fakeBackend
	url  string
	logs *logBuffer
}

func newTestEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	env := &testEnv{fake: newFake(), logs: new(logBuffer)}
	opts.Logger = slog.New(slog.NewTextHandler(env.logs, nil))
	env.srv = NewServer(env.fake, opts)
	hs := httptest.NewServer(env.srv.Handler())
	t.Cleanup(hs.Close)
	env.url = hs.URL
	return env
}

// do sends a request and returns the status, Content-Type and body.
func (e *testEnv) do(t *testing.T, method, path, contentType string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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
	return resp, b
}

func TestRoutes(t *testing.T) {
	env := newTestEnv(t, Options{CometRPC: "tcp://127.0.0.1:26657"})
	txB64 := base64.StdEncoding.EncodeToString([]byte("signed-tx"))

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		want        string // a JSON object whose fields must appear in the response
	}{
		{"status", "GET", "/v1/status", "", "",
			`{"chain_id":"stratus-test","height":2,"latest_block_time":"2025-01-02T03:04:05Z","comet_rpc":"tcp://127.0.0.1:26657","catching_up":false,"validators":[{"name":"v0","cons_address":"C0","pub_key":"cGs=","power":10}]}`},
		{"account", "GET", "/v1/accounts/" + testAddr, "", "",
			`{"address":"` + testAddr + `","balance":"1500000","nonce":3}`},
		{"submit json", "POST", "/v1/txs", "application/json", `{"tx":"` + txB64 + `","wait":false}`,
			`{"hash":"` + fmt.Sprintf("%064x", 1) + `","height":0,"code":0}`},
		{"submit json wait", "POST", "/v1/txs", "application/json; charset=utf-8", `{"tx":"` + txB64 + `","wait":true}`,
			`{"hash":"` + fmt.Sprintf("%064x", 2) + `","height":2}`},
		{"submit raw wait", "POST", "/v1/txs?wait=true", "application/octet-stream", "signed-tx",
			`{"hash":"` + fmt.Sprintf("%064x", 3) + `","height":2}`},
		{"tx", "GET", "/v1/txs/" + testHash, "", "",
			`{"hash":"` + testHash + `","height":2,"code":0,"log":"a<b&c","fee":"10","type":"transfer","msg":{"to":"x"},"events":[{"type":"transfer","attrs":{"amount":"5"}}]}`},
		{"tx upper case", "GET", "/v1/txs/" + strings.ToUpper(testHash), "", "", `{"hash":"` + testHash + `"}`},
		{"block", "GET", "/v1/blocks/1", "", "",
			`{"height":1,"hash":"B1","time":"2025-01-02T03:04:05Z","proposer":"P","app_hash":"A1","num_txs":0,"tx_hashes":[],"last_block_hash":""}`},
		{"block latest", "GET", "/v1/blocks/latest", "", "", `{"height":2,"hash":"B2","tx_hashes":["` + testHash + `"]}`},
		{"supply", "GET", "/v1/supply", "", "", `{"supply":"1000","height":2,"buckets":{"accounts":"900","escrow":"100"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.do(t, tt.method, tt.path, tt.contentType, strings.NewReader(tt.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not a JSON object: %v\n%s", err, body)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			for k, w := range want {
				g, _ := json.Marshal(got[k])
				wj, _ := json.Marshal(w)
				if !bytes.Equal(g, wj) {
					t.Errorf("%s = %s, want %s", k, g, wj)
				}
			}
		})
	}

	if got, want := len(env.fake.submitted), 3; got != want {
		t.Fatalf("backend got %d submissions, want %d", got, want)
	}
	for i, tx := range env.fake.submitted {
		if string(tx) != "signed-tx" {
			t.Errorf("submission %d = %q, want %q", i, tx, "signed-tx")
		}
	}
	if got, want := fmt.Sprint(env.fake.waited), "[false true true]"; got != want {
		t.Errorf("wait flags = %s, want %s", got, want)
	}
}

func TestNoHTMLEscaping(t *testing.T) {
	env := newTestEnv(t, Options{})
	_, body := env.do(t, "GET", "/v1/txs/"+testHash, "", nil)
	if !bytes.Contains(body, []byte(`"log":"a<b&c"`)) {
		t.Errorf("body escapes HTML: %s", body)
	}
}

func TestHealthz(t *testing.T) {
	env := newTestEnv(t, Options{})
	resp, body := env.do(t, "GET", "/healthz", "", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("got %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

func TestProblems(t *testing.T) {
	env := newTestEnv(t, Options{MaxBodyBytes: 1024})
	big := `{"tx":"` + strings.Repeat("A", 4096) + `"}`

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        io.Reader
		status      int
		kind        errs.Kind
		detail      string // a substring of the detail
	}{
		{"bad did", "GET", "/v1/accounts/did:web:example.com", "", nil, 400, errs.Invalid, "not a did:key"},
		{"unknown tx", "GET", "/v1/txs/" + strings.Repeat("0", 64), "", nil, 404, errs.NotFound, "not found"},
		{"short hash", "GET", "/v1/txs/abc", "", nil, 400, errs.Invalid, "64 hex"},
		{"non-hex hash", "GET", "/v1/txs/" + strings.Repeat("zz", 32), "", nil, 400, errs.Invalid, "64 hex"},
		{"zero height", "GET", "/v1/blocks/0", "", nil, 400, errs.Invalid, "block height"},
		{"word height", "GET", "/v1/blocks/first", "", nil, 400, errs.Invalid, "block height"},
		{"unknown block", "GET", "/v1/blocks/99", "", nil, 404, errs.NotFound, "block 99"},
		{"oversize json", "POST", "/v1/txs", "application/json", strings.NewReader(big), 413, errs.TooLarge, "1024 bytes"},
		// A reader of unknown length is sent chunked, so only MaxBytesReader can catch it.
		{"oversize chunked", "POST", "/v1/txs", "application/json", io.MultiReader(strings.NewReader(big)), 413, errs.TooLarge, "1024 bytes"},
		{"oversize raw chunked", "POST", "/v1/txs", "application/octet-stream", io.MultiReader(strings.NewReader(big)), 413, errs.TooLarge, "1024 bytes"},
		{"malformed json", "POST", "/v1/txs", "application/json", strings.NewReader(`{"tx":`), 400, errs.Invalid, "truncated"},
		{"not json", "POST", "/v1/txs", "application/json", strings.NewReader(`tx=AA`), 400, errs.Invalid, "not valid JSON"},
		{"wrong type", "POST", "/v1/txs", "application/json", strings.NewReader(`{"tx":5}`), 400, errs.Invalid, `"tx"`},
		{"trailing json", "POST", "/v1/txs", "application/json", strings.NewReader(`{"tx":"AA=="} {}`), 400, errs.Invalid, "more than one"},
		{"unknown field", "POST", "/v1/txs", "application/json", strings.NewReader(`{"txx":"AA=="}`), 400, errs.Invalid, "txx"},
		{"bad base64", "POST", "/v1/txs", "application/json", strings.NewReader(`{"tx":"not base64!"}`), 400, errs.Invalid, "base64"},
		{"empty body", "POST", "/v1/txs", "application/json", nil, 400, errs.Invalid, "empty"},
		{"empty tx", "POST", "/v1/txs", "application/json", strings.NewReader(`{"tx":""}`), 400, errs.Invalid, "empty"},
		{"bad wait", "POST", "/v1/txs?wait=maybe", "application/octet-stream", strings.NewReader("x"), 400, errs.Invalid, "wait"},
		{"bad content type", "POST", "/v1/txs", "text/plain", strings.NewReader("x"), 400, errs.Invalid, "Content-Type"},
		{"backend rejects", "POST", "/v1/txs", "application/octet-stream", strings.NewReader("overdraft"), 402, errs.Insufficient, "only 1STR"},
		{"unknown route", "GET", "/v1/nothing", "", nil, 404, errs.NotFound, "no route"},
		{"wrong method", "DELETE", "/v1/status", "", nil, 405, errs.Invalid, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.do(t, tt.method, tt.path, tt.contentType, tt.body)
			p := checkProblem(t, resp, body, tt.status, tt.kind)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.detail)
			}
		})
	}
	if got := env.fake.submitted; len(got) != 0 {
		t.Errorf("bad requests reached the backend: %q", got)
	}
}

func TestMethodNotAllowedHeader(t *testing.T) {
	env := newTestEnv(t, Options{})
	resp, _ := env.do(t, "POST", "/v1/supply", "", nil)
	if got := resp.Header.Get("Allow"); !strings.Contains(got, "GET") {
		t.Errorf("Allow = %q, want it to list GET", got)
	}
}

func TestInternalErrorIsLogged(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.fake.statusErr = fmt.Errorf("disk on fire")
	resp, body := env.do(t, "GET", "/v1/status", "", nil)
	p := checkProblem(t, resp, body, 500, errs.Internal)
	if p.Detail != "disk on fire" {
		t.Errorf("detail = %q, want %q", p.Detail, "disk on fire")
	}
	if !strings.Contains(env.logs.String(), "disk on fire") {
		t.Errorf("internal error not logged; log:\n%s", env.logs)
	}

	env.fake.statusErr = errs.E(errs.Unavailable, "catching up")
	resp, body = env.do(t, "GET", "/v1/blocks/latest", "", nil)
	checkProblem(t, resp, body, 503, errs.Unavailable)
}

func checkProblem(t *testing.T, resp *http.Response, body []byte, status int, kind errs.Kind) Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, ProblemContentType)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("problem is not JSON: %v\n%s", err, body)
	}
	for _, k := range []string{"type", "title", "status", "detail", "kind"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("problem lacks %q: %s", k, body)
		}
	}
	var p Problem
	json.Unmarshal(body, &p)
	if p.Status != status || p.Kind != string(kind) {
		t.Errorf("problem status, kind = %d, %q; want %d, %q", p.Status, p.Kind, status, kind)
	}
	if !strings.HasPrefix(p.Type, ProblemTypeBase) || p.Title == "" {
		t.Errorf("problem type, title = %q, %q", p.Type, p.Title)
	}
	if status != http.StatusMethodNotAllowed && p.Type != ProblemTypeBase+string(kind) {
		t.Errorf("problem type = %q, want %q", p.Type, ProblemTypeBase+string(kind))
	}
	return p
}

func TestOpenAPICoversRoutes(t *testing.T) {
	env := newTestEnv(t, Options{})
	resp, body := env.do(t, "GET", "/v1/openapi.json", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	routes := env.srv.Routes()
	if len(routes) < 9 {
		t.Fatalf("only %d routes registered: %v", len(routes), routes)
	}
	for _, route := range routes {
		method, path, ok := strings.Cut(route, " ")
		if !ok {
			t.Errorf("route %q has no method", route)
			continue
		}
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %q is missing from openapi.json", route)
		}
	}

	// Every path parameter is declared, and every $ref resolves.
	var all any
	json.Unmarshal(body, &all)
	for path, ops := range doc.Paths {
		for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
			for method, op := range ops {
				if !bytes.Contains(op, []byte(`"name":"`+m[1]+`"`)) && !bytes.Contains(op, []byte(`"name": "`+m[1]+`"`)) {
					t.Errorf("%s %s does not declare path parameter %q", method, path, m[1])
				}
			}
		}
	}
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"([^"]+)"`).FindAllStringSubmatch(string(body), -1) {
		if !resolves(all, ref[1]) {
			t.Errorf("$ref %q does not resolve", ref[1])
		}
	}
}

func resolves(doc any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	cur := doc
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestMetrics(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.do(t, "GET", "/v1/status", "", nil)
	env.do(t, "GET", "/v1/status", "", nil)
	env.do(t, "GET", "/v1/txs/"+strings.Repeat("0", 64), "", nil)
	env.do(t, "GET", "/no/such/path", "", nil)

	resp, body := env.do(t, "GET", "/metrics", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`stratus_http_requests_total{code="200",route="GET /v1/status"} 2`,
		`stratus_http_requests_total{code="404",route="GET /v1/txs/{hash}"} 1`,
		`stratus_http_requests_total{code="404",route="unmatched"} 1`,
		`stratus_http_request_duration_seconds_count{route="GET /v1/status"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), "/no/such/path") {
		t.Error("metrics use a raw path as a label")
	}
}

func TestMount(t *testing.T) {
	env := newTestEnv(t, Options{})
	env.srv.Mount("GET /v1/leases/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.PathValue("id"))
	}))
	resp, body := env.do(t, "GET", "/v1/leases/l1", "", nil)
	if resp.StatusCode != 200 || string(body) != "l1" {
		t.Errorf("mounted route: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(strings.Join(env.srv.Routes(), "\n"), "GET /v1/leases/{id}") {
		t.Errorf("Routes() = %v, lacks the mounted route", env.srv.Routes())
	}
}
