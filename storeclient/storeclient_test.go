package storeclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
	"github.com/stratus-cloud/stratus/objects"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
)

// net is one devnet, with its five storage providers, shared by the tests
// of this package: starting one takes seconds.
type net struct {
	home string
	n    *node.Node
	api  *client.Client
	sc   *storeclient.Client
	demo *identity.Key
}

var shared *net

func TestMain(m *testing.M) {
	code := func() int {
		home, err := os.MkdirTemp("", "stratus-storeclient-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(home)
		cfg := node.DefaultConfig()
		cfg.API.Listen, cfg.Consensus.RPCListen, cfg.Consensus.P2PListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
		if _, err := node.InitDevnet(home, cfg, ""); err != nil {
			panic(err)
		}
		if cfg, err = node.LoadConfig(home); err != nil {
			panic(err)
		}
		// Collect often, with a grace long enough for any put to commit,
		// so TestExpiry sees its shards go.
		for i := range cfg.Storage {
			cfg.Storage[i].GCInterval = node.Duration(500 * time.Millisecond)
			cfg.Storage[i].GCGrace = node.Duration(15 * time.Second)
		}
		n, err := node.Start(context.Background(), home, cfg, nil)
		if err != nil {
			panic(err)
		}
		defer n.Close()
		demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
		if err != nil {
			panic(err)
		}
		api := client.New(n.APIURL())
		shared = &net{home: home, n: n, api: api, sc: storeclient.New(api), demo: demo}
		if err := shared.waitProviders(5); err != nil {
			panic(err)
		}
		return m.Run()
	}()
	os.Exit(code)
}

// waitProviders waits until k storage providers answer their health checks.
func (w *net) waitProviders(k int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ps, err := w.api.Providers(context.Background())
		up := 0
		for _, p := range ps {
			if resp, err := http.Get(p.Endpoint + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.HasPrefix(p.Endpoint, "http://127.0.0.1:") && p.Offers[0].Class == market.ClassStorage {
					up++
				}
			}
		}
		if err == nil && up >= k {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the devnet's storage providers did not come up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (w *net) put(t *testing.T, data []byte, o storeclient.PutOptions) *storeclient.PutResult {
	t.Helper()
	res, err := w.sc.Put(context.Background(), w.demo, bytes.NewReader(data), int64(len(data)), o)
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	return res
}

func (w *net) get(t *testing.T, id string, o storeclient.GetOptions) ([]byte, *storeclient.GetResult, error) {
	t.Helper()
	var buf bytes.Buffer
	res, err := w.sc.Get(context.Background(), id, &buf, o)
	return buf.Bytes(), res, err
}

// providerOf returns the devnet storage provider names holding an object's
// shards, by the order of the put's providers.
func (w *net) names(t *testing.T, dids []string) []string {
	t.Helper()
	var out []string
	for _, d := range dids {
		found := false
		for _, s := range w.n.Config.Storage {
			info, err := identity.OpenKeystore(node.KeysDir(w.home)).Show(s.Name)
			if err == nil && info.Address == d {
				out = append(out, s.Name)
				found = true
			}
		}
		if !found {
			t.Fatalf("provider %s is not one of the devnet's", d)
		}
	}
	return out
}

func TestRoundTrips(t *testing.T) {
	seg := int(storage.DefaultSegmentSize)
	for _, size := range []int{0, 1, seg - 1, seg, seg + 1, 3*seg + 12345} {
		data := randomBytes(size, uint64(size))
		res := shared.put(t, data, storeclient.PutOptions{})
		if size > 0 && (len(res.Leases) != 5 || len(res.Providers) != 5) {
			t.Fatalf("size %d: %d leases with %d providers, want 5 and 5", size, len(res.Leases), len(res.Providers))
		}
		got, gr, err := shared.get(t, res.ID, storeclient.GetOptions{})
		if err != nil {
			t.Fatalf("size %d: get: %v", size, err)
		}
		if !bytes.Equal(got, data) || gr.Bytes != int64(size) || len(gr.Faults) != 0 {
			t.Fatalf("size %d: got %d bytes (equal %v), %d faults", size, len(got), bytes.Equal(got, data), len(gr.Faults))
		}
		// The ID is the content's: the same bytes in a fresh encoder.
		m, err := storage.Encode(bytes.NewReader(data), storage.DefaultParams(), func(int, storage.EncodedSegment) error { return nil })
		if err != nil || m.ID().String() != res.ID {
			t.Fatalf("size %d: ID %s, recomputed %v (%v)", size, res.ID, m.ID(), err)
		}
	}
}

func TestRangeReads(t *testing.T) {
	seg := int64(storage.DefaultSegmentSize)
	data := randomBytes(int(2*seg+100), 7)
	res := shared.put(t, data, storeclient.PutOptions{K: 2, M: 1})
	for _, r := range [][2]int64{{0, 1}, {seg - 10, 20}, {seg, seg}, {2 * seg, 100}, {2*seg + 50, -1}, {5, 2*seg + 95}} {
		got, _, err := shared.get(t, res.ID, storeclient.GetOptions{Offset: r[0], Length: r[1]})
		if err != nil {
			t.Fatalf("range %v: %v", r, err)
		}
		end := int64(len(data))
		if r[1] >= 0 {
			end = r[0] + r[1]
		}
		if !bytes.Equal(got, data[r[0]:end]) {
			t.Fatalf("range %v: %d bytes, not the object's", r, len(got))
		}
	}
	if _, _, err := shared.get(t, res.ID, storeclient.GetOptions{Offset: int64(len(data)) + 1}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("offset past the end: %v", err)
	}
}

// stop stops the named storage providers and returns a function that
// starts them again.
func stop(t *testing.T, names ...string) func() {
	t.Helper()
	for _, name := range names {
		if err := shared.n.StopStorage(name); err != nil {
			t.Fatal(err)
		}
	}
	restarted := false
	restart := func() {
		if restarted {
			return
		}
		restarted = true
		for _, name := range names {
			if err := shared.n.StartStorage(context.Background(), name); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(restart)
	return restart
}

func TestReadsWithProvidersDown(t *testing.T) {
	data := randomBytes(3*int(storage.DefaultSegmentSize)+5, 11)
	res := shared.put(t, data, storeclient.PutOptions{})
	names := shared.names(t, res.Providers)

	// m = 2 providers down: every read still succeeds, from parity. A
	// fresh client knows no provider's speed, so it asks for segment 0's
	// data shards first, and names[0] holds the first of them.
	restart := stop(t, names[0], names[3])
	var buf bytes.Buffer
	gr, err := storeclient.New(shared.api).Get(context.Background(), res.ID, &buf, storeclient.GetOptions{})
	got := buf.Bytes()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("with 2 of 5 providers down: %d bytes, %v", len(got), err)
	}
	unreachable := 0
	for _, f := range gr.Faults {
		if f.Kind == "unreachable" {
			unreachable++
		}
	}
	if unreachable == 0 {
		t.Fatalf("faults %+v: want the down providers reported unreachable", gr.Faults)
	}

	// m+1 down: a clear error naming the missing shards.
	restart3 := stop(t, names[1])
	_, _, err = shared.get(t, res.ID, storeclient.GetOptions{})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "cannot be recovered") || !strings.Contains(err.Error(), res.Providers[1]) {
		t.Fatalf("with 3 of 5 down: %v", err)
	}
	restart3()
	restart()
	if got, _, err := shared.get(t, res.ID, storeclient.GetOptions{}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the restarts: %v", err)
	}
}

func TestCorruptShardIsRoutedAroundAndReported(t *testing.T) {
	data := randomBytes(int(storage.DefaultSegmentSize)+99, 12)
	res := shared.put(t, data, storeclient.PutOptions{})
	info, err := shared.sc.Info(context.Background(), res.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of data shard 0 of segment 0, on its provider's disk.
	ref := info.Manifest.Segments[0].Shards[0]
	name := shared.names(t, []string{ref.Provider})[0]
	path := shardPath(t, name, ref.Hash)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// A fresh client knows no provider's speed, so it reads data shard 0
	// of segment 0 first.
	var buf bytes.Buffer
	gr, err := storeclient.New(shared.api).Get(context.Background(), res.ID, &buf, storeclient.GetOptions{})
	if got := buf.Bytes(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a corrupt shard: %v", err)
	}
	if c := gr.Corrupt(); len(c) != 1 || c[0] != ref.Provider {
		t.Fatalf("corrupt providers %v, want [%s]; faults %+v", c, ref.Provider, gr.Faults)
	}
}

// shardPath is where a devnet provider's disk store keeps a shard.
func shardPath(t *testing.T, name string, h storage.Hash) string {
	t.Helper()
	for _, s := range shared.n.Config.Storage {
		if s.Name == name {
			dir := s.Dir
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(shared.home, dir)
			}
			x := h.String()
			return filepath.Join(dir, "shards", x[:2], x[2:4], x)
		}
	}
	t.Fatalf("no storage provider %s", name)
	return ""
}

func TestInfoAndRemove(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(1<<20, 13)
	before, err := shared.api.Account(ctx, shared.demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	res := shared.put(t, data, storeclient.PutOptions{Expires: time.Hour})
	info, err := shared.sc.Info(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || len(info.Placement) != 5 || len(info.Leases) != 5 || info.Rate == 0 || info.Escrow == 0 || info.ExpiresMs == 0 {
		t.Fatalf("info %+v", info)
	}
	for _, p := range info.Placement {
		if p.Shards != 1 || p.Endpoint == "" {
			t.Fatalf("placement %+v", p)
		}
	}
	ls, err := shared.sc.List(ctx, shared.demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range ls {
		found = found || o.ID == res.ID
	}
	if !found {
		t.Fatalf("List does not have %s", res.ID)
	}

	rm, err := shared.sc.Remove(ctx, shared.demo, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Closed) != 5 || rm.Deleted != 5 {
		t.Fatalf("remove: %+v", rm)
	}
	for _, l := range info.Leases {
		lv, err := shared.api.Lease(ctx, l.ID)
		if err != nil || lv.State != market.LeaseClosed || lv.Escrow != 0 || lv.Refunded == 0 {
			t.Fatalf("lease %d after remove: %+v, %v", l.ID, lv, err)
		}
	}
	// The providers dropped the claims at once (Deleted above), and delete
	// the files once the receipts they gave for them have expired (the
	// collector's grace on this devnet).
	ref := info.Manifest.Segments[0].Shards[0]
	path := shardPath(t, shared.names(t, []string{ref.Provider})[0], ref.Hash)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard file after remove: %v", err)
		}
	}
	if _, _, err := shared.get(t, res.ID, storeclient.GetOptions{}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get after remove: %v", err)
	}
	// All that left the account is fees and what the leases earned.
	after, err := shared.api.Account(ctx, shared.demo.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	if before.Balance == after.Balance {
		t.Fatal("nothing was paid")
	}
}

func TestNotEnoughProviders(t *testing.T) {
	_, err := shared.sc.Put(context.Background(), shared.demo, bytes.NewReader([]byte("x")), 1, storeclient.PutOptions{K: 4, M: 3})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "needs 7 storage providers") {
		t.Fatalf("4+3 on 5 providers: %v", err)
	}
}

func TestNotEnoughFunds(t *testing.T) {
	ctx := context.Background()
	poor, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// 0.1 STR pays the fees but not deposits for a century.
	if _, err := shared.api.Send(ctx, shared.demo, &ledger.Transfer{To: poor.Address(), Amount: money.UstrPerSTR / 10}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(1<<20, 15)
	_, err = shared.sc.Put(ctx, poor, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{Prepay: 1_000_000 * time.Hour})
	if !errs.Is(err, errs.Insufficient) || !strings.Contains(err.Error(), "fund the account") {
		t.Fatalf("put without the funds: %v", err)
	}
	// Nothing is left open: every lease that opened was closed again.
	ls, err := shared.api.Leases(ctx, poor.Address().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.State != market.LeaseClosed {
			t.Fatalf("lease %d is %s after a failed put", l.ID, l.State)
		}
	}
}

func TestGatewayContent(t *testing.T) {
	data := randomBytes(int(storage.DefaultSegmentSize)+1000, 14)
	res := shared.put(t, data, storeclient.PutOptions{})
	url := shared.n.APIURL() + "/v1/objects/" + res.ID + "/content"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("ETag") != `"`+res.ID+`"` {
		t.Fatalf("gateway: %d, %d bytes", resp.StatusCode, len(body))
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=4194300-4194309")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(body, data[4194300:4194310]) || resp.Header.Get("Content-Range") != "bytes 4194300-4194309/4195304" {
		t.Fatalf("range: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}
	req.Header.Set("Range", "bytes=9999999-")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 416 {
		t.Fatalf("range past the end: %d", resp.StatusCode)
	}
	resp, err = http.Get(shared.n.APIURL() + "/v1/objects/bafkreiha6syqxstljcf6wbr3xbe4powomyczr3wznc6t2otpruesrgdwzi/content")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown object: %d", resp.StatusCode)
	}
}

// TestExpiry puts an object that expires in two seconds: the ledger drops
// it and closes its leases, and then the providers' collectors delete its
// shards once the grace after their upload has passed.
func TestExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := randomBytes(100_000, 16)
	res := shared.put(t, data, storeclient.PutOptions{Expires: 2 * time.Second})
	info, err := shared.sc.Info(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref := info.Manifest.Segments[0].Shards[0]
	path := shardPath(t, shared.names(t, []string{ref.Provider})[0], ref.Hash)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("shard before expiry: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := shared.api.Object(ctx, res.ID)
		if errs.Is(err, errs.NotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("object still there after its expiry: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, l := range info.Leases {
		lv, err := shared.api.Lease(ctx, l.ID)
		if err != nil || lv.State != market.LeaseClosed || lv.Escrow != 0 || lv.Refunded == 0 {
			t.Fatalf("lease %d after expiry: %+v, %v", l.ID, lv, err)
		}
	}
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the provider kept the expired object's shard")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// funded returns a new key with amount ustr from the demo key.
func funded(t *testing.T, amount uint64) *identity.Key {
	t.Helper()
	k, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.api.Send(context.Background(), shared.demo, &ledger.Transfer{To: k.Address(), Amount: amount}, client.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	return k
}

func (w *net) balance(t *testing.T, k *identity.Key) uint64 {
	t.Helper()
	a, err := w.api.Account(context.Background(), k.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := money.ParseUstr(a.Balance)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPutTwiceSpendsNothing: putting bytes the same owner already stored
// returns the stored object and spends nothing: no upload, no lease, no fee.
// It used to re-upload everything, open and close 5 leases and pay 10 fees,
// then fail with "already committed". Another owner's put of the same bytes
// fails before spending anything.
func TestPutTwiceSpendsNothing(t *testing.T) {
	ctx := context.Background()
	alice, bob := funded(t, 100*money.UstrPerSTR), funded(t, 100*money.UstrPerSTR)
	data := randomBytes(300_000, 21)
	first, err := shared.sc.Put(ctx, alice, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := shared.api.Leases(ctx, alice.Address().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	bal := shared.balance(t, alice)
	again, err := shared.sc.Put(ctx, alice, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.ID != first.ID || again.Deposit != 0 || again.Tx != "" || len(again.Leases) != 5 || again.PaidUntilMs == 0 {
		t.Fatalf("second put: %+v", again)
	}
	for i := range first.Leases {
		if again.Leases[i] != first.Leases[i] {
			t.Fatalf("second put's leases %v, want the first's %v", again.Leases, first.Leases)
		}
	}
	if got := shared.balance(t, alice); got != bal {
		t.Fatalf("the second put spent %d ustr", bal-got)
	}
	if after, _ := shared.api.Leases(ctx, alice.Address().String(), false); len(after) != len(leases) {
		t.Fatalf("the second put opened leases: %d, then %d", len(leases), len(after))
	}

	bobBal := shared.balance(t, bob)
	_, err = shared.sc.Put(ctx, bob, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{})
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "already stored as object "+first.ID+", owned by "+alice.Address().String()) {
		t.Fatalf("bob's put of alice's bytes: %v", err)
	}
	if got := shared.balance(t, bob); got != bobBal {
		t.Fatalf("bob's refused put spent %d ustr", bobBal-got)
	}
	// With another redundancy it is another object, bob's own.
	if _, err := shared.sc.Put(ctx, bob, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{K: 2, M: 2}); err != nil {
		t.Fatal(err)
	}
}

// TestRenewAndPaidUntil: an object is paid until its first lease runs dry;
// renewing tops up all five leases in one transaction, each by its rate
// times the time bought, rounded up.
func TestRenewAndPaidUntil(t *testing.T) {
	ctx := context.Background()
	k := funded(t, 100*money.UstrPerSTR)
	data := randomBytes(200_000, 22)
	res, err := shared.sc.Put(ctx, k, bytes.NewReader(data), int64(len(data)), storeclient.PutOptions{Prepay: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	info, err := shared.sc.Info(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	// At least a day of deposit (each lease's rounded up to whole ustr),
	// ending when the first lease runs dry.
	left := int64(-1)
	minRate := uint64(0)
	for _, l := range info.Leases {
		if left < 0 || l.SecondsLeft < left {
			left = l.SecondsLeft
		}
		if minRate == 0 || l.Rate < minRate {
			minRate = l.Rate
		}
	}
	if d := time.Until(time.UnixMilli(info.PaidUntilMs)); d < 23*time.Hour || (d-time.Duration(left)*time.Second).Abs() > 10*time.Second {
		t.Fatalf("paid for %s more, the first lease for %ds; want a day or more, and the same", d, left)
	}
	// 1 ustr buys 10^9 / rate seconds: renewing may buy up to that much more.
	slack := time.Duration(market.NanoPerUstr/minRate+1) * time.Second
	var want uint64
	for _, l := range info.Leases {
		c, err := objects.RenewCost(l.Rate, 90*24*3600)
		if err != nil {
			t.Fatal(err)
		}
		want += c
	}
	bal := shared.balance(t, k)
	rn, err := shared.sc.Renew(ctx, k, res.ID, 90*24*time.Hour, client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rn.Amount != want || len(rn.Leases) != 5 || rn.Seconds != 90*24*3600 {
		t.Fatalf("renew: %+v, want %d ustr over 5 leases", rn, want)
	}
	fee, _ := money.ParseUstr(rn.Result.Fee)
	if got := shared.balance(t, k); got != bal-want-fee || fee == 0 {
		t.Fatalf("renew took %d ustr, want %d + fee %d", bal-got, want, fee)
	}
	if d := time.Duration(rn.PaidUntilMs-info.PaidUntilMs) * time.Millisecond; d < 90*24*time.Hour || d > 90*24*time.Hour+slack {
		t.Fatalf("paid until moved by %s, want 90 days and at most %s", d, slack)
	}
	if _, err := shared.sc.Renew(ctx, k, res.ID, time.Millisecond, client.SendOptions{}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("renew for a millisecond: %v", err)
	}
}
