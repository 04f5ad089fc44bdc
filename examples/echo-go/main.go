// Command echo-go is a Stratus function that answers every request with a
// plain-text description of it: method, path, query, headers, the whole
// environment and the body. With ?sleep=DURATION (at most 10s) it waits
// that long first, as a function doing real work would. It is the Go example of docs/functions.md.
//
// Build it as a WASI command, which gets a fresh instance per request:
//
//	GOOS=wasip1 GOARCH=wasm go build -o echo.wasm ./examples/echo-go
//
// or as a reusable WAGI reactor, whose instance is initialized once (Go's
// ~5 ms runtime start-up) and then serves requests one at a time through the
// exported wagi_serve function:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o echo.wasm ./examples/echo-go
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// maxSleep bounds ?sleep=.
const maxSleep = 10 * time.Second

func main() {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	echo(env, os.Stdin, os.Stdout)
}

// serve is the reusable entry point. Its stdin is a little-endian uint32 n,
// n bytes of NUL-terminated KEY=VALUE pairs (the CGI environment), then the
// request body; it writes a CGI response to stdout like main does.
//
//go:wasmexport wagi_serve
func serve() {
	var n [4]byte
	if _, err := io.ReadFull(os.Stdin, n[:]); err != nil {
		fmt.Fprintln(os.Stderr, "wagi_serve: read frame:", err)
		return
	}
	block := make([]byte, binary.LittleEndian.Uint32(n[:]))
	if _, err := io.ReadFull(os.Stdin, block); err != nil {
		fmt.Fprintln(os.Stderr, "wagi_serve: read env:", err)
		return
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(block), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	echo(env, os.Stdin, os.Stdout)
}

func echo(env map[string]string, stdin io.Reader, stdout io.Writer) {
	body, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read body:", err)
	}
	fmt.Fprintf(os.Stderr, "echo: %s %s\n", env["REQUEST_METHOD"], env["PATH_INFO"])
	// ?sleep=50ms stands in for a function that works for a while before
	// it answers, to watch a deployment scale under load.
	if q, err := url.ParseQuery(env["QUERY_STRING"]); err == nil && q.Get("sleep") != "" {
		d, err := time.ParseDuration(q.Get("sleep"))
		if err != nil || d < 0 || d > maxSleep {
			fmt.Fprint(stdout, "Status: 400 Bad Request\nContent-Type: text/plain; charset=utf-8\n\n")
			fmt.Fprintf(stdout, "sleep=%q: give a duration from 0s to %s, such as 50ms\n", q.Get("sleep"), maxSleep)
			return
		}
		time.Sleep(d)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	fmt.Fprint(w, "Content-Type: text/plain; charset=utf-8\n")
	fmt.Fprint(w, "X-Echo: 1\n\n")
	fmt.Fprintf(w, "method=%s\npath=%s\nquery=%s\n", env["REQUEST_METHOD"], env["PATH_INFO"], env["QUERY_STRING"])
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if h, ok := strings.CutPrefix(k, "HTTP_"); ok {
			fmt.Fprintf(w, "header.%s=%s\n", h, env[k])
		}
	}
	for _, k := range keys {
		fmt.Fprintf(w, "env.%s=%s\n", k, env[k])
	}
	fmt.Fprintf(w, "body=%s", body)
}
