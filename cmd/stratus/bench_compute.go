package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/bench"
	"github.com/stratus-cloud/stratus/errs"
)

func newBenchComputeCmd(g *globals) *cobra.Command {
	var (
		o        bench.ComputeOptions
		logLevel string
	)
	c := &cobra.Command{
		Use:   "compute [--duration 15s] [--concurrency 16]",
		Short: "Calls per second of a minimal function through the gateway, against a native Go handler",
		Long: `bench compute starts a devnet in a temporary folder, stores the minimal
WASI function (hello.wat, assembled in memory: it writes a CGI response
"hello from wat") and deploys it with one replica on compute0, as
` + "`stratus fn deploy`" + ` does. It then measures:

- cold_start_ms: the median of 51 calls of GET / on a fresh instance of the
  already compiled module (wagi's Module.ColdStart), on a runtime that loads
  the machine code from compute0's compilation cache;
- fn_calls_per_s, p50_ms, p99_ms: --concurrency keep-alive clients calling
  {node}/fn/{id}/ for --duration (client -> gateway -> compute0 -> a fresh
  instance per call);
- native_calls_per_s: the same clients calling a net/http handler on
  127.0.0.1 that answers the same bytes, for --duration.

The two sides alternate in slices of at most 2.5s so that a noisy machine
slows both alike. ratio is fn_calls_per_s / native_calls_per_s. Targets on a
2-core machine: ratio at least 0.2, cold_start_ms at most 50.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Duration <= 0 || o.Concurrency <= 0 {
				return errs.E(errs.Invalid, "--duration and --concurrency must be positive")
			}
			if g.output == "text" {
				o.Progress = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "bench: "+f+"\n", a...) }
			}
			if logLevel != "" {
				o.Logger = newLogger(logLevel)
			}
			res, err := bench.Compute(cmd.Context(), o)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), res, func(w io.Writer) {
				fmt.Fprintf(w, "deployment:          %d (%d-byte module %.12s, 1 replica on compute0), %d clients, %d slices\n", res.Deployment, res.ModuleBytes, res.Module, res.Concurrency, res.Slices)
				fmt.Fprintf(w, "fn calls:            %d in %.1fs (%d errors)\n", res.FnCalls, res.FnS, res.FnErrors)
				fmt.Fprintf(w, "native calls:        %d in %.1fs (%d errors)\n", res.NativeCalls, res.NativeS, res.NativeErrs)
				fmt.Fprintf(w, "fn_calls_per_s:      %.0f\n", res.FnCallsPerS)
				fmt.Fprintf(w, "native_calls_per_s:  %.0f\n", res.NativeCallsPerS)
				fmt.Fprintf(w, "ratio:               %.3f  (target >= 0.2)\n", res.Ratio)
				fmt.Fprintf(w, "p50_ms:              %.2f  (native %.2f)\n", res.P50Ms, res.NativeP50Ms)
				fmt.Fprintf(w, "p99_ms:              %.2f  (native %.2f)\n", res.P99Ms, res.NativeP99Ms)
				fmt.Fprintf(w, "cold_start_ms:       %.3f  (median of fresh instances, max %.3f; loaded from the cache in %.2f ms; target <= 50)\n", res.ColdStartMs, res.ColdStartMaxMs, res.CacheCompileMs)
				fmt.Fprintf(w, "first_call_ms:       %.1f  (the first call through the gateway once the lease is active; compute0 fetches and compiles the module when it sees the lease, so part of that may be done)\n", res.FirstCallMs)
			})
		},
	}
	c.Flags().DurationVar(&o.Duration, "duration", 15*time.Second, "how long to drive each side (the function and the native handler)")
	c.Flags().IntVar(&o.Concurrency, "concurrency", bench.DefaultComputeConcurrency, "keep-alive clients, one call in flight each")
	c.Flags().StringVar(&o.Dir, "dir", "", "folder for the devnet (default: a new temporary folder, removed afterwards)")
	c.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured calls to this file; the load generator is labelled side=fn and side=native, the native server side=native-server; the node is unlabelled (go tool pprof -tagignore side=native,side=native-server shows the function's side)")
	c.Flags().StringVar(&logLevel, "log-level", "", "show the devnet's logs at this level")
	return c
}
