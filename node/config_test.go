package node_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/node"
)

func TestDefaultConfigValidates(t *testing.T) {
	cfg := node.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if !cfg.DevMode() {
		t.Error("the default (devnet) config is not in dev mode")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*node.Config)
		errHas string // "" means valid
	}{
		{"default", func(*node.Config) {}, ""},
		{"testnet", func(c *node.Config) { c.Mode = node.ModeTestnet }, ""},
		{"production", func(c *node.Config) { c.Mode = node.ModeProduction }, ""},
		{"zero timeouts", func(c *node.Config) { c.Consensus.TimeoutCommit, c.Consensus.TimeoutPropose = 0, 0 }, ""},
		{"port 0", func(c *node.Config) { c.API.Listen = "127.0.0.1:0" }, ""},
		{"bad mode", func(c *node.Config) { c.Mode = "mainnet" }, "mode"},
		{"empty mode", func(c *node.Config) { c.Mode = "" }, "mode"},
		{"empty chain id", func(c *node.Config) { c.ChainID = "" }, "chain_id"},
		{"api listen without port", func(c *node.Config) { c.API.Listen = "127.0.0.1" }, "api.listen"},
		{"api listen empty", func(c *node.Config) { c.API.Listen = "" }, "api.listen"},
		{"p2p listen is a URL", func(c *node.Config) { c.Consensus.P2PListen = "tcp://127.0.0.1:26656" }, "consensus.p2p_listen"},
		{"rpc listen garbage", func(c *node.Config) { c.Consensus.RPCListen = "nowhere" }, "consensus.rpc_listen"},
		{"negative timeout_commit", func(c *node.Config) { c.Consensus.TimeoutCommit = node.Duration(-time.Millisecond) }, "timeout"},
		{"negative timeout_propose", func(c *node.Config) { c.Consensus.TimeoutPropose = node.Duration(-time.Second) }, "timeout"},
		// A client home runs no node, so its listen addresses do not matter.
		{"client without addresses", func(c *node.Config) { c.Role, c.API.Listen, c.ChainID = "client", "", "" }, ""},
		{"client with bad mode", func(c *node.Config) { c.Role, c.Mode = "client", "bogus" }, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %s", tc.errHas)
			}
			if !errs.Is(err, errs.Invalid) {
				t.Errorf("Validate() kind %s (%v), want %s", errs.KindOf(err), err, errs.Invalid)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("Validate() = %q, want it to name %q", err, tc.errHas)
			}
		})
	}
}

func TestSaveLoadConfig(t *testing.T) {
	home := t.TempDir() + "/new/home" // SaveConfig creates the home
	want := node.DefaultConfig()
	want.Mode = node.ModeTestnet
	want.ChainID = "stratus-roundtrip"
	want.Moniker = "moniker with spaces"
	want.API.Listen = "127.0.0.1:0"
	want.Consensus = node.ConsensusConfig{
		P2PListen:           "127.0.0.1:1",
		RPCListen:           "[::1]:2",
		PersistentPeers:     "abc@127.0.0.1:3,def@127.0.0.1:4",
		TimeoutCommit:       node.Duration(1500 * time.Millisecond),
		TimeoutPropose:      node.Duration(90 * time.Second),
		EmptyBlocksInterval: node.Duration(3 * time.Minute),
		RetainBlocks:        1000,
	}
	want.Node = "http://127.0.0.1:9"
	want.LogLevel = "debug"
	if err := node.SaveConfig(home, want); err != nil {
		t.Fatalf("SaveConfig: %v", err)
	}
	if !node.Exists(home) {
		t.Error("Exists is false after SaveConfig")
	}
	got, err := node.LoadConfig(home)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}

	raw, err := os.ReadFile(node.ConfigFile(home))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`timeout_commit = "1.5s"`, `empty_blocks_interval = "3m0s"`} {
		if !strings.Contains(string(raw), s) {
			t.Errorf("config.toml does not hold %s:\n%s", s, raw)
		}
	}
	fi, err := os.Stat(node.ConfigFile(home))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config.toml mode %v, want 0600", fi.Mode().Perm())
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(home)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("home holds %v, want only config.toml", names)
	}

	// The default config round-trips too (zero durations, empty fields).
	def := node.DefaultConfig()
	if err := node.SaveConfig(home, def); err != nil {
		t.Fatal(err)
	}
	if got, err := node.LoadConfig(home); err != nil || !reflect.DeepEqual(got, def) {
		t.Errorf("default round trip: %+v, %v", got, err)
	}
}

func TestLoadConfigMissingHome(t *testing.T) {
	home := t.TempDir() + "/nothing-here"
	_, err := node.LoadConfig(home)
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("LoadConfig of a missing home: %v (kind %s), want kind %s", err, errs.KindOf(err), errs.NotFound)
	}
	if !strings.Contains(err.Error(), "stratus devnet") {
		t.Errorf("LoadConfig of a missing home: %q does not say to run `stratus devnet`", err)
	}
	if node.Exists(home) {
		t.Error("Exists is true for a missing home")
	}
}

func TestLoadConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		has  []string
	}{
		{"unknown top-level key", "mode = \"devnet\"\nbogus_setting = 1\n", []string{"bogus_setting"}},
		{"unknown nested key", "[consensus]\ntimeout_comit = \"1s\"\n", []string{"consensus.timeout_comit"}},
		{"two unknown keys", "colour = \"blue\"\n[api]\nlisten = \"127.0.0.1:1\"\nport = 2\n", []string{"colour", "api.port"}},
		{"bad duration", "[consensus]\ntimeout_commit = \"soon\"\n", []string{"config.toml"}},
		{"not toml", "this is not toml\n", []string{"config.toml"}},
		{"wrong type", "[consensus]\nretain_blocks = \"many\"\n", []string{"config.toml"}},
		{"invalid value", "mode = \"mainnet\"\n", []string{"mode"}},
		{"negative timeout", "[consensus]\ntimeout_propose = \"-1s\"\n", []string{"timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(node.ConfigFile(home), []byte(tc.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := node.LoadConfig(home)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("LoadConfig: %v (kind %s), want kind %s", err, errs.KindOf(err), errs.Invalid)
			}
			for _, s := range tc.has {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("LoadConfig: %q does not name %q", err, s)
				}
			}
		})
	}
}

// TestLoadConfigPartial: settings a file leaves out keep their defaults.
func TestLoadConfigPartial(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(node.ConfigFile(home), []byte("moniker = \"m\"\n[consensus]\ntimeout_commit = \"100ms\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	want := node.DefaultConfig()
	want.Moniker = "m"
	want.Consensus.TimeoutCommit = node.Duration(100 * time.Millisecond)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestValidateNegativeEmptyBlocksInterval: CometBFT refuses a negative
// create_empty_blocks_interval at Start, as an internal error in its own
// terms; Validate should refuse it first, as Invalid.
func TestValidateNegativeEmptyBlocksInterval(t *testing.T) {
	cfg := node.DefaultConfig()
	cfg.Consensus.EmptyBlocksInterval = node.Duration(-time.Second)
	err := cfg.Validate()
	if !errs.Is(err, errs.Invalid) {
		t.Errorf("Validate() = %v (kind %s), want kind Invalid", err, errs.KindOf(err))
	}
}
