package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/client"
	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/fnspec"
	"github.com/stratus-cloud/stratus/functions"
	"github.com/stratus-cloud/stratus/httpsig"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/market"
	"github.com/stratus-cloud/stratus/money"
	"github.com/stratus-cloud/stratus/storage"
	"github.com/stratus-cloud/stratus/storeclient"
	"github.com/stratus-cloud/stratus/wagi"
)

// maxInvokeBody bounds what `fn invoke` reads of a response: a function's
// output is capped at fnspec.MaxBodyLimit, and its headers come on top.
const maxInvokeBody = fnspec.MaxBodyLimit + 1<<20

// invokeTimeout covers the longest call a spec allows, plus the trip.
const invokeTimeout = fnspec.MaxTimeout + 30*time.Second

func newFnCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "fn",
		Short: "Serverless functions: deploy, invoke, ls, info, logs, update, scale, rm, topup",
		Long: `fn runs WASI modules as functions: deploy reads a YAML spec (see
docs/functions.md), uploads the module through storage when the spec names a
local .wasm file, and opens a deployment on the ledger, which leases replicas
on compute providers. Any node's gateway serves it under {node}/fn/{id}/.

NAME|ID is a deployment's number, or its name among the deployments of the
--from key (default: demo in a devnet or testnet home).`,
	}
	c.AddCommand(newFnDeployCmd(g), newFnInvokeCmd(g), newFnLsCmd(g), newFnInfoCmd(g),
		newFnLogsCmd(g), newFnUpdateCmd(g), newFnScaleCmd(g), newFnRmCmd(g), newFnTopupCmd(g))
	return c
}

// chainSpec converts a parsed spec into what the ledger keeps and the
// providers run: everything but the name, the deposit and the reusable
// flag (the module says that itself). module is the object ID of the
// module: the spec's own when it names one, the uploaded file's when it
// names a path. SpecHash is the hash of the whole spec with that ID in
// place of the path.
//
// Durations are rounded up: a 1.5ms timeout is 2ms and a 1.5s cooldown 2s,
// never less than the spec says. It fails with kind Invalid when the ledger
// would refuse the result: its bounds are not all the spec's (a name must
// start with a letter, at least one route).
func chainSpec(s *fnspec.Spec, module string) (functions.Spec, error) {
	full := *s
	full.Module = module
	hash := full.Hash()
	out := functions.Spec{
		Module:           module,
		SpecHash:         hex.EncodeToString(hash[:]),
		MemoryBytes:      s.Limits.Memory,
		TimeoutMs:        uint64(ceilDiv(s.Limits.Timeout, time.Millisecond)),
		MaxRequestBytes:  s.Limits.MaxRequest,
		MaxResponseBytes: s.Limits.MaxResponse,
		Routes:           append([]string{}, s.Routes...),
		Scaling: functions.Scaling{
			Min:               uint32(s.Scaling.Min),
			Max:               uint32(s.Scaling.Max),
			TargetConcurrency: uint32(s.Scaling.TargetConcurrency),
			CooldownSeconds:   ceilDiv(s.Scaling.Cooldown, time.Second),
		},
		SpendLimit: s.SpendLimit,
	}
	if len(s.Env) > 0 {
		out.Env = s.Env
	}
	for _, j := range s.Cron {
		out.Cron = append(out.Cron, functions.CronJob{Schedule: j.Schedule, Path: j.Path, Body: j.Body})
	}
	for _, p := range s.Split {
		out.Split = append(out.Split, market.Payee{To: p.To, Bps: p.Bps})
	}
	if err := functions.ValidName(s.Name); err != nil {
		return out, errs.E(errs.Invalid, "the chain refuses this spec: %v", err)
	}
	if err := out.Validate(); err != nil {
		return out, errs.E(errs.Invalid, "the chain refuses this spec: %v", err)
	}
	return out, nil
}

// checkChainSpec fails as chainSpec would, before a module is uploaded
// for nothing.
func checkChainSpec(s *fnspec.Spec) error {
	_, err := chainSpec(s, storage.ID{}.String())
	return err
}

// ceilDiv returns d/unit rounded up, for d >= 0.
func ceilDiv(d, unit time.Duration) int64 {
	return int64((d + unit - 1) / unit)
}

// readSpec reads and parses a spec file. A spec with problems fails with
// kind Invalid; when there are several, each is written to stderr on its
// own line first, so the error itself stays one line.
func readSpec(path string, stderr io.Writer) (*fnspec.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errs.E(errs.NotFound, "%s does not exist: give the path of a deployment spec (see docs/functions.md)", path)
		}
		return nil, errs.E(errs.Invalid, "cannot read %s: %v", path, err)
	}
	s, err := fnspec.Parse(b)
	if err == nil {
		return s, nil
	}
	var ps fnspec.Problems
	if errors.As(err, &ps) && len(ps) > 1 {
		for _, p := range ps {
			fmt.Fprintf(stderr, "%s: %s\n", path, p.Error())
		}
		return nil, errs.E(errs.Invalid, "%s has %d problems, listed above: fix them and run the command again", path, len(ps))
	}
	return nil, errs.E(errs.Invalid, "%s: %w", path, err)
}

