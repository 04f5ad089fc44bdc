package testnet

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/money"
)

// testTimeout bounds each scenario's waits. It is generous: the tests assert
// behaviour, not speed, and must pass on a loaded machine.
const testTimeout = 90 * time.Second

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
	skip string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// stratusBinary builds the stratus command once per test binary and returns
// its path. It skips the test when there is no go command to build with.
func stratusBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			binary.skip = "no go command on PATH to build stratus with"
			return
		}
		if binary.dir, binary.err = os.MkdirTemp("", "stratus-bin-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "stratus")
		cmd := exec.Command(gobin, "build", "-o", binary.path, "github.com/stratus-cloud/stratus/cmd/stratus")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build stratus: %v\n%s", err, out)
		}
	})
	if binary.skip != "" {
		t.Skip(binary.skip)
	}
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// childEnv is the environment for stratus child processes: this one's,
// without the STRATUS_ settings a developer may have exported.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATUS_") {
			env = append(env, kv)
		}
	}
	return env
}

// newAddress returns the address of a fresh key.
func newAddress(t testing.TB) identity.Address {
	return newKey(t).Address()
}

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, _, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// eventually calls f until it returns nil, and fails the test with f's last
// error if ctx ends first.
func eventually(ctx context.Context, t testing.TB, what string, f func() error) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v (gave up: %v)", what, err, ctx.Err())
		case <-tick.C:
		}
	}
}

// chainHeight returns the height the node at c reports.
func chainHeight(ctx context.Context, c *client.Client) (int64, error) {
	st, err := c.Status(ctx)
	return st.Height, err
}

// waitChainHeight waits until the node at c reports height h.
func waitChainHeight(ctx context.Context, t testing.TB, c *client.Client, h int64) {
	t.Helper()
	eventually(ctx, t, fmt.Sprintf("wait for %s to reach height %d", c.BaseURL(), h), func() error {
		got, err := chainHeight(ctx, c)
		if err != nil {
			return err
		}
		if got < h {
			return fmt.Errorf("at height %d", got)
		}
		return nil
	})
}

// balance returns an account's balance in ustr.
func balance(ctx context.Context, t testing.TB, c *client.Client, addr identity.Address) uint64 {
	t.Helper()
	a, err := c.Account(ctx, addr.String())
	if err != nil {
		t.Fatalf("account %s on %s: %v", addr, c.BaseURL(), err)
	}
	v, err := money.ParseUstr(a.Balance)
	if err != nil {
		t.Fatalf("account %s on %s: balance %q: %v", addr, c.BaseURL(), a.Balance, err)
	}
	return v
}

// checkSupply checks the conservation invariant as the node at c reports
// it: the buckets add up to the supply, and the supply is want.
func checkSupply(ctx context.Context, t testing.TB, c *client.Client, want uint64) {
	t.Helper()
	s, err := c.Supply(ctx)
	if err != nil {
		t.Fatalf("supply from %s: %v", c.BaseURL(), err)
	}
	total, err := money.ParseUstr(s.Supply)
	if err != nil {
		t.Fatalf("supply from %s: %q: %v", c.BaseURL(), s.Supply, err)
	}
	names := make([]string, 0, len(s.Buckets))
	for name := range s.Buckets {
		names = append(names, name)
	}
	sort.Strings(names)
	var sum uint64
	for _, name := range names {
		v, err := money.ParseUstr(s.Buckets[name])
		if err != nil {
			t.Fatalf("supply from %s: bucket %s %q: %v", c.BaseURL(), name, s.Buckets[name], err)
		}
		var carry uint64
		if sum, carry = bits.Add64(sum, v, 0); carry != 0 {
			t.Fatalf("supply from %s: buckets overflow: %v", c.BaseURL(), s.Buckets)
		}
	}
	if sum != total {
		t.Errorf("%s at height %d: buckets %v add up to %d ustr, supply is %d", c.BaseURL(), s.Height, s.Buckets, sum, total)
	}
	if total != want {
		t.Errorf("%s at height %d: supply is %d ustr, want %d", c.BaseURL(), s.Height, total, want)
	}
	if _, ok := s.Buckets["balances"]; !ok {
		t.Errorf("%s: supply has no balances bucket: %v", c.BaseURL(), s.Buckets)
	}
}
