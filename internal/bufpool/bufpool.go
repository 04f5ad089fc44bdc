// Package bufpool recycles the multi-megabyte buffers that shard uploads
// and downloads go through. Allocating a fresh one for every shard makes the
// runtime return and re-fault the same memory over and over (a page fault
// per 4 KiB on Linux), which cost storage gets about half their time before
// buffers were pooled (docs/benchmarks.md).
package bufpool

import "sync"

var pool sync.Pool // of *[]byte

// Get returns a buffer of length n. Its contents are undefined.
func Get(n int) []byte {
	if p, ok := pool.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return (*p)[:n]
		}
		// Too small for this one; let the collector have it.
	}
	return make([]byte, n)
}

// Put hands b back for reuse. The caller must not touch b afterwards.
// Small buffers are not worth keeping.
func Put(b []byte) {
	if cap(b) < 64<<10 {
		return
	}
	pool.Put(&b)
}