// moduleID returns the object ID of the spec's module, first storing the
// local .wasm file it names (relative to the spec's folder) as an object
// owned by key.
func (g *globals) moduleID(ctx context.Context, s *fnspec.Spec, specPath string, key *identity.Key, stderr io.Writer) (string, error) {
	if id, ok := s.ModuleID(); ok {
		return id.String(), nil
	}
	path := s.ModulePath(filepath.Dir(specPath))
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", errs.E(errs.NotFound, "module %s (from %s) does not exist: build it first (e.g. GOOS=wasip1 GOARCH=wasm go build -o %s), or name a stored object's ID", path, specPath, s.Module)
		}
		return "", errs.E(errs.Invalid, "cannot read module %s: %v", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return "", errs.E(errs.Invalid, "module %s is not a regular file: give a .wasm file", path)
	}
	// A file that is not a function is refused here, before it is stored
	// or anything is paid: the providers would refuse it on the first call.
	wasm, err := io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return "", errs.E(errs.Invalid, "cannot read module %s: %v", path, err)
	}
	if err := wagi.Check(ctx, wasm); err != nil {
		return "", errs.E(errs.Invalid, "module %s cannot run as a function: %v; build it for WASI, e.g. GOOS=wasip1 GOARCH=wasm go build -o %s", path, err, s.Module)
	}
	// An object's ID is a hash of its content, and the ledger refuses to
	// commit one twice: a module already stored (by an earlier deploy, or
	// the update of a spec whose module did not change) is named, not
	// uploaded again.
	id, err := localObjectID(f, st.Size())
	if err != nil {
		return "", errs.E(errs.Invalid, "cannot read module %s: %v", path, err)
	}
	switch _, err := g.client().Object(ctx, id); {
	case err == nil:
		if g.output == "text" {
			fmt.Fprintf(stderr, "module %s is already stored as object %s\n", path, id)
		}
		return id, nil
	case !errs.Is(err, errs.NotFound):
		return "", err
	}
	p := g.newProgress("upload " + filepath.Base(path))
	res, err := g.storeClient(p).Put(ctx, key, f, st.Size(), storeclient.PutOptions{Progress: p.callback()})
	p.done()
	if err != nil {
		return "", fmt.Errorf("uploading module %s: %w", path, err)
	}
	if g.output == "text" {
		fmt.Fprintf(stderr, "uploaded %s (%s) as object %s\n", path, formatBytes(res.Size), res.ID)
	}
	return res.ID, nil
}

// localObjectID returns the ID the file of size bytes gets when `store
// put` stores it with the default redundancy, as storeclient.Put does.
func localObjectID(f io.ReaderAt, size int64) (string, error) {
	p := storage.DefaultParams()
	p.SegmentSize = storeclient.SegmentSizeFor(size, p.Shards())
	m, err := storage.Encode(io.NewSectionReader(f, 0, size), p, func(int, storage.EncodedSegment) error { return nil })
	if err != nil {
		return "", err
	}
	return m.ID().String(), nil
}

// fnURL is where the gateway of the node serves a deployment's routes.
func (g *globals) fnURL(id uint64) string {
	return strings.TrimRight(g.client().BaseURL(), "/") + "/fn/" + strconv.FormatUint(id, 10)
}

// fnOwner is the address whose deployments NAME arguments are looked up
// among: the --from key, else demo in a devnet home.
func (g *globals) fnOwner(from string) (identity.Address, error) {
	name := g.defaultFrom(from)
	if name == "" {
		return identity.Address{}, errs.E(errs.Invalid, "a deployment name needs its owner: pass --from KEY, or give the deployment's number (see `stratus fn ls`)")
	}
	return g.resolveAddress(name)
}

// fnLookup fetches the deployment arg names: a number is an ID, anything
// else a name among the deployments of the --from key. It fails with
// NotFound.
func (g *globals) fnLookup(ctx context.Context, arg, from string) (functions.DeploymentView, error) {
	var v functions.DeploymentView
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil {
		if id == 0 {
			return v, errs.E(errs.Invalid, "0 is not a deployment: numbers start at 1 (see `stratus fn ls`)")
		}
		return v, g.client().Get(ctx, "/v1/functions/"+arg, &v)
	}
	if err := functions.ValidName(arg); err != nil {
		return v, errs.E(errs.Invalid, "%q is neither a deployment number nor a deployment name: see `stratus fn ls`", arg)
	}
	owner, err := g.fnOwner(from)
	if err != nil {
		return v, err
	}
	return v, g.client().Get(ctx, "/v1/functions/by-name/"+url.PathEscape(owner.String())+"/"+url.PathEscape(arg), &v)
}

func deploymentFromEvents(res api.TxResult) uint64 {
	for _, e := range res.Events {
		if k := functions.Events.Deployed; e.Type == k.Type {
			id, _ := strconv.ParseUint(e.Attrs[k.Key("deployment")], 10, 64)
			return id
		}
	}
	return 0
}

