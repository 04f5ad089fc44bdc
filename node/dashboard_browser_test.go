package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/internal/testnet"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storeclient"
)

// TestDashboardInBrowser drives the dashboard a devnet node serves at / in
// headless Chromium: every page shows the devnet's real data, the height
// advances by itself, a transfer made here appears in the recipient's
// history with its memo, the audit log's verify button proves entries in
// the browser, and a node that lies about a proof or a checkpoint is
// caught. Each page is saved as a screenshot at laptop and phone widths,
// in $STRATUS_SCREENSHOTS or a temporary directory, and must not scroll
// sideways on the phone.
func TestDashboardInBrowser(t *testing.T) {
	chrome := findChrome(t)
	d := startDevnet(t, market.DefaultGenesis())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := newBrowser(ctx, t, chrome, d.n.APIURL())

	// Overview: the height is a number, and it grows without a reload.
	b.open("/")
	first := b.waitNumber("#height", func(int64) bool { return true })
	b.waitNumber("#height", func(h int64) bool { return h > first })
	b.waitJS("the supply table lists the balances bucket", `document.querySelector('#supply')?.textContent.includes('balances')`)
	b.waitJS("the latest blocks are listed", `document.querySelectorAll('#blocks tbody tr').length > 0`)
	b.waitJS("the latest audit events are listed", `document.querySelectorAll('#audit-entries tbody tr').length > 0`)
	b.shoot("overview")

	// Providers: the devnet's own, each by its did:key.
	ps, err := d.c.Providers(ctx)
	if err != nil || len(ps) == 0 {
		t.Fatalf("providers: %d, %v", len(ps), err)
	}
	b.go_("/providers")
	b.waitJS(fmt.Sprintf("%d providers are listed", len(ps)), fmt.Sprintf(`document.querySelectorAll('#providers tbody tr').length === %d`, len(ps)))
	for _, p := range ps {
		b.waitJS("provider "+p.Operator.String()+" is listed", fmt.Sprintf(`!!document.querySelector('#providers a[title=%q]')`, p.Operator.String()))
	}
	b.shoot("providers")

	// A lease, shown with its money.
	res, err := d.c.Send(ctx, d.demo, &market.OpenLease{Class: market.ClassStorage, Quantity: 1 << 30, Deposit: 5 * money.UstrPerSTR}, client.SendOptions{})
	if err != nil {
		t.Fatalf("open lease: %v", err)
	}
	leaseID := eventAttr(t, res.Events, "lease.opened", "lease")
	b.go_("/leases?state=all")
	b.waitJS("lease "+leaseID+" is listed", fmt.Sprintf(`!!document.querySelector('#leases a[href="#/leases/%s"]')`, leaseID))
	b.shoot("leases")
	b.go_("/leases/" + leaseID)
	b.waitJS("the lease shows its deposit", `document.querySelector('main')?.textContent.includes('5 STR') && document.querySelector('main').textContent.includes('Where the deposit went')`)
	b.shoot("lease")
	b.eval(`document.querySelector('a.trail').click()`)
	b.waitJS("the lease's audit trail lists its opening", `document.querySelector('#audit-entries')?.textContent.includes('lease.opened')`)
	// The event's attributes are shown by what the node declares they
	// name: the lease links to its page, the amounts read in STR.
	b.waitJS("the lease.opened entry links to the lease", fmt.Sprintf(`!!document.querySelector('#audit-entries a[href="#/leases/%s"]')`, leaseID))
	b.waitJS("its deposit reads in STR", `document.querySelector('#audit-entries').textContent.includes('5 STR')`)
	b.shoot("audit-search")

	// An account's history: open the page first, then send, and the
	// transfer appears with its memo without a reload.
	to, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	did := to.Address().String()
	b.go_("/accounts/" + did)
	b.waitJS("the new account's balance is 0", `document.querySelector('#balance')?.textContent === '0 STR'`)
	// A stranger's memo is shown as text, never run as HTML.
	memo := "dashboard test " + strconv.FormatInt(time.Now().UnixNano(), 36) + ` <img src=x onerror="window.pwned=1">`
	tr, err := d.c.Send(ctx, d.demo, &ledger.Transfer{To: to.Address(), Amount: 1_500_000}, client.SendOptions{Memo: memo})
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	b.waitJS("the transfer's memo is in the account's history", fmt.Sprintf(`document.querySelector('#history')?.textContent.includes(%q)`, memo))
	if evalAs[bool](b, `!!document.querySelector('#history img') || window.pwned === 1`) {
		t.Errorf("the memo %q became HTML in the history", memo)
	}
	b.waitJS("the history shows the amount received", `document.querySelector('#history').textContent.includes('+1.5 STR')`)
	b.waitJS("the balance is 1.5 STR", `document.querySelector('#balance')?.textContent === '1.5 STR'`)
	b.shoot("account")
	b.go_("/accounts")
	b.waitJS("the known accounts list the providers", fmt.Sprintf(`!!document.querySelector('main a[title=%q]')`, ps[0].Operator.String()))
	b.shoot("accounts")

	// Blocks and the transfer's transaction.
	b.go_("/blocks")
	b.waitJS("blocks are listed", `document.querySelectorAll('#blocks tbody tr').length >= 20`)
	b.waitJS("the transfer is among the latest transactions", fmt.Sprintf(`!!document.querySelector('#txs a[href="#/txs/%s"]')`, tr.Hash))
	b.shoot("blocks")
	b.go_("/blocks/" + strconv.FormatInt(tr.Height, 10))
	b.waitJS("the block lists the transfer", fmt.Sprintf(`!!document.querySelector('a[href="#/txs/%s"]')`, tr.Hash))
	b.shoot("block")
	b.go_("/txs/" + tr.Hash)
	b.waitJS("the transaction page shows the transfer", `document.querySelector('main')?.textContent.includes('bank/transfer')`)
	b.shoot("tx")

	// Verify the transfer from its page, then the latest entry from the
	// audit log's list.
	b.eval(`document.querySelector('a[href^="#/audit?tx="]').click()`)
	b.waitVerified()
	b.shoot("audit-entry")
	b.go_("/audit")
	b.waitJS("audit entries are listed", `document.querySelectorAll('#audit-entries tbody tr').length > 0`)
	b.shoot("audit")
	b.eval(`document.querySelector('#audit-entries a.verify').click()`)
	b.waitVerified()

	// An object and a function deployment: the module is the object.
	mod := testnet.HelloWasm()
	put, err := storeclient.New(d.c).Put(ctx, d.demo, bytes.NewReader(mod), int64(len(mod)), storeclient.PutOptions{})
	if err != nil {
		t.Fatalf("store the module: %v", err)
	}
	spec := functions.Spec{Module: put.ID, SpecHash: strings.Repeat("ab", 32), MemoryBytes: 64 << 20, TimeoutMs: 5000, Routes: []string{"/"},
		Scaling: functions.Scaling{Min: 1, Max: 1, TargetConcurrency: 8, CooldownSeconds: 60}, SpendLimit: 100_000_000}
	dep, err := d.c.Send(ctx, d.demo, &functions.Deploy{Name: "dashboard-hello", Spec: spec, Deposit: 10_000_000}, client.SendOptions{})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	depID := eventAttr(t, dep.Events, "function.deployed", "deployment")
	for _, p := range []struct{ route, what, ready string }{
		{"/objects", "the module is listed", fmt.Sprintf(`!!document.querySelector('#objects a[title=%q]')`, put.ID)},
		{"/objects/" + put.ID, "the object shows its leases", fmt.Sprintf(`document.querySelectorAll('main a[href^="#/leases/"]').length === %d`, len(put.Leases))},
		{"/functions", "the deployment is listed", `document.querySelector('#functions')?.textContent.includes('dashboard-hello')`},
		{"/functions/" + depID, "the deployment shows its replica", `document.querySelectorAll('main a[href^="#/providers/"]').length > 0`},
		{"/prices", "both price charts are drawn", `!!document.querySelector('#chart-storage svg path.line') && !!document.querySelector('#chart-compute svg path.line')`},
	} {
		b.go_(p.route)
		b.waitJS(p.what, p.ready)
		name := strings.TrimPrefix(p.route, "/")
		if i := strings.IndexByte(name, '/'); i > 0 {
			name = name[:i] + "-one"
		}
		b.shoot(name)
	}

	// The JavaScript SHA-256, used where WebCrypto is missing, agrees with
	// WebCrypto.
	agree := evalAs[string](b, `(async () => {
		const {sha256} = await import('/ui/sha256.js');
		for (let n = 0; n < 300; n += 7) {
			const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 255);
			const want = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
			if (sha256(data).join() !== want.join()) return 'differs at length ' + n;
		}
		return 'ok';
	})()`)
	if agree != "ok" {
		t.Errorf("JavaScript SHA-256: %s", agree)
	}

	// A node that lies is caught: served through a proxy that changes one
	// hash of every inclusion proof, or the checkpoint's write-set hash,
	// verification fails at that step.
	var lie atomic.Value
	proxy := lyingProxy(t, d.n.APIURL(), &lie)
	for _, c := range []struct{ lie, step string }{
		{"proof", "Inclusion proof"},
		{"checkpoint", "App hash"},
	} {
		lie.Store(c.lie)
		b.base = proxy
		b.run("leave the page", chromedp.Navigate("about:blank"))
		b.open("/audit/1?verify=1")
		b.waitJS("verification fails with a lying "+c.lie, `document.querySelector('#verify-result')?.classList.contains('bad')`)
		bad := evalAs[string](b, `[...document.querySelectorAll('#verify-steps li.bad')].map((li) => li.innerText).join(' | ')`)
		if !strings.Contains(bad, c.step) {
			t.Errorf("with a lying %s, the failed steps are %q; want the %q step", c.lie, bad, c.step)
		}
		b.shoot("audit-lie-" + c.lie)
	}
	b.check()
}

