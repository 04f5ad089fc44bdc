package testnet

import (
	"bytes"
	bin "encoding/binary"
)

// HelloBody is what HelloWasm answers every call with.
const HelloBody = "hello from wat\n"

// helloOutput is HelloWasm's CGI response on stdout.
const helloOutput = "Content-Type: text/plain\n\n" + HelloBody

// HelloWasm returns the smallest useful function: examples/hello-wat
// assembled by hand, a WASI command whose _start writes a CGI response
// (Content-Type text/plain, body HelloBody) to stdout with fd_write. Tests
// and benchmarks deploy it without a WebAssembly toolchain.
func HelloWasm() []byte {
	leb := func(n int) []byte { return bin.AppendUvarint(nil, uint64(n)) }
	vec := func(items ...[]byte) []byte {
		out := leb(len(items))
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	name := func(s string) []byte { return append(leb(len(s)), s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	const i32, i32Const, call, drop, end = 0x7f, 0x41, 0x10, 0x1a, 0x0b
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, content []byte) {
		out = append(append(append(out, id), leb(len(content))...), content...)
	}
	// Types: 0 is fd_write's (i32 i32 i32 i32) -> i32, 1 is () -> ().
	section(1, vec([]byte{0x60, 4, i32, i32, i32, i32, 1, i32}, []byte{0x60, 0, 0}))
	section(2, vec(cat(name("wasi_snapshot_preview1"), name("fd_write"), []byte{0x00, 0})))
	section(3, vec([]byte{1}))
	section(5, vec([]byte{0x00, 1})) // one page of memory
	section(7, vec(cat(name("_start"), []byte{0x00, 1}), cat(name("memory"), []byte{0x02, 0})))
	// fd_write(fd 1, iovs at 0, 1 iovec, nwritten at 8), its errno dropped.
	body := []byte{0x00, i32Const, 1, i32Const, 0, i32Const, 1, i32Const, 8, call, 0, drop, end}
	section(10, vec(append(leb(len(body)), body...)))
	iov := bin.LittleEndian.AppendUint32(bin.LittleEndian.AppendUint32(nil, 16), uint32(len(helloOutput)))
	seg := func(off byte, b []byte) []byte {
		return cat([]byte{0x00, i32Const, off, end}, leb(len(b)), b)
	}
	section(11, vec(seg(0, iov), seg(16, []byte(helloOutput))))
	return out
}