func newFnDeployCmd(g *globals) *cobra.Command {
	var f txFlags
	var wait time.Duration
	c := &cobra.Command{
		Use:   "deploy SPEC [--from KEY]",
		Short: "Deploy a function from a YAML spec and print its ID and URL",
		Long: `deploy reads SPEC (see docs/functions.md), and when its module is a local
.wasm file (relative to SPEC's folder) stores it as an object first. It then
sends functions/deploy with the spec's deposit (default: its spend_limit) in
escrow; the ledger opens scaling.min replicas on compute providers. It waits
(--wait, 30s by default) until one runs, then prints the deployment's ID and
the URL its routes hang under.

A spec with problems is refused before anything is sent, with every problem
named. A deployment of the same name that the key already has is refused:
change it with ` + "`stratus fn update`" + `.`,
		Example: `  GOOS=wasip1 GOARCH=wasm go build -o echo.wasm ./examples/echo-go
  stratus fn deploy echo.yaml
  stratus fn deploy echo.yaml --from alice --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := readSpec(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := checkChainSpec(s); err != nil {
				return err
			}
			f.from = g.defaultFrom(f.from)
			key, err := g.loadKey(f.from)
			if err != nil {
				return err
			}
			// Refuse a taken name before paying for an upload.
			var prev functions.DeploymentView
			err = g.client().Get(ctx, "/v1/functions/by-name/"+url.PathEscape(key.Address().String())+"/"+url.PathEscape(s.Name), &prev)
			switch {
			case err == nil:
				return errs.E(errs.Conflict, "%s already has a deployment named %q (%d): change it with `stratus fn update %s %s`, or remove it with `stratus fn rm %s`",
					f.from, s.Name, prev.ID, s.Name, args[0], s.Name)
			case !errs.Is(err, errs.NotFound):
				return err
			}
			module, err := g.moduleID(ctx, s, args[0], key, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			spec, err := chainSpec(s, module)
			if err != nil {
				return err
			}
			res, err := g.submit(ctx, &f, &functions.Deploy{Name: s.Name, Spec: spec, Deposit: s.Deposit})
			if err != nil {
				return err
			}
			id := deploymentFromEvents(res)
			running, waitErr := g.waitRunning(ctx, id, wait)
			if waitErr != nil && ctx.Err() != nil {
				return waitErr
			}
			out := struct {
				ID      string `json:"id"`
				URL     string `json:"url"`
				Name    string `json:"name"`
				Module  string `json:"module"`
				Tx      string `json:"tx"`
				Height  int64  `json:"height"`
				Running int    `json:"running"`
			}{strconv.FormatUint(id, 10), g.fnURL(id), s.Name, module, res.Hash, res.Height, running}
			if waitErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", oneLine(waitErr.Error()))
			}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "deployed %s as %d in block %d, with a deposit of %s\n", s.Name, id, res.Height, money.Format(s.Deposit))
				fmt.Fprintf(w, "url: %s\n", out.URL)
				fmt.Fprintf(w, "call it with: stratus fn invoke %s   (or curl %s%s)\n", s.Name, out.URL, firstRoute(s.Routes))
			})
		},
	}
	f.register(c)
	c.Flags().DurationVar(&wait, "wait", 30*time.Second, "wait this long for a replica to run (its provider to acknowledge its lease); 0 returns at once")
	return c
}

// waitRunning waits up to wait for deployment id to have a replica whose
// lease is active, so that the gateway can route a call to it, and returns
// how many it has. The error says what is still missing; the deployment
// stands either way.
func (g *globals) waitRunning(ctx context.Context, id uint64, wait time.Duration) (int, error) {
	if wait <= 0 || id == 0 {
		return 0, nil
	}
	deadline := time.Now().Add(wait)
	for {
		var v functions.DeploymentView
		err := g.client().Get(ctx, "/v1/functions/"+strconv.FormatUint(id, 10), &v)
		running, pending := 0, []string{}
		for _, r := range v.Replicas {
			switch r.LeaseState {
			case market.LeaseActive, market.LeaseGrace:
				running++
			default:
				pending = append(pending, strconv.FormatUint(r.Lease, 10))
			}
		}
		if err == nil && running > 0 {
			return running, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if err != nil {
				return 0, err
			}
			if len(pending) == 0 {
				return 0, errs.E(errs.Unavailable, "deployment %d has no replica after %s (see `stratus fn info %d`): calls get 503 until one runs", id, wait, id)
			}
			return 0, errs.E(errs.Unavailable, "no replica of deployment %d runs yet after %s: its provider has not acknowledged lease %s; calls get 503 until it does (see `stratus fn info %d`)",
				id, wait, strings.Join(pending, ", "), id)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// firstRoute is a path that reaches the function, for the hints.
func firstRoute(routes []string) string {
	if len(routes) == 0 {
		return "/"
	}
	r := strings.TrimSuffix(routes[0], "...")
	if r == "" {
		return "/"
	}
	return r
}

func newFnUpdateCmd(g *globals) *cobra.Command {
	var f txFlags
	c := &cobra.Command{
		Use:   "update NAME|ID SPEC [--from KEY]",
		Short: "Replace a deployment's spec: module, limits, routes, cron, scaling, spend limit, split",
		Long: `update reads SPEC as deploy does (storing a local module first) and sends
functions/update. The name in SPEC must be the deployment's. The spec's
deposit is not used: add escrow with ` + "`stratus fn topup`" + `. A higher
spend_limit makes an exhausted deployment active again.`,
		Example: `  stratus fn update echo echo.yaml
  stratus fn update 7 echo.yaml --from alice`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := readSpec(args[1], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := checkChainSpec(s); err != nil {
				return err
			}
			f.from = g.defaultFrom(f.from)
			d, err := g.fnLookup(ctx, args[0], f.from)
			if err != nil {
				return err
			}
			if s.Name != d.Name {
				return errs.E(errs.Invalid, "%s names %q but deployment %d is %q: a deployment keeps its name; deploy %q as a new one instead", args[1], s.Name, d.ID, d.Name, s.Name)
			}
			key, err := g.loadKey(f.from)
			if err != nil {
				return err
			}
			module, err := g.moduleID(ctx, s, args[1], key, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			spec, err := chainSpec(s, module)
			if err != nil {
				return err
			}
			res, err := g.submit(ctx, &f, &functions.Update{ID: d.ID, Spec: spec})
			if err != nil {
				return err
			}
			out := map[string]any{"id": strconv.FormatUint(d.ID, 10), "module": module, "spec_hash": spec.SpecHash, "tx": res.Hash, "height": res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "updated %s (%d) in block %d: spec %s\n", d.Name, d.ID, res.Height, spec.SpecHash[:16])
			})
		},
	}
	f.register(c)
	return c
}

func newFnRmCmd(g *globals) *cobra.Command {
	var f txFlags
	var keepModule bool
	c := &cobra.Command{
		Use:   "rm NAME|ID [--from KEY] [--keep-module]",
		Short: "Remove a deployment: its replicas' leases close, its escrow is refunded, and its module is removed from storage",
		Long: `rm removes a deployment: its replicas' leases close and refund their
escrow, and so does the deployment, less what its replicas' final usage
reports may still charge (kept back for the chain's final_report_seconds,
then refunded). The module's object is then removed from storage too, so it
stops paying, unless another live deployment of the key uses it or
--keep-module is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f.from = g.defaultFrom(f.from)
			d, err := g.fnLookup(ctx, args[0], f.from)
			if err != nil {
				return err
			}
			res, err := g.submit(ctx, &f, &functions.Remove{ID: d.ID})
			if err != nil {
				return err
			}
			var refund, reserved uint64
			var closed []string
			for _, e := range res.Events {
				if k := functions.Events.Removed; e.Type == k.Type {
					refund, _ = strconv.ParseUint(e.Attrs[k.Key("refund")], 10, 64)
					reserved, _ = strconv.ParseUint(e.Attrs[k.Key("reserved")], 10, 64)
					if s := e.Attrs[k.Key("closed")]; s != "" {
						closed = strings.Split(s, ",")
					}
				}
			}
			// The leases refund their own escrow to the owner as they close.
			leaseRefund := refunded(ctx, g, closed)
			module, why := "", ""
			if !keepModule {
				module, why = g.removeModule(ctx, cmd.ErrOrStderr(), f.from, d)
			}
			out := struct {
				ID            string   `json:"id"`
				Refunded      uint64   `json:"refunded,string"`
				Reserved      uint64   `json:"reserved,string"`
				ClosedLeases  []string `json:"closed_leases"`
				LeaseRefunded uint64   `json:"lease_refunded,string"`
				ModuleRemoved string   `json:"module_removed,omitempty"`
				ModuleKept    string   `json:"module_kept,omitempty"`
				Tx            string   `json:"tx"`
				Height        int64    `json:"height"`
			}{strconv.FormatUint(d.ID, 10), refund, reserved, append([]string{}, closed...), leaseRefund, module, why, res.Hash, res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "removed %s (%d) in block %d: %s of escrow refunded\n", d.Name, d.ID, res.Height, money.Format(refund))
				if reserved > 0 {
					fmt.Fprintf(w, "kept back for the replicas' final usage reports: %s, refunded after the chain's final_report_seconds\n", money.Format(reserved))
				}
				if len(closed) > 0 {
					fmt.Fprintf(w, "closed leases %s: %s refunded\n", strings.Join(closed, ", "), money.Format(leaseRefund))
				}
				switch {
				case module != "":
					fmt.Fprintf(w, "removed module %s from storage\n", module)
				case why != "":
					fmt.Fprintf(w, "kept module %s: %s\n", d.Spec.Module, why)
				}
			})
		},
	}
	f.register(c)
	c.Flags().BoolVar(&keepModule, "keep-module", false, "leave the module's object in storage (it keeps paying for its leases)")
	return c
}