// findChrome returns the path of a Chromium or Chrome binary: $CHROME, or
// the first of the usual names on $PATH. It skips the test when there is
// none.
func findChrome(t *testing.T) string {
	t.Helper()
	if c := os.Getenv("CHROME"); c != "" {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
		t.Fatalf("CHROME=%s is not an executable", c)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium to drive the dashboard: install the Debian package chromium (apt-get install chromium), or set CHROME to a Chrome binary")
	return ""
}

// browser is a headless Chromium tab on a node's dashboard.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string

	mu     sync.Mutex
	errors []string // exceptions and console errors the page raised
}

func newBrowser(ctx context.Context, t *testing.T, chrome, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1280, 800))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	b := &browser{t: t, base: base, shots: os.Getenv("STRATUS_SCREENSHOTS")}
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b.ctx = bctx
	if b.shots == "" {
		b.shots = t.TempDir()
	} else if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", b.shots)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	return b
}

// listen keeps the exceptions and console errors of the page.
func (b *browser) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		for _, a := range e.Args {
			msg += " " + string(a.Value) + a.Description
		}
	default:
		return
	}
	b.mu.Lock()
	b.errors = append(b.errors, msg)
	b.mu.Unlock()
}

func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open loads the dashboard at route, a fresh document.
func (b *browser) open(route string) {
	b.t.Helper()
	b.run("open "+route, chromedp.Navigate(b.base+"/#"+route))
}

