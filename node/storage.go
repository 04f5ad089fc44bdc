package node

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/provider"
)

// The storage providers a node runs ([[storage]] in its config): each a
// provider.Service on its own port, reading the ledger through a node's REST
// API, with the provider agent (roles.go) acknowledging its leases. A
// validator runs them next to consensus (the devnet's storage0 … storage4);
// a home with role "storage" runs only them, against the validator at
// Config.Node.

// StorageRuntime is a running storage provider, as RuntimeFile lists it.
type StorageRuntime struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Address string `json:"address"`
}

// storageService is one running provider.
type storageService struct {
	name string
	svc  *provider.Service
}

// startStorage starts the configured storage providers, reading the
// ledger at ledgerURL. It returns an error of kind NotFound if a provider's
// key is not in the home, and the provider's own errors otherwise.
func (n *Node) startStorage(ctx context.Context, ledgerURL, passphrase string) error {
	if len(n.Config.Storage) == 0 {
		return nil
	}
	n.storageLedger = provider.NewRESTLedger(client.New(ledgerURL))
	n.storagePass = passphrase
	for _, sc := range n.Config.Storage {
		svc, err := n.startProvider(ctx, sc)
		if err != nil {
			return err
		}
		n.storage = append(n.storage, storageService{name: sc.Name, svc: svc})
	}
	return nil
}

func (n *Node) startProvider(ctx context.Context, sc StorageConfig) (*provider.Service, error) {
	key, err := identity.OpenKeystore(KeysDir(n.Home)).Load(sc.Name, n.storagePass)
	if err != nil {
		return nil, errs.E(errs.KindOf(err), "storage provider %s: cannot load its key: %w", sc.Name, err)
	}
	dir := sc.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(n.Home, dir)
	}
	listen := sc.Listen
	if n.Config.Mode == ModeDevnet && !free(listen) {
		// A devnet should start whatever took its port meanwhile; the
		// agent moves the registered endpoint to the new one.
		host, _, _ := net.SplitHostPort(listen)
		listen = net.JoinHostPort(host, "0")
		n.log.Warn("a storage provider's port is taken: using a free one", "provider", sc.Name, "configured", sc.Listen)
	}
	return provider.Start(ctx, provider.Config{
		Name: sc.Name, Key: key, Dir: dir, Listen: listen, Capacity: sc.Capacity, Ledger: n.storageLedger,
		Logger:     n.log.With("component", "storage"),
		GCInterval: time.Duration(sc.GCInterval), GCGrace: time.Duration(sc.GCGrace),
	})
}

// StopStorage stops the storage provider name, as if its host went down:
// its shard API stops answering. StartStorage starts it again.
func (n *Node) StopStorage(name string) error {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	for i, s := range n.storage {
		if s.name == name {
			if s.svc == nil {
				return nil
			}
			err := s.svc.Close()
			n.storage[i].svc = nil
			return err
		}
	}
	return errs.E(errs.NotFound, "this node runs no storage provider %q", name)
}

// StartStorage starts a storage provider that StopStorage stopped, on the
// same folder and, if it is free, the same port.
func (n *Node) StartStorage(ctx context.Context, name string) error {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	for i, s := range n.storage {
		if s.name != name {
			continue
		}
		if s.svc != nil {
			return nil
		}
		for _, sc := range n.Config.Storage {
			if sc.Name == name {
				svc, err := n.startProvider(ctx, sc)
				if err != nil {
					return err
				}
				n.storage[i].svc = svc
				return nil
			}
		}
	}
	return errs.E(errs.NotFound, "this node runs no storage provider %q", name)
}

// free reports whether addr can be listened on now.
func free(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// closeStorage stops the storage providers; Service.Close may be called
// again, so a second Close of the node is harmless.
func (n *Node) closeStorage() error {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	var first error
	for _, s := range n.storage {
		if s.svc == nil {
			continue
		}
		if err := s.svc.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// StorageURL returns the shard API URL of the storage provider name run by
// this node, or "" if it runs none by that name.
func (n *Node) StorageURL(name string) string {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	for _, s := range n.storage {
		if s.name == name && s.svc != nil {
			return s.svc.URL()
		}
	}
	return ""
}

func (n *Node) storageRuntime() []StorageRuntime {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	var out []StorageRuntime
	for _, s := range n.storage {
		if s.svc == nil {
			continue
		}
		out = append(out, StorageRuntime{Name: s.name, URL: s.svc.URL(), Address: s.svc.Addr().String()})
	}
	return out
}

// StorageState is a storage provider this node runs, and whether it is up.
type StorageState struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	URL     string `json:"url,omitempty"`
	Up      bool   `json:"up"`
}

// StorageStates lists the storage providers this node runs, in config
// order.
func (n *Node) StorageStates() []StorageState {
	n.storageMu.Lock()
	defer n.storageMu.Unlock()
	out := []StorageState{}
	ks := identity.OpenKeystore(KeysDir(n.Home))
	for _, s := range n.storage {
		st := StorageState{Name: s.name}
		if info, err := ks.Show(s.name); err == nil {
			st.Address = info.Address
		}
		if s.svc != nil {
			st.URL, st.Up = s.svc.URL(), true
		}
		out = append(out, st)
	}
	return out
}

// mountDevnet mounts a devnet's own routes: stopping and starting its
// built-in storage providers, so that a developer can see reads route
// around providers that are down. They are not mounted in other modes.
func (n *Node) mountDevnet() {
	a := n.api
	a.HandleJSON("GET /v1/devnet/storage", func(r *http.Request) (any, error) {
		return n.StorageStates(), nil
	})
	state := func(name string) (any, error) {
		for _, s := range n.StorageStates() {
			if s.Name == name {
				return s, nil
			}
		}
		return nil, errs.E(errs.NotFound, "this devnet runs no storage provider %q", name)
	}
	a.HandleJSON("POST /v1/devnet/storage/{name}/stop", func(r *http.Request) (any, error) {
		if err := n.StopStorage(r.PathValue("name")); err != nil {
			return nil, err
		}
		return state(r.PathValue("name"))
	})
	a.HandleJSON("POST /v1/devnet/storage/{name}/start", func(r *http.Request) (any, error) {
		if err := n.StartStorage(context.WithoutCancel(r.Context()), r.PathValue("name")); err != nil {
			return nil, err
		}
		return state(r.PathValue("name"))
	})
}