// removeModule removes the module object of deployment d, just removed,
// when from owns it and none of from's live deployments uses it. It
// returns the object removed, or why it was kept.
func (g *globals) removeModule(ctx context.Context, stderr io.Writer, from string, d functions.DeploymentView) (string, string) {
	key, err := g.loadKey(from)
	if err != nil {
		return "", err.Error()
	}
	deps, err := g.client().Deployments(ctx, key.Address().String())
	if err != nil {
		return "", "cannot list your deployments: " + oneLine(err.Error())
	}
	for _, o := range deps {
		if o.ID != d.ID && o.State != functions.StateRemoved && o.Spec.Module == d.Spec.Module {
			return "", fmt.Sprintf("deployment %d (%s) uses it", o.ID, o.Name)
		}
	}
	if _, err := g.client().Object(ctx, d.Spec.Module); err != nil {
		return "", "not in storage: " + oneLine(err.Error())
	}
	res, err := g.storeClient(stderr).Remove(ctx, key, d.Spec.Module)
	if err != nil {
		return "", oneLine(err.Error())
	}
	return res.ID, ""
}

func newFnScaleCmd(g *globals) *cobra.Command {
	var f txFlags
	var minR, maxR, replicas uint32
	c := &cobra.Command{
		Use:   "scale NAME|ID (--replicas N | --min N --max N) [--from KEY]",
		Short: "Set how many replicas a deployment runs; replicas above the new max close through the deployment",
		Long: `scale sends functions/scale: it sets the deployment's scaling.min and
scaling.max (--replicas N sets both). Replicas above the new max close in
the same block, through the deployment, so the usage they served is still
charged from their providers' final reports: a replica's lease is never
closed directly. The spec's other fields, and its spec hash, stay.`,
		Example: `  stratus fn scale echo --replicas 1
  stratus fn scale echo --min 1 --max 5`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case replicas > 0 && (minR > 0 || maxR > 0):
				return errs.E(errs.Invalid, "give --replicas N, or --min and --max, not both")
			case replicas > 0:
				minR, maxR = replicas, replicas
			case minR == 0 && maxR == 0:
				return errs.E(errs.Invalid, "fn scale needs --replicas N, or --min N and --max N")
			}
			ctx := cmd.Context()
			f.from = g.defaultFrom(f.from)
			d, err := g.fnLookup(ctx, args[0], f.from)
			if err != nil {
				return err
			}
			if minR == 0 {
				minR = d.Spec.Scaling.Min
			}
			if maxR == 0 {
				maxR = max(d.Spec.Scaling.Max, minR)
			}
			res, err := g.submit(ctx, &f, &functions.Scale{ID: d.ID, Min: minR, Max: maxR})
			if err != nil {
				return err
			}
			var closed, opened []string
			for _, e := range res.Events {
				if k := functions.Events.Scaled; e.Type == k.Type {
					from, _ := strconv.Atoi(e.Attrs[k.Key("from")])
					to, _ := strconv.Atoi(e.Attrs[k.Key("to")])
					if to < from {
						closed = append(closed, e.Attrs[k.Key("lease")])
					} else {
						opened = append(opened, e.Attrs[k.Key("lease")])
					}
				}
			}
			out := struct {
				ID     string   `json:"id"`
				Min    uint32   `json:"min"`
				Max    uint32   `json:"max"`
				Closed []string `json:"closed_leases"`
				Opened []string `json:"opened_leases"`
				Tx     string   `json:"tx"`
				Height int64    `json:"height"`
			}{strconv.FormatUint(d.ID, 10), minR, maxR, append([]string{}, closed...), append([]string{}, opened...), res.Hash, res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "%s (%d) scaled to min %d, max %d in block %d\n", d.Name, d.ID, minR, maxR, res.Height)
				if len(closed) > 0 {
					fmt.Fprintf(w, "closed replica leases %s\n", strings.Join(closed, ", "))
				}
				if len(opened) > 0 {
					fmt.Fprintf(w, "opened replica leases %s\n", strings.Join(opened, ", "))
				}
			})
		},
	}
	f.register(c)
	c.Flags().Uint32Var(&replicas, "replicas", 0, "run exactly N replicas (sets min and max)")
	c.Flags().Uint32Var(&minR, "min", 0, "the fewest replicas to run")
	c.Flags().Uint32Var(&maxR, "max", 0, "the most replicas the autoscaler may open")
	return c
}

