// Command stratus is every part of Stratus in one binary: validator node,
// devnet, testnet launcher, command-line client and benchmarks.
//
// This package only wires things together: flags, output, and the mapping
// of errors to exit codes. The work is done in the packages it calls.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/internal/version"
	"github.com/stratus-cloud/stratus/node"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	err := root.ExecuteContext(ctx)
	if err == nil || errors.Is(err, errDryRun) {
		return 0
	}
	fmt.Fprintln(os.Stderr, "Error:", oneLine(err.Error()))
	var e *errs.Error
	if errors.As(err, &e) {
		return errs.ExitCode(e.Kind)
	}
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// globals are the flags every command takes.
type globals struct {
	home   string
	node   string
	output string
	// stdout is the running command's output; paid collects the
	// transactions it sent, whose fees are printed after its output.
	stdout io.Writer
	paid   []api.TxResult
}

func defaultHome() string {
	if h := os.Getenv("STRATUS_HOME"); h != "" {
		return h
	}
	dir, err := os.UserHomeDir()
	if err != nil {
		return ".stratus/devnet"
	}
	return filepath.Join(dir, ".stratus", "devnet")
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "stratus",
		Short:         "Stratus: a decentralized cloud with a ledger that enforces its agreements",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "text" && g.output != "json" {
				return errs.E(errs.Invalid, "--output must be text or json, not %q", g.output)
			}
			g.stdout = cmd.OutOrStdout()
			return nil
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) { g.printFees(cmd.OutOrStdout()) },
	}
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.home, "home", defaultHome(), "home folder: config, keys and data (env STRATUS_HOME)")
	root.PersistentFlags().StringVar(&g.node, "node", "", "URL of a node's REST API (env STRATUS_NODE; default: the node running in --home)")
	root.PersistentFlags().StringVar(&g.output, "output", "text", "output format: text or json")
	root.AddCommand(
		newDevnetCmd(g), newNodeCmd(g), newTestnetCmd(g),
		newKeysCmd(g), newAccountCmd(g), newTxCmd(g), newStatusCmd(g),
		newProviderCmd(g), newLeaseCmd(g), newPricesCmd(g),
		newStoreCmd(g), newFnCmd(g),
		newTokenCmd(g), newGovCmd(g), newAuditCmd(g), newBenchCmd(g), newVersionCmd(g),
	)
	return root
}

// print writes v as one JSON document with --output json, or calls text.
func (g *globals) print(w io.Writer, v any, text func(w io.Writer)) error {
	if g.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(w)
	return nil
}

// client returns an API client for the node: --node, STRATUS_NODE, the node
// running in --home, the home's configured node, or the devnet default.
func (g *globals) client() *client.Client { return client.New(g.nodeURL()) }

func (g *globals) nodeURL() string {
	if g.node != "" {
		return g.node
	}
	if v := os.Getenv("STRATUS_NODE"); v != "" {
		return v
	}
	if rt, err := node.ReadRuntime(g.home); err == nil && rt.API != "" {
		return rt.API
	}
	if cfg, err := node.LoadConfig(g.home); err == nil {
		if cfg.Node != "" {
			return cfg.Node
		}
		return "http://" + cfg.API.Listen
	}
	return "http://" + node.DefaultConfig().API.Listen
}

func (g *globals) keystore() *identity.Keystore { return identity.OpenKeystore(node.KeysDir(g.home)) }

// passphrase returns the keystore passphrase: STRATUS_PASSPHRASE if not
// empty, else empty
// in a devnet or testnet home (development only), else a prompt on a
// terminal. Without any of those it fails rather than wait.
func (g *globals) passphrase(confirm bool) (string, error) {
	// An empty variable counts as unset: it must never make keys in a
	// production home unencrypted.
	if v := os.Getenv("STRATUS_PASSPHRASE"); v != "" {
		return v, nil
	}
	if cfg, err := node.LoadConfig(g.home); err == nil && cfg.DevMode() {
		return "", nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errs.E(errs.Unauthorized, "the keys in %s need a passphrase and there is no terminal to ask: set STRATUS_PASSPHRASE", g.home)
	}
	fmt.Fprint(os.Stderr, "Passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", err
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Repeat passphrase: ")
		q, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if string(p) != string(q) {
			return "", errs.E(errs.Invalid, "the passphrases do not match: try again")
		}
	}
	return string(p), nil
}

// loadKey opens a signing key by name.
func (g *globals) loadKey(name string) (*identity.Key, error) {
	if name == "" {
		return nil, errs.E(errs.Invalid, "no signing key: pass --from NAME (see `stratus keys list`)")
	}
	if _, err := g.keystore().Show(name); err != nil {
		return nil, err
	}
	pass, err := g.passphrase(false)
	if err != nil {
		return nil, err
	}
	return g.keystore().Load(name, pass)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
