package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/compute"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/storeclient"
)

// The compute providers a node runs ([[compute]] in its config): each a
// compute.Service on its own port, reading the ledger through a node's REST
// API and fetching modules from storage through it, with the provider agent
// (roles.go) acknowledging its leases. A validator runs them next to
// consensus (the devnet's compute0 to compute2); a home with role
// "compute" runs only them, against the validator at Config.Node.

// MaxModuleBytes bounds a module a compute provider fetches from storage.
const MaxModuleBytes = 64 << 20

// ComputeCapacity is what each built-in compute provider of a devnet or
// testnet offers: 64 cu.
const ComputeCapacity = 64

// ComputeRuntime is a running compute provider, as RuntimeFile lists it.
type ComputeRuntime struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Address string `json:"address"`
}

type computeService struct {
	name string
	svc  *compute.Service
}

// computeSet holds the compute providers a node runs.
type computeSet struct {
	mu       sync.Mutex
	services []computeService
}

// startCompute starts the configured compute providers, reading the ledger
// and fetching modules at ledgerURL. It returns an error of kind NotFound
// if a provider's key is not in the home, and the service's own errors
// otherwise.
func (n *Node) startCompute(ctx context.Context, ledgerURL, passphrase string) error {
	if len(n.Config.Compute) == 0 {
		return nil
	}
	c := client.New(ledgerURL)
	ledger := compute.NewRESTLedger(c)
	fetch := moduleFetcher(storeclient.New(c))
	ks := identity.OpenKeystore(KeysDir(n.Home))
	for _, cc := range n.Config.Compute {
		key, err := ks.Load(cc.Name, passphrase)
		if err != nil {
			return errs.E(errs.KindOf(err), "compute provider %s: cannot load its key: %w", cc.Name, err)
		}
		dir := cc.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(n.Home, dir)
		}
		listen := cc.Listen
		if n.Config.Mode == ModeDevnet && !free(listen) {
			// As for storage: the agent moves the registered endpoint.
			host, _, _ := net.SplitHostPort(listen)
			listen = net.JoinHostPort(host, "0")
			n.log.Warn("a compute provider's port is taken: using a free one", "provider", cc.Name, "configured", cc.Listen)
		}
		svc, err := compute.Start(ctx, compute.Config{
			Name: cc.Name, Key: key, Dir: dir, Listen: listen, Ledger: ledger, Fetch: fetch,
			ReportEvery: time.Duration(cc.ReportEvery),
			Logger:      n.log.With("component", "compute", "provider", cc.Name),
		})
		if err != nil {
			return err
		}
		n.compute.mu.Lock()
		n.compute.services = append(n.compute.services, computeService{name: cc.Name, svc: svc})
		n.compute.mu.Unlock()
	}
	return nil
}

// moduleFetcher reads a module from storage, refusing one larger than
// MaxModuleBytes.
func moduleFetcher(sc *storeclient.Client) compute.Fetcher {
	return func(ctx context.Context, objectID string) ([]byte, error) {
		var buf bytes.Buffer
		w := &limitedWriter{w: &buf, left: MaxModuleBytes}
		if _, err := sc.Get(ctx, objectID, w, storeclient.GetOptions{}); err != nil {
			if w.over {
				return nil, errs.E(errs.TooLarge, "module %s is larger than %d MiB: a compute provider does not run it", objectID, MaxModuleBytes>>20)
			}
			return nil, err
		}
		return buf.Bytes(), nil
	}
}

// limitedWriter fails a write past its limit.
type limitedWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		l.over = true
		return 0, errs.E(errs.TooLarge, "more than the limit of %d bytes", MaxModuleBytes)
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}

// closeCompute stops the compute providers.
func (n *Node) closeCompute() error {
	n.compute.mu.Lock()
	defer n.compute.mu.Unlock()
	var first error
	for _, s := range n.compute.services {
		if err := s.svc.Close(); err != nil && first == nil {
			first = err
		}
	}
	n.compute.services = nil
	return first
}

// ComputeURL returns the URL of the compute provider name run by this
// node, or "" if it runs none by that name.
func (n *Node) ComputeURL(name string) string {
	n.compute.mu.Lock()
	defer n.compute.mu.Unlock()
	for _, s := range n.compute.services {
		if s.name == name {
			return s.svc.URL()
		}
	}
	return ""
}

func (n *Node) computeRuntime() []ComputeRuntime {
	n.compute.mu.Lock()
	defer n.compute.mu.Unlock()
	var out []ComputeRuntime
	for _, s := range n.compute.services {
		out = append(out, ComputeRuntime{Name: s.name, URL: s.svc.URL(), Address: s.svc.Addr().String()})
	}
	return out
}

// startProviderHome runs a home with role "storage" or "compute": its
// providers and their agents, against the validator at cfg.Node, with no
// ledger of its own.
func startProviderHome(ctx context.Context, home string, cfg Config, logger *slog.Logger) (_ *Node, err error) {
	n := &Node{Home: home, Config: cfg, log: logger}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	passphrase := os.Getenv("STRATUS_PASSPHRASE")
	if err := n.startStorage(ctx, cfg.Node, passphrase); err != nil {
		return nil, err
	}
	if err := n.startCompute(ctx, cfg.Node, passphrase); err != nil {
		return nil, err
	}
	rt := Runtime{PID: os.Getpid(), Storage: n.storageRuntime(), Compute: n.computeRuntime()}
	raw, _ := json.MarshalIndent(rt, "", "  ")
	if err := writeFileAtomic(RuntimeFile(home), raw, 0o600); err != nil {
		return nil, err
	}
	n.wroteRuntime = true
	n.startRoles(cfg.Node, passphrase)
	logger.Info(cfg.Role+" node started", "home", home, "node", cfg.Node, "storage", len(rt.Storage), "compute", len(rt.Compute))
	return n, nil
}