func newFnTopupCmd(g *globals) *cobra.Command {
	var f txFlags
	var amount string
	c := &cobra.Command{
		Use:     "topup NAME|ID --amount AMOUNT [--from KEY]",
		Short:   "Add escrow to a deployment; one exhausted for lack of escrow becomes active again",
		Example: `  stratus fn topup echo --amount 5STR`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if amount == "" {
				return errs.E(errs.Invalid, "fn topup needs --amount AMOUNT, e.g. --amount 5STR")
			}
			amt, err := money.Parse(amount)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			f.from = g.defaultFrom(f.from)
			d, err := g.fnLookup(ctx, args[0], f.from)
			if err != nil {
				return err
			}
			res, err := g.submit(ctx, &f, &functions.Topup{ID: d.ID, Amount: amt})
			if err != nil {
				return err
			}
			escrow := d.Escrow + amt
			for _, e := range res.Events {
				if k := functions.Events.Topup; e.Type == k.Type {
					escrow, _ = strconv.ParseUint(e.Attrs[k.Key("escrow")], 10, 64)
				}
			}
			out := map[string]any{"id": strconv.FormatUint(d.ID, 10), "amount": strconv.FormatUint(amt, 10),
				"escrow": strconv.FormatUint(escrow, 10), "tx": res.Hash, "height": res.Height}
			return g.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "%s (%d) topped up with %s in block %d: escrow %s\n", d.Name, d.ID, money.Format(amt), res.Height, money.Format(escrow))
			})
		},
	}
	f.register(c)
	c.Flags().StringVar(&amount, "amount", "", "amount to add, e.g. 5STR")
	return c
}

func newFnLsCmd(g *globals) *cobra.Command {
	var owner, from string
	var pf pageFlags
	c := &cobra.Command{
		Use:   "ls [--owner DID|KEY] [--limit N] [--after ID]",
		Short: "List an owner's deployments (default: the --from key, else demo), removed ones included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			who := owner
			if who == "" {
				who = g.defaultFrom(from)
			}
			if who == "" {
				return errs.E(errs.Invalid, "whose deployments? pass --owner DID|KEY or --from KEY")
			}
			a, err := g.resolveAddress(who)
			if err != nil {
				return err
			}
			pg, err := fetchList(cmd.Context(), pf,
				func(ctx context.Context, o client.PageOptions) (api.Page[functions.Deployment], error) {
					return g.client().DeploymentsPage(ctx, a.String(), o)
				},
				func(ctx context.Context) ([]functions.Deployment, error) {
					return g.client().Deployments(ctx, a.String())
				})
			if err != nil {
				return err
			}
			list := pg.Items
			return printList(g, cmd, pf, pg, func(w io.Writer) {
				if len(list) == 0 {
					fmt.Fprintf(w, "No deployments for %s. Deploy one with `stratus fn deploy SPEC`.\n", a)
					return
				}
				fmt.Fprintf(w, "%-6s %-24s %-10s %-8s %-10s %-14s %s\n", "ID", "NAME", "STATE", "REPLICAS", "CALLS", "CHARGED", "ESCROW")
				for _, d := range list {
					fmt.Fprintf(w, "%-6d %-24s %-10s %-8d %-10d %-14s %s\n", d.ID, d.Name, d.State, len(d.Replicas), d.Calls, money.Format(d.Charged), money.Format(d.Escrow))
				}
			})
		},
	}
	c.Flags().StringVar(&owner, "owner", "", "the owner's DID or key name")
	c.Flags().StringVar(&from, "from", "", "a key name: list its deployments (as --owner does)")
	pf.register(c)
	return c
}

func newFnInfoCmd(g *globals) *cobra.Command {
	var from string
	c := &cobra.Command{
		Use:   "info NAME|ID [--from KEY]",
		Short: "Show a deployment: state, spec, replicas and their leases, calls, cost, escrow and who was paid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := g.fnLookup(cmd.Context(), args[0], from)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), d, func(w io.Writer) {
				g.printFnInfo(w, d)
				// The prices are the chain's, not the deployment's: shown
				// so that a call's cost can be worked out.
				var p functions.Params
				if err := g.client().Get(cmd.Context(), "/v1/functions/params", &p); err == nil {
					fmt.Fprintf(w, "prices:      %s a call + %s a MiB-ms (the chain's)\n", formatNanoUstr(p.PricePerCall), formatNanoUstr(p.PricePerMiBMs))
				}
			})
		},
	}
	c.Flags().StringVar(&from, "from", "", "the owner's key, to look NAME up among its deployments (default: demo in a devnet home)")
	return c
}