// go_ moves the open dashboard to route, as a click on a link would.
func (b *browser) go_(route string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`location.hash = %q`, "#"+route))
}

// eval runs expr in the page, for its effect.
func (b *browser) eval(expr string) {
	b.t.Helper()
	evalAs[chromedp.Void](b, expr)
}

// evalAs runs expr in the page, awaiting a promise, and returns its value.
func evalAs[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page; it fails the test, with the
// page's text, if that takes longer than testTimeout.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.t.Fatalf("waiting until %s: gave up (last error %v); the page at %s", what, err, b.page())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// page describes where the browser is, for failure messages.
func (b *browser) page() string {
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('main')?.innerText.slice(0, 2000) ?? ''`))
	return loc + " reads:\n" + text
}

// waitNumber waits for the element sel to hold a number that ok accepts,
// and returns it.
func (b *browser) waitNumber(sel string, ok func(int64) bool) int64 {
	b.t.Helper()
	var got int64
	deadline := time.Now().Add(testTimeout)
	for {
		text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ''`, sel)))
		if err == nil {
			if n, perr := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(text), ",", ""), 10, 64); perr == nil {
				got = n
				if ok(n) {
					return n
				}
			}
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.t.Fatalf("%s never held the number wanted: last %q (%d); the page at %s", sel, text, got, b.page())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitVerified waits for the audit entry page's verification to pass
// every step.
func (b *browser) waitVerified() {
	b.t.Helper()
	b.waitJS("the verification finishes", `document.querySelector('#verify-result')?.classList.contains('ok') || document.querySelector('#verify-result')?.classList.contains('bad')`)
	result := evalAs[string](b, `document.querySelector('#verify-result').innerText`)
	good := evalAs[int](b, `document.querySelectorAll('#verify-steps li.ok').length`)
	bad := evalAs[int](b, `document.querySelectorAll('#verify-steps li.bad').length`)
	if !strings.HasPrefix(result, "✓ Verified") || good != 5 || bad != 0 {
		b.t.Fatalf("verification: %q, %d steps passed and %d failed; want ✓ and 5 passed; page at %s", result, good, bad, b.page())
	}
}

