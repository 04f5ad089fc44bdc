package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
)

var (
	testAddr = identity.AddressOf(bytes.Repeat([]byte{9}, 32)).String()
	testHash = strings.Repeat("cd", 32)
	testTime = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
)

// fakeBackend answers with fixed values and records submissions.
type fakeBackend struct {
	mu        sync.Mutex
	lastTx    []byte
	wait      bool
	simulated []*ledger.Tx
	// broke, if set, is a signer whose simulations the node stops at
	// brokeGas: all its balance buys.
	broke identity.Address
}

const brokeGas = 300

func (f *fakeBackend) Status(context.Context) (api.Status, error) {
	return api.Status{ChainID: "stratus-test", NodeID: "n0", Height: 7, LatestBlockTime: testTime,
		Validators: []api.Validator{{ConsAddress: "C0", PubKey: "cGs=", Power: 1}}, MinGasPrice: "2", MaxBlockGas: 1_000_000}, nil
}

// Account: testAddr has 42 ustr, every other account 1 STR.
func (f *fakeBackend) Account(_ context.Context, did string) (api.Account, error) {
	if did != testAddr {
		return api.Account{Address: did, Balance: "1000000", Nonce: 5}, nil
	}
	return api.Account{Address: did, Balance: "42", Nonce: 1}, nil
}

// fakeGas is what every simulated transaction uses; a gas limit below it
// runs out.
const fakeGas = 1000

func (f *fakeBackend) SimulateTx(_ context.Context, raw []byte) (api.Simulation, error) {
	tx, err := ledger.DecodeTx(raw, ledger.DefaultRegistry())
	if err != nil {
		return api.Simulation{}, err
	}
	f.mu.Lock()
	f.simulated = append(f.simulated, tx)
	f.mu.Unlock()
	if tx.Signer == f.broke {
		return api.Simulation{Code: ledger.CodeOutOfGas, Log: "out of gas", GasUsed: brokeGas}, nil
	}
	if tx.GasLimit < fakeGas {
		return api.Simulation{Code: ledger.CodeOutOfGas, Log: "out of gas", GasUsed: tx.GasLimit}, nil
	}
	return api.Simulation{GasUsed: fakeGas, Fee: fmt.Sprint(fakeGas * tx.GasPrice)}, nil
}

func (f *fakeBackend) SubmitTx(_ context.Context, tx []byte, wait bool) (api.TxResult, error) {
	if string(tx) == "overdraft" {
		return api.TxResult{}, errs.E(errs.Insufficient, "need 5STR but only 1STR is available")
	}
	f.mu.Lock()
	f.lastTx, f.wait = tx, wait
	f.mu.Unlock()
	return api.TxResult{Hash: testHash, Height: 7, Nonce: 1}, nil
}

func (f *fakeBackend) Tx(_ context.Context, hash string) (api.TxResult, error) {
	if hash != testHash {
		return api.TxResult{}, errs.E(errs.NotFound, "transaction %s not found", hash)
	}
	return api.TxResult{Hash: hash, Height: 7, Fee: "10", Msg: json.RawMessage(`{"to":"x"}`),
		Events: []api.Event{{Type: "transfer", Attrs: map[string]string{"amount": "5"}}}, Time: &testTime}, nil
}

func (f *fakeBackend) Block(_ context.Context, height int64) (api.Block, error) {
	if height > 7 {
		return api.Block{}, errs.E(errs.NotFound, "block %d not found", height)
	}
	return api.Block{Height: height, Hash: "H", Time: testTime, TxHashes: []string{testHash}, NumTxs: 1}, nil
}

func (f *fakeBackend) Supply(context.Context) (api.Supply, error) {
	return api.Supply{Supply: "100", Height: 7, Buckets: map[string]string{"accounts": "100"}}, nil
}

// newNode starts the real API server over a fake backend.
func newNode(t *testing.T) (*Client, *fakeBackend) {
	t.Helper()
	f := &fakeBackend{}
	hs := httptest.NewServer(api.NewServer(f, api.Options{}).Handler())
	t.Cleanup(hs.Close)
	return New(hs.URL), f
}