func (g *globals) printFnInfo(w io.Writer, d functions.DeploymentView) {
	sp := d.Spec
	state := d.State
	if d.ExhaustedReason != "" {
		state += " (" + strings.ReplaceAll(d.ExhaustedReason, "_", " ") + ")"
	}
	fmt.Fprintf(w, "deployment:  %d %s (%s)\nowner:       %s\n", d.ID, d.Name, state, d.Owner)
	if d.SuspendedReason != "" {
		fmt.Fprintf(w, "suspended:   %s (stratus fn topup %d --amount AMOUNT resumes it)\n", d.SuspendedReason, d.ID)
	}
	if d.ModuleError != "" {
		fmt.Fprintf(w, "module error: %s\n", d.ModuleError)
	}
	if d.State != functions.StateRemoved {
		fmt.Fprintf(w, "url:         %s\n", g.fnURL(d.ID))
	}
	fmt.Fprintf(w, "module:      %s\nspec hash:   %s\n", sp.Module, sp.SpecHash)
	limits := fmt.Sprintf("memory %s, timeout %s", fnspec.FormatSize(sp.MemoryBytes), time.Duration(sp.TimeoutMs)*time.Millisecond)
	if sp.MaxRequestBytes != 0 {
		limits += ", request " + fnspec.FormatSize(sp.MaxRequestBytes)
	}
	if sp.MaxResponseBytes != 0 {
		limits += ", response " + fnspec.FormatSize(sp.MaxResponseBytes)
	}
	fmt.Fprintf(w, "limits:      %s\n", limits)
	if len(sp.Env) > 0 {
		fmt.Fprintf(w, "env:         %s\n", strings.Join(slices.Sorted(maps.Keys(sp.Env)), " "))
	}
	fmt.Fprintf(w, "routes:      %s\n", strings.Join(sp.Routes, " "))
	if len(sp.Cron) > 0 {
		jobs := make([]string, len(sp.Cron))
		for i, j := range sp.Cron {
			jobs[i] = j.Schedule + " " + j.Path
		}
		fmt.Fprintf(w, "cron:        %s (%d runs)\n", strings.Join(jobs, "; "), d.CronRuns)
		for _, r := range d.CronRecent {
			if r.Run+1 == d.CronRuns && r.Index < len(sp.Cron) {
				fmt.Fprintf(w, "last run:    %d (%s) at %s on lease %d\n", r.Run, sp.Cron[r.Index].Path, formatMs(r.DueMs), r.Lease)
			}
		}
	}
	fmt.Fprintf(w, "scaling:     min %d, max %d, target %d concurrent calls a replica, cooldown %s\n",
		sp.Scaling.Min, sp.Scaling.Max, sp.Scaling.TargetConcurrency, time.Duration(sp.Scaling.CooldownSeconds)*time.Second)
	if d.Blocked != "" {
		fmt.Fprintf(w, "scaling blocked: %s\n", d.Blocked)
	}
	fmt.Fprintf(w, "created:     %s\nupdated:     %s\n", formatMs(d.CreatedMs), formatMs(d.UpdatedMs))
	if d.RemovedMs != 0 {
		fmt.Fprintf(w, "removed:     %s\n", formatMs(d.RemovedMs))
	}
	fmt.Fprintf(w, "replicas:    %d\n", len(d.Replicas))
	if len(d.Replicas) > 0 {
		fmt.Fprintf(w, "  %-6s %-8s %-56s %-12s %-12s %s\n", "LEASE", "STATE", "PROVIDER", "CONCURRENCY", "LEASE PAID", "OPENED")
		for _, r := range d.Replicas {
			fmt.Fprintf(w, "  %-6d %-8s %-56s %-12s %-12s %s\n", r.Lease, r.LeaseState, r.Provider, fmt.Sprintf("%d (peak %d)", r.AvgConcurrency, r.PeakConcurrency),
				money.Format(r.LeasePaid), formatMs(r.OpenedMs))
		}
	}
	fmt.Fprintf(w, "usage:       %d calls, %d MiB-ms\n", d.Calls, d.MiBMs)
	left := uint64(0)
	if d.Charged < sp.SpendLimit {
		left = sp.SpendLimit - d.Charged
	}
	fmt.Fprintf(w, "charged:     %s of the %s spend limit (%s left)", money.Format(d.Charged), money.Format(sp.SpendLimit), money.Format(left))
	if d.AccruedNano > 0 {
		fmt.Fprintf(w, ", and %s owed, charged once it comes to a whole ustr", formatNanoUstr(d.AccruedNano))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "escrow:      %s (deposited %s, %s to replica leases, %s refunded); %s can still be charged\n",
		money.Format(d.Escrow), money.Format(d.Deposited), money.Format(d.ReplicaFunding), money.Format(d.Refunded), money.Format(d.Room))
	if d.Reserved > 0 {
		fmt.Fprintf(w, "kept back:   %s of it for closed replicas' final usage reports, until %s\n", money.Format(d.Reserved), formatMs(d.ReservedUntilMs))
	}
	fmt.Fprintf(w, "split:\n")
	for _, p := range d.Payees {
		fmt.Fprintf(w, "  %-56s %7s  paid %s\n", p.To, bpsPercent(p.Bps), money.Format(p.Paid))
	}
	if d.PaidBefore > 0 {
		fmt.Fprintf(w, "  paid under earlier splits: %s\n", money.Format(d.PaidBefore))
	}
	if d.Pending > 0 {
		fmt.Fprintf(w, "  pending rounding: %s\n", money.Format(d.Pending))
	}
	if len(d.Usage) > 0 {
		fmt.Fprintf(w, "reports:\n  %-56s %-8s %-10s %-12s %s\n", "PROVIDER", "SEQ", "CALLS", "MIB-MS", "PAID AS PROVIDER")
		for _, u := range d.Usage {
			fmt.Fprintf(w, "  %-56s %-8d %-10d %-12d %s\n", u.Provider, u.Sequence, u.Calls, u.MiBMs, money.Format(u.Paid))
		}
	}
}

// formatNanoUstr shows an amount of nano-ustr (10^-9 ustr) in ustr, with
// as many decimals as it needs: 200000000 is "0.2ustr", 16 is
// "0.000000016ustr".
func formatNanoUstr(n uint64) string {
	whole, frac := n/1_000_000_000, n%1_000_000_000
	if frac == 0 {
		return strconv.FormatUint(whole, 10) + "ustr"
	}
	return strconv.FormatUint(whole, 10) + "." + strings.TrimRight(fmt.Sprintf("%09d", frac), "0") + "ustr"
}