// shoot saves the page at laptop (1280x800) and phone (390x844) widths and
// checks that the phone's page does not scroll sideways.
func (b *browser) shoot(name string) {
	b.t.Helper()
	for _, v := range []struct {
		size          string
		width, height int64
		mobile        bool
	}{{"laptop", 1280, 800, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.run("viewport for "+name, chromedp.EmulateViewport(v.width, v.height, opts...))
		overflow := evalAs[int](b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if overflow > 0 {
			b.t.Errorf("%s at %s width scrolls sideways by %d px", name, v.size, overflow)
		}
		if err := os.WriteFile(filepath.Join(b.shots, name+"-"+v.size+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run("reset viewport", chromedp.EmulateViewport(1280, 800))
}

// check fails the test for any exception or console error the pages raised.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		b.t.Errorf("the dashboard raised: %s", e)
	}
}

// lyingProxy serves the node at api through a proxy that, as lie says,
// changes a byte of one hash in every inclusion proof ("proof") or of the
// checkpoint's write-set hash ("checkpoint").
func lyingProxy(t *testing.T, api string, lie *atomic.Value) string {
	t.Helper()
	u, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		field := ""
		switch {
		case lie.Load() == "proof" && r.Request.URL.Path == "/v1/audit/proof/inclusion":
			field = "hashes"
		case lie.Load() == "checkpoint" && r.Request.URL.Path == "/v1/audit/checkpoint":
			field = "writes_hash"
		default:
			return nil
		}
		raw, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		flip := func(s string) string {
			b, _ := base64.StdEncoding.DecodeString(s)
			b[0] ^= 1
			return base64.StdEncoding.EncodeToString(b)
		}
		if field == "hashes" {
			if hs, _ := m["hashes"].([]any); len(hs) > 0 {
				hs[0] = flip(hs[0].(string))
			}
		} else {
			m[field] = flip(m[field].(string))
		}
		out, _ := json.Marshal(m)
		r.Body = io.NopCloser(strings.NewReader(string(out)))
		r.ContentLength = int64(len(out))
		r.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// eventAttr returns attribute key of the first event of type typ.
func eventAttr(t *testing.T, events []api.Event, typ, key string) string {
	t.Helper()
	for _, e := range events {
		if e.Type == typ {
			return e.Attrs[key]
		}
	}
	t.Fatalf("no %s event in %+v", typ, events)
	return ""
}