func TestRoundTrip(t *testing.T) {
	c, f := newNode(t)
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ChainID != "stratus-test" || st.Height != 7 || !st.LatestBlockTime.Equal(testTime) || len(st.Validators) != 1 {
		t.Errorf("Status = %+v", st)
	}

	acct, err := c.Account(ctx, testAddr)
	if err != nil {
		t.Fatal(err)
	}
	if want := (api.Account{Address: testAddr, Balance: "42", Nonce: 1}); acct != want {
		t.Errorf("Account = %+v, want %+v", acct, want)
	}

	tx := []byte{0, 1, 2, 0xff, '<', '>'}
	res, err := c.SubmitTx(ctx, tx, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Hash != testHash || res.Height != 7 {
		t.Errorf("SubmitTx = %+v", res)
	}
	if !bytes.Equal(f.lastTx, tx) || !f.wait {
		t.Errorf("backend got tx %x wait %v, want %x true", f.lastTx, f.wait, tx)
	}

	got, err := c.Tx(ctx, testHash)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.Tx(ctx, testHash)
	if string(got.Msg) != string(want.Msg) || got.Fee != want.Fee || !reflect.DeepEqual(got.Events, want.Events) || !got.Time.Equal(*want.Time) {
		t.Errorf("Tx = %+v, want %+v", got, want)
	}

	for _, tt := range []struct{ arg, want int64 }{{3, 3}, {0, 7}} {
		b, err := c.Block(ctx, tt.arg)
		if err != nil {
			t.Fatal(err)
		}
		if b.Height != tt.want || b.NumTxs != 1 || b.TxHashes[0] != testHash {
			t.Errorf("Block(%d) = %+v, want height %d", tt.arg, b, tt.want)
		}
	}

	sup, err := c.Supply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sup.Supply != "100" || sup.Buckets["accounts"] != "100" {
		t.Errorf("Supply = %+v", sup)
	}

	if err := c.Get(ctx, "/healthz", nil); err != nil {
		t.Errorf("Get /healthz: %v", err)
	}
	var doc map[string]any
	if err := c.Get(ctx, "/v1/openapi.json", &doc); err != nil || doc["openapi"] != "3.0.3" {
		t.Errorf("Get /v1/openapi.json: %v, openapi=%v", err, doc["openapi"])
	}
}

func TestServerProblems(t *testing.T) {
	c, _ := newNode(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		kind   errs.Kind
		detail string
	}{
		{"bad did", func() error { _, err := c.Account(ctx, "did:web:example.com"); return err }, errs.Invalid, "not a did:key"},
		{"unknown tx", func() error { _, err := c.Tx(ctx, strings.Repeat("0", 64)); return err }, errs.NotFound, "not found"},
		{"future block", func() error { _, err := c.Block(ctx, 99); return err }, errs.NotFound, "block 99"},
		{"rejected tx", func() error { _, err := c.SubmitTx(ctx, []byte("overdraft"), false); return err }, errs.Insufficient, "only 1STR"},
		{"unknown route", func() error { return c.Get(ctx, "/v1/nothing", nil) }, errs.NotFound, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.call(), tt.kind, tt.detail)
		})
	}
}

func TestProblemMapping(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		kind        errs.Kind
		msg         string
	}{
		{"kind from body", 400, api.ProblemContentType, `{"status":400,"kind":"insufficient_funds","detail":"pay up"}`, errs.Insufficient, "pay up"},
		{"kind from status", 409, api.ProblemContentType, `{"title":"Conflict","status":409,"detail":"nonce 3 was used"}`, errs.Conflict, "nonce 3 was used"},
		{"title without detail", 401, api.ProblemContentType, `{"title":"Unauthorized","status":401}`, errs.Unauthorized, "Unauthorized"},
		{"plain text", 502, "text/plain", "bad gateway", errs.Internal, "502 Bad Gateway: bad gateway"},
		{"garbled problem", 503, api.ProblemContentType, `{"kind":`, errs.Unavailable, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			err := New(hs.URL).Get(context.Background(), "/v1/x", nil)
			checkErr(t, err, tt.kind, tt.msg)
		})
	}
}

