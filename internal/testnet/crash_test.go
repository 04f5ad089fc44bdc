package testnet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/ledger"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/node"
)

// devnetSupply is what a devnet starts with: the demo key's and the
// operator's funds.
var devnetSupply = node.DevnetSupply()

// devnetProc is a `stratus devnet` child process.
type devnetProc struct {
	cmd     *exec.Cmd
	log     string // its stderr
	api     string
	demo    string
	created bool
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

// startDevnet starts `stratus devnet` on home with every port picked by the
// system, and returns once it printed its addresses. t.Cleanup kills it if
// it is still running.
func startDevnet(t *testing.T, bin, home string) *devnetProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "devnet.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "devnet", "--home", home, "--api", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--p2p", "127.0.0.1:0", "--log-level", "warn", "--output", "json")
	cmd.Env = childEnv()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start devnet: %v", err)
	}
	p := &devnetProc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		// Keep reading, so the process never blocks on a full pipe;
		// Wait closes the pipe once the process has exited.
		r.WriteTo(discard{})
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	var line string
	select {
	case line = <-lines:
	case <-time.After(testTimeout):
		t.Fatalf("devnet printed nothing in %s; its log:\n%s", testTimeout, tail(logPath, 30))
	}
	var info struct {
		API     string `json:"api"`
		Demo    string `json:"demo"`
		Created bool   `json:"created"`
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil || info.API == "" || info.Demo == "" {
		t.Fatalf("devnet's first line %q is not {\"api\",\"demo\",...} (%v); its log:\n%s", line, err, tail(logPath, 30))
	}
	p.api, p.demo, p.created = info.API, info.Demo, info.Created
	return p
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// transfer is one transfer the test submitted.
type transfer struct {
	sender int
	to     identity.Address
	amount uint64
	hash   string
	// height is where the client saw it committed, or 0 if the
	// submission ended without an answer.
	height int64
}

// TestDevnetSurvivesKill9 kills a devnet with SIGKILL while transfers
// stream in, restarts it on the same home and checks that nothing the
// client saw committed was lost, that balances match exactly the transfers
// that are on the ledger, and that the supply is whole.
func TestDevnetSurvivesKill9(t *testing.T) {
	t.Parallel()
	bin := stratusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	home := filepath.Join(t.TempDir(), "devnet")

	p := startDevnet(t, bin, home)
	if !p.created {
		t.Errorf("first start of a devnet in %s: created is false", home)
	}
	c := client.New(p.api)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	price, err := money.ParseUstr(st.MinGasPrice)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := identity.OpenKeystore(node.KeysDir(home)).Load(node.DemoKey, "")
	if err != nil {
		t.Fatalf("load the demo key: %v", err)
	}
	if demo.Address().String() != p.demo {
		t.Fatalf("devnet printed demo %s; the key in %s is %s", p.demo, home, demo.Address())
	}

	// One sender per goroutine, funded from demo, so that nonces never
	// clash; recipients are shared, so their balances add up transfers
	// from several senders.
	const senders, funding = 4, 100 * money.UstrPerSTR
	keys := make([]*identity.Key, senders)
	var demoFees uint64
	for i := range keys {
		keys[i] = newKey(t)
		res, err := SendTransfer(ctx, c, demo, keys[i].Address(), funding)
		if err != nil {
			t.Fatalf("fund sender %d: %v", i, err)
		}
		demoFees += mustUstr(t, res.Fee)
	}
	recipients := []identity.Address{newAddress(t), newAddress(t), newAddress(t)}

	var (
		mu        sync.Mutex
		sent      []*transfer
		committed atomic.Int64
		active    atomic.Int64
		// From the kill on, senders expect their submissions to fail.
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	streamCtx, stopStream := context.WithCancel(ctx)
	// However the test ends, no sender outlives it.
	defer func() {
		killed.Store(true)
		stopStream()
		wg.Wait()
	}()
	for s := range senders {
		active.Add(1)
		wg.Go(func() {
			defer active.Add(-1)
			for nonce := uint64(0); streamCtx.Err() == nil; nonce++ {
				tr := &transfer{sender: s, to: recipients[(s+int(nonce))%len(recipients)], amount: 1000 + uint64(s)*100 + nonce}
				raw, err := SignTransfer(st.ChainID, keys[s], nonce, price, tr.to, tr.amount)
				if err != nil {
					t.Error(err)
					return
				}
				tr.hash = ledger.HashTx(raw).String()
				mu.Lock()
				sent = append(sent, tr)
				mu.Unlock()
				res, err := c.SubmitTx(streamCtx, raw, true)
				if err != nil {
					if !killed.Load() {
						t.Errorf("sender %d, nonce %d, before the kill: %v", s, nonce, err)
					}
					return
				}
				if res.Hash != tr.hash || res.Height <= 0 || res.Code != 0 {
					t.Errorf("sender %d, nonce %d: got hash %s height %d code %d (%s), want %s committed with code 0", s, nonce, res.Hash, res.Height, res.Code, res.Log, tr.hash)
					return
				}
				mu.Lock()
				tr.height = res.Height
				mu.Unlock()
				committed.Add(1)
			}
		})
	}

	// Kill it mid-stream: after a couple of seconds, and once a good
	// number of transfers are in.
	streamStart := time.Now()
	eventually(ctx, t, "stream transfers", func() error {
		if active.Load() < senders {
			t.Fatalf("a sender stopped before the kill")
		}
		if n := committed.Load(); n < 4*senders || time.Since(streamStart) < 2*time.Second {
			return fmt.Errorf("%d transfers committed", n)
		}
		return nil
	})
	killed.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 the devnet: %v", err)
	}
	<-p.exited
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var seen int
	for _, tr := range sent {
		if tr.height > 0 {
			seen++
		}
	}
	t.Logf("killed the devnet after %d transfers committed, %d in flight", seen, len(sent)-seen)

	p2 := startDevnet(t, bin, home)
	if p2.created {
		t.Errorf("restart of the devnet in %s: created is true, want it resumed", home)
	}
	c = client.New(p2.api)
	// A block that was being decided at the kill is finished from
	// CometBFT's WAL; wait a few blocks so that everything that will ever
	// commit has.
	h0, err := chainHeight(ctx, c)
	if err != nil {
		t.Fatalf("status after restart: %v", err)
	}
	waitChainHeight(ctx, t, c, h0+3)

	found := map[string]bool{}
	got := map[string]uint64{} // expected balance by recipient
	spent := make([]uint64, senders)
	count := make([]uint64, senders)
	for _, tr := range sent {
		res, err := c.Tx(ctx, tr.hash)
		var e *errs.Error
		switch {
		case errors.As(err, &e) && e.Kind == errs.NotFound:
			if tr.height > 0 {
				t.Errorf("transfer %s was committed at height %d before the kill; after restart: %v", tr.hash, tr.height, err)
			}
			continue
		case err != nil:
			t.Fatalf("look up transfer %s: %v", tr.hash, err)
		}
		if res.Code != 0 {
			t.Errorf("transfer %s is on the ledger with code %d (%s), want 0", tr.hash, res.Code, res.Log)
			continue
		}
		if tr.height > 0 && res.Height != tr.height {
			t.Errorf("transfer %s was committed at height %d before the kill; after restart it is at %d", tr.hash, tr.height, res.Height)
		}
		found[tr.hash] = true
		got[tr.to.String()] += tr.amount
		spent[tr.sender] += tr.amount + mustUstr(t, res.Fee)
		count[tr.sender]++
	}
	t.Logf("%d of %d submitted transfers are on the ledger after restart", len(found), len(sent))
	for _, r := range recipients {
		if b := balance(ctx, t, c, r); b != got[r.String()] {
			t.Errorf("recipient %s has %d ustr; the transfers to it on the ledger add up to %d", r, b, got[r.String()])
		}
	}
	for s, k := range keys {
		a, err := c.Account(ctx, k.Address().String())
		if err != nil {
			t.Fatal(err)
		}
		if want := money.FormatUstr(funding - spent[s]); a.Balance != want || a.Nonce != count[s] {
			t.Errorf("sender %d: balance %s nonce %d; the ledger's transfers say %s and %d", s, a.Balance, a.Nonce, want, count[s])
		}
	}
	if b, want := balance(ctx, t, c, demo.Address()), node.DemoFunds-senders*funding-demoFees; b != want {
		t.Errorf("demo has %d ustr, want %d", b, want)
	}
	checkSupply(ctx, t, c, devnetSupply)

	// It keeps going: more blocks, and a new transfer commits.
	h1, err := chainHeight(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	waitChainHeight(ctx, t, c, h1+2)
	if _, err := SendTransfer(ctx, c, demo, recipients[0], 1); err != nil {
		t.Errorf("transfer after restart: %v", err)
	}
	checkSupply(ctx, t, c, devnetSupply)

	// SIGTERM stops it cleanly.
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p2.exited:
		if p2.waitErr != nil {
			t.Errorf("devnet after SIGTERM: %v; its log:\n%s", p2.waitErr, tail(p2.log, 30))
		}
	case <-time.After(20 * time.Second):
		t.Errorf("devnet did not exit within 20s of SIGTERM; its log:\n%s", tail(p2.log, 30))
	}
}

func mustUstr(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := money.ParseUstr(s)
	if err != nil {
		t.Fatalf("amount %q: %v", s, err)
	}
	return v
}
