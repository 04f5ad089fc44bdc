// Package wagi is the compute provider's function runtime: it compiles WASI
// preview1 modules with wazero (pure Go, no cgo), keeps their machine code in
// an on-disk cache, and runs HTTP calls against them following the WAGI
// convention (CGI/1.1 environment variables per RFC 3875, the body on stdin, a
// CGI response on stdout, stderr to the deployment's log).
//
// It is not the gateway, the scheduler or the meter: it runs one call on this
// machine and reports what the call consumed (Usage); routing, leases and
// billing live elsewhere.
//
// # Isolation and limits
//
// Every call runs under Limits: linear memory is capped through a metering
// memory allocator (a refused memory.grow that ends the call is
// ErrMemoryLimit), wall time through the context with wazero's
// CloseOnContextDone (an infinite loop is stopped: ErrTimeout), stdout is
// capped and the instance stopped as soon as it writes past the cap
// (ErrResponseTooLarge), and each Module has a concurrency gate (ErrBusy after
// waiting out the timeout). Traps, bad exits, bad CGI output and failed
// instantiation each have their own sentinel; HTTPStatus and Reason turn any of
// them into the 4xx/5xx a client gets. A failed instance is always discarded.
//
// # Two kinds of modules, and Go's start-up cost
//
// A WASI command (exports _start) gets a fresh instance for every call: the
// strongest isolation, and the WAGI model. Instantiating an already compiled
// module costs tens of microseconds, but a Go program (GOOS=wasip1) then spends
// about 5 ms in its runtime's start-up before main runs. That start-up reads
// the environment, and in WAGI the environment is the request, so it cannot be
// done ahead of time: a pool of pre-started command instances is not possible,
// and wazero has no memory snapshots to clone a started one.
//
// The mitigation is opt-in reuse. A module that exports wagi_serve (no
// parameters, no results) and no _start is a reusable WAGI reactor: an
// instance is created and initialized once (_initialize, which for Go runs the
// runtime start-up and package init), then serves calls one at a time. For each
// call its stdin is
//
//	uint32 n (little endian) | n bytes of "KEY=VALUE\x00" pairs | request body
//
// where the pairs are exactly the environment a command would get, and its
// stdout must be a CGI response, as for a command. Go builds one with
// //go:wasmexport wagi_serve and go build -buildmode=c-shared (see
// examples/echo-go, which builds both ways from one source). Idle instances
// are pooled per Module (up to MaxConcurrency) and Prewarm fills the pool
// ahead of demand, so the start-up happens off the request path.
//
// Reuse trades isolation between calls of the same deployment for speed: a
// reused instance keeps its memory and globals, like a warm Lambda container.
// It never crosses deployments (each Module has its own pool), and any failed
// call (trap, timeout, over-limit) closes its instance instead of returning it.
// The memory limit of a pooled instance is the one in force when it was
// created.
package wagi