// invokeData reads --data: @FILE, - for stdin, or the text itself.
func invokeData(data string, stdin io.Reader) ([]byte, error) {
	switch {
	case data == "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, errs.E(errs.Invalid, "reading the request body from stdin: %v", err)
		}
		return b, nil
	case strings.HasPrefix(data, "@"):
		b, err := os.ReadFile(data[1:])
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errs.E(errs.NotFound, "--data %s: %s does not exist", data, data[1:])
		}
		if err != nil {
			return nil, errs.E(errs.Invalid, "--data %s: %v", data, err)
		}
		return b, nil
	}
	return []byte(data), nil
}

// parseHeaders reads -H values, "Name: value".
func parseHeaders(hs []string) (http.Header, error) {
	out := http.Header{}
	for _, h := range hs {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, errs.E(errs.Invalid, "header %q: write it as 'Name: value', e.g. -H 'Content-Type: application/json'", h)
		}
		out.Add(k, strings.TrimSpace(v))
	}
	return out, nil
}

func newFnInvokeCmd(g *globals) *cobra.Command {
	var from, path, method, data string
	var headers []string
	c := &cobra.Command{
		Use:   "invoke NAME|ID [--path P] [--method M] [--data @FILE|-|TEXT] [-H 'K: V']",
		Short: "Call a function through the node's gateway and print the response",
		Long: `invoke sends an HTTP request to {node}/fn/{id}{path}, which the node's
gateway forwards to one of the deployment's replicas, and prints the
response body. --method defaults to POST with --data, else GET.

With --output json it prints {"status", "headers", "body"} (body_base64
instead of body when the body is not UTF-8). A status other than 2xx is an
error: the body goes to stderr, and the exit status is that of the status's
kind (402 insufficient funds 5, 404 not found 3, 413 too large 8, 503 and
504 unavailable 7, other 5xx 10).`,
		Example: `  stratus fn invoke echo
  stratus fn invoke echo --path '/hello?name=ada' -H 'X-Trace: 1'
  stratus fn invoke 7 --data @request.json -H 'Content-Type: application/json'
  echo hi | stratus fn invoke echo --data -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hdr, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			if path == "" {
				path = "/"
			}
			if !strings.HasPrefix(path, "/") {
				return errs.E(errs.Invalid, "--path %q must start with /", path)
			}
			var body []byte
			if data != "" {
				if body, err = invokeData(data, cmd.InOrStdin()); err != nil {
					return err
				}
			}
			if method == "" {
				method = http.MethodGet
				if data != "" {
					method = http.MethodPost
				}
			}
			method = strings.ToUpper(method)
			ctx := cmd.Context()
			id, err := g.fnID(ctx, args[0], from)
			if err != nil {
				return err
			}
			target := g.fnURL(id) + path
			ctx, cancel := context.WithTimeout(ctx, invokeTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(string(body)))
			if err != nil {
				return errs.E(errs.Invalid, "cannot make a request to %s: %v", target, err)
			}
			if body == nil {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			for k, vs := range hdr {
				req.Header[k] = vs
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if ctx.Err() == context.DeadlineExceeded {
					return errs.E(errs.Timeout, "%s did not answer within %s", target, invokeTimeout)
				}
				return errs.E(errs.Unavailable, "cannot reach the gateway at %s: %v (is the node running? pass --node URL)", target, err)
			}
			defer resp.Body.Close()
			rb, err := io.ReadAll(io.LimitReader(resp.Body, maxInvokeBody))
			if err != nil {
				return errs.E(errs.Unavailable, "reading the answer of %s: %v", target, err)
			}
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return invokeError(cmd.ErrOrStderr(), resp, rb, target)
			}
			if g.output != "json" {
				_, err := cmd.OutOrStdout().Write(rb)
				return err
			}
			out := invokeResult{Status: resp.StatusCode, Headers: map[string]string{}}
			for k, vs := range resp.Header {
				out.Headers[k] = strings.Join(vs, ", ")
			}
			if utf8.Valid(rb) {
				s := string(rb)
				out.Body = &s
			} else {
				out.BodyBase64 = base64.StdEncoding.EncodeToString(rb)
			}
			return g.print(cmd.OutOrStdout(), out, func(io.Writer) {})
		},
	}
	c.Flags().StringVar(&from, "from", "", "the owner's key, to look NAME up among its deployments (default: demo in a devnet home)")
	c.Flags().StringVar(&path, "path", "/", "path under the deployment's URL, with any query: /hello?name=ada")
	c.Flags().StringVarP(&method, "method", "X", "", "HTTP method (default: POST with --data, else GET)")
	c.Flags().StringVarP(&data, "data", "d", "", "request body: @FILE, - for stdin, or the text itself")
	c.Flags().StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	return c
}

// invokeResult is `fn invoke --output json`.
type invokeResult struct {
	Status     int               `json:"status"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 string            `json:"body_base64,omitempty"`
}

// invokeError turns a non-2xx answer into an error of the status's kind.
// A problem document (the gateway's own errors: 402, no replica, ...) gives
// the message; a function's own answer is written to stderr first.
func invokeError(stderr io.Writer, resp *http.Response, body []byte, target string) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == api.ProblemContentType {
		var p api.Problem
		if json.Unmarshal(body, &p) == nil && (p.Detail != "" || p.Title != "") {
			kind := errs.Kind(p.Kind)
			if kind == "" {
				kind = errs.KindForStatus(resp.StatusCode)
			}
			msg := p.Detail
			if msg == "" {
				msg = p.Title
			}
			return errs.E(kind, "%s: %s", resp.Status, msg)
		}
	}
	if len(body) > 0 {
		stderr.Write(body)
		if body[len(body)-1] != '\n' {
			fmt.Fprintln(stderr)
		}
	}
	return errs.E(errs.KindForStatus(resp.StatusCode), "%s answered %s", target, resp.Status)
}