func TestPostSendsJSON(t *testing.T) {
	var got map[string]any
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.RequestURI() != "/v1/things?x=1" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type"), 400)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"t1"}`)
	}))
	defer hs.Close()

	var out struct{ ID string }
	if err := New(hs.URL+"/").Post(context.Background(), "/v1/things?x=1", map[string]int{"n": 2}, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != "t1" || got["n"] != 2.0 {
		t.Errorf("out = %+v, server got %v", out, got)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	c := New(addr) // no scheme: http:// is assumed
	if want := "http://" + addr; c.BaseURL() != want {
		t.Errorf("BaseURL = %q, want %q", c.BaseURL(), want)
	}
	_, err = c.Status(context.Background())
	checkErr(t, err, errs.Unavailable, "cannot reach the node at http://"+addr)
	if !strings.Contains(err.Error(), "stratus devnet") {
		t.Errorf("error %q does not say what to do", err)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hs.Close()
	c := New(hs.URL, WithHTTPClient(hs.Client()))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Status(ctx)
	checkErr(t, err, errs.Timeout, "did not answer in time")

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled call: err = %v, want context.Canceled", err)
	}
}

func checkErr(t *testing.T, err error, kind errs.Kind, msg string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *errs.Error", err, err)
	}
	if e.Kind != kind {
		t.Errorf("kind = %q, want %q (err: %v)", e.Kind, kind, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("err = %q, want it to contain %q", err, msg)
	}
}

// TestSendEstimatesGas: Send simulates the transaction with all the gas the
// balance buys (at most the block's), then signs it with the gas used plus
// the margin; --dry-run stops after the simulation; a balance that cannot
// pay for the gas is an error before anything is sent.
func TestSendEstimatesGas(t *testing.T) {
	c, f := newNode(t)
	ctx := context.Background()
	key, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := &ledger.Transfer{To: identity.AddressOf(bytes.Repeat([]byte{1}, 32)), Amount: 5}

	dry, err := c.Send(ctx, key, msg, SendOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.GasUsed != fakeGas || dry.GasLimit != fakeGas+GasMargin(fakeGas) || dry.Fee != "2000" || f.lastTx != nil {
		t.Errorf("dry run = %+v (sent %x); want gas %d, limit %d, fee 2000 and nothing sent", dry, f.lastTx, fakeGas, fakeGas+GasMargin(fakeGas))
	}
	// The simulation runs with the block's gas limit.
	if sim := f.simulated[0]; sim.GasLimit != 1_000_000 || sim.GasPrice != 2 || sim.Nonce != 5 {
		t.Errorf("simulated with limit %d price %d nonce %d, want 1000000, 2, 5", sim.GasLimit, sim.GasPrice, sim.Nonce)
	}

	if _, err := c.Send(ctx, key, msg, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	sent, err := ledger.DecodeTx(f.lastTx, ledger.DefaultRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if sent.GasLimit != fakeGas+GasMargin(fakeGas) || sent.GasPrice != 2 || !sent.VerifySignature() {
		t.Errorf("sent gas limit %d price %d, want %d and 2, signed", sent.GasLimit, sent.GasPrice, fakeGas+GasMargin(fakeGas))
	}

	// A chosen limit is simulated as it is, and sent as it is.
	if _, err := c.Send(ctx, key, msg, SendOptions{GasLimit: 1234, GasPrice: 3}); err != nil {
		t.Fatal(err)
	}
	if sent, _ := ledger.DecodeTx(f.lastTx, ledger.DefaultRegistry()); sent.GasLimit != 1234 || sent.GasPrice != 3 {
		t.Errorf("sent gas limit %d price %d, want 1234 and 3", sent.GasLimit, sent.GasPrice)
	}
	if _, err := c.Send(ctx, key, msg, SendOptions{GasPrice: 1}); errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "below the chain's minimum") {
		t.Errorf("a price under the minimum: %v", err)
	}

	// 1,500 ustr buy 750 gas, under the 1,000 the transaction uses: Send
	// says the balance cannot pay, before sending anything; 2,500 buy
	// 1,250, and the limit is that, short of the margin.
	f.lastTx = nil
	ch := Chain{ChainID: "stratus-test", MinGasPrice: 2, MaxBlockGas: 1_000_000}
	if _, _, err := c.Prepare(ctx, ch, key, msg, 1, 1500, SendOptions{}); errs.KindOf(err) != errs.Insufficient || !strings.Contains(err.Error(), "cannot pay for the 1000 gas") {
		t.Errorf("a balance of 1500 ustr: %v, want Insufficient, cannot pay for the 1000 gas", err)
	}
	if tx, _, err := c.Prepare(ctx, ch, key, msg, 1, 2500, SendOptions{}); err != nil || tx.GasLimit != 1250 {
		t.Errorf("a balance of 2500 ustr: %v, %v; want a limit of 1250", tx, err)
	}
	// A node stops a simulation where the balance runs out: that is a
	// balance that cannot pay, not a transaction too large.
	f.broke = key.Address()
	if _, _, err := c.Prepare(ctx, ch, key, msg, 1, 2*brokeGas, SendOptions{}); errs.KindOf(err) != errs.Insufficient || !strings.Contains(err.Error(), "buys 300 gas at 2ustr per gas") {
		t.Errorf("a simulation stopped by the balance: %v, want Insufficient saying what the balance buys", err)
	}
	if f.lastTx != nil {
		t.Error("a transaction that could not pay was sent")
	}
}