// fnID is fnLookup for commands that need only the number: a number is
// taken as it is, without asking the node.
func (g *globals) fnID(ctx context.Context, arg, from string) (uint64, error) {
	if id, err := strconv.ParseUint(arg, 10, 64); err == nil && id > 0 {
		return id, nil
	}
	d, err := g.fnLookup(ctx, arg, from)
	return d.ID, err
}

func newFnLogsCmd(g *globals) *cobra.Command {
	var from string
	var follow bool
	c := &cobra.Command{
		Use:   "logs NAME|ID [--follow] [--from KEY]",
		Short: "Print what the function wrote to stderr, from each replica's provider",
		Long: `logs asks the provider of each replica for the deployment's log, with a
request signed by the owner's key (--from, default demo in a devnet home):
GET {provider endpoint}/fn/{id}/_logs. Each line is prefixed by the
provider: the name of its key when this home has it, else its short DID.
--follow keeps printing new lines until interrupted.

With --output json it prints [{"provider", "name", "lines"}], or with
--follow one {"provider", "name", "line"} object a line.`,
		Example: `  stratus fn logs echo
  stratus fn logs 7 --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			from = g.defaultFrom(from)
			d, err := g.fnLookup(ctx, args[0], from)
			if err != nil {
				return err
			}
			key, err := g.loadKey(from)
			if err != nil {
				return err
			}
			if key.Address() != d.Owner {
				return errs.E(errs.Unauthorized, "deployment %d is %s's: only its owner can read its logs; pass --from with that key", d.ID, d.Owner)
			}
			return g.fnLogs(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), d, key, follow)
		},
	}
	c.Flags().StringVar(&from, "from", "", "the owner's key, which signs the requests (default: demo in a devnet home)")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	return c
}

// logSource is one replica's provider, as logs reads it.
type logSource struct {
	Provider string   `json:"provider"`
	Name     string   `json:"name"`
	Lines    []string `json:"lines"`
	endpoint string
	err      error
}

// providerLabel names a provider for log prefixes: its key's name when
// this home has it (a devnet's compute0), else its DID's start and end.
func providerLabel(names map[string]string, did string) string {
	if n, ok := names[did]; ok {
		return n
	}
	s := strings.TrimPrefix(did, "did:key:")
	if len(s) > 14 {
		return s[:8] + "…" + s[len(s)-4:]
	}
	return s
}

func (g *globals) fnLogs(ctx context.Context, stdout, stderr io.Writer, d functions.DeploymentView, key *identity.Key, follow bool) error {
	names := map[string]string{}
	if ks, err := g.keystore().List(); err == nil {
		for _, k := range ks {
			names[k.Address] = k.Name
		}
	}
	var srcs []*logSource
	seen := map[identity.Address]bool{}
	for _, r := range d.Replicas {
		if seen[r.Provider] {
			continue
		}
		seen[r.Provider] = true
		src := &logSource{Provider: r.Provider.String(), Name: providerLabel(names, r.Provider.String()), Lines: []string{}}
		p, err := g.client().Provider(ctx, src.Provider)
		switch {
		case err != nil:
			src.err = err
		case p.Endpoint == "":
			src.err = errs.E(errs.Unavailable, "provider %s has no endpoint registered", src.Provider)
		default:
			src.endpoint = p.Endpoint
		}
		srcs = append(srcs, src)
	}
	if len(srcs) == 0 {
		return errs.E(errs.Unavailable, "deployment %d has no replicas to read logs from (state %s): see `stratus fn info %d`", d.ID, d.State, d.ID)
	}
	var mu sync.Mutex
	emit := func(src *logSource, line string) {
		mu.Lock()
		defer mu.Unlock()
		if !follow {
			src.Lines = append(src.Lines, line)
			return
		}
		if g.output == "json" {
			b, _ := json.Marshal(map[string]string{"provider": src.Provider, "name": src.Name, "line": line})
			fmt.Fprintf(stdout, "%s\n", b)
			return
		}
		fmt.Fprintf(stdout, "[%s] %s\n", src.Name, line)
	}
	var wg sync.WaitGroup
	for _, src := range srcs {
		if src.err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			src.err = readLogs(ctx, src, d.ID, key, follow, func(line string) { emit(src, line) })
		}()
	}
	wg.Wait()
	failed := 0
	for _, src := range srcs {
		if src.err != nil {
			failed++
			if ctx.Err() == nil {
				fmt.Fprintf(stderr, "warning: no logs from %s (%s): %v\n", src.Name, src.Provider, oneLine(src.err.Error()))
			}
		}
	}
	if follow && ctx.Err() != nil {
		return nil // interrupted: the usual end of --follow
	}
	if failed == len(srcs) {
		return errs.E(errs.Unavailable, "none of the %d providers of deployment %d gave its logs (see the warnings above)", len(srcs), d.ID)
	}
	if follow {
		return nil
	}
	return g.print(stdout, srcs, func(w io.Writer) {
		for _, src := range srcs {
			for _, l := range src.Lines {
				fmt.Fprintf(w, "[%s] %s\n", src.Name, l)
			}
		}
	})
}

// readLogs reads one provider's log of deployment id, a line at a time.
func readLogs(ctx context.Context, src *logSource, id uint64, key *identity.Key, follow bool, line func(string)) error {
	u := strings.TrimRight(src.endpoint, "/") + "/fn/" + strconv.FormatUint(id, 10) + "/_logs"
	if follow {
		u += "?follow=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return errs.E(errs.Invalid, "provider endpoint %q: %v", src.endpoint, err)
	}
	nonce, err := httpsig.NewNonce()
	if err != nil {
		return err
	}
	if err := httpsig.Sign(req, key, time.Now(), nonce); err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain, "+api.ProblemContentType)
	hc := &http.Client{}
	if !follow {
		hc.Timeout = time.Minute
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errs.E(errs.Unavailable, "cannot reach %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return api.ErrorFromResponse(resp, "the provider at "+src.endpoint)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line(sc.Text())
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return errs.E(errs.Unavailable, "reading %s: %v", u, err)
	}
	return nil
}
