package wagi

import "encoding/binary"

// A tiny WebAssembly binary writer, enough for the hand-built hostile modules
// and the hello-wat example. Instructions are raw opcodes.

const (
	i32 = 0x7f

	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opCall        = 0x10
	opDrop        = 0x1a
	opI32Load8U   = 0x2d
	opI32Store8   = 0x3a
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32Eq       = 0x46
	opI32Add      = 0x6a
	blockVoid     = 0x40
)

type wasmSig struct{ params, results []byte }

type wasmImport struct {
	module, name string
	sig          wasmSig
}

type wasmFunc struct {
	export string // "" for none
	sig    wasmSig
	body   []byte // without the final end
}

type wasmData struct {
	offset int32
	bytes  []byte
}

type wasmModule struct {
	imports  []wasmImport
	funcs    []wasmFunc
	memPages uint32 // 0: no memory
	data     []wasmData
}

func uleb(n uint64) []byte { return binary.AppendUvarint(nil, n) }

func sleb(n int64) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && b&0x40 == 0) || (n == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func i32Const(n int32) []byte { return append([]byte{opI32Const}, sleb(int64(n))...) }

func wasmName(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func wasmVec(items [][]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func (m wasmModule) encode() []byte {
	var sigs []wasmSig
	typeIdx := func(s wasmSig) uint64 {
		for i, t := range sigs {
			if string(t.params) == string(s.params) && string(t.results) == string(s.results) {
				return uint64(i)
			}
		}
		sigs = append(sigs, s)
		return uint64(len(sigs) - 1)
	}
	var imports, funcs, exports, codes, datas [][]byte
	for _, im := range m.imports {
		e := append(wasmName(im.module), wasmName(im.name)...)
		imports = append(imports, append(append(e, 0x00), uleb(typeIdx(im.sig))...))
	}
	for i, f := range m.funcs {
		funcs = append(funcs, uleb(typeIdx(f.sig)))
		if f.export != "" {
			idx := uint64(len(m.imports) + i)
			exports = append(exports, append(append(wasmName(f.export), 0x00), uleb(idx)...))
		}
		body := append([]byte{0x00}, f.body...) // no locals
		body = append(body, opEnd)
		codes = append(codes, append(uleb(uint64(len(body))), body...))
	}
	if m.memPages > 0 {
		exports = append(exports, append(wasmName("memory"), 0x02, 0x00))
	}
	for _, d := range m.data {
		e := append([]byte{0x00}, i32Const(d.offset)...)
		e = append(e, opEnd)
		e = append(e, uleb(uint64(len(d.bytes)))...)
		datas = append(datas, append(e, d.bytes...))
	}
	var types [][]byte
	for _, s := range sigs {
		t := append([]byte{0x60}, uleb(uint64(len(s.params)))...)
		t = append(t, s.params...)
		t = append(t, uleb(uint64(len(s.results)))...)
		types = append(types, append(t, s.results...))
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, content []byte) {
		out = append(out, id)
		out = append(out, uleb(uint64(len(content)))...)
		out = append(out, content...)
	}
	section(1, wasmVec(types))
	if len(imports) > 0 {
		section(2, wasmVec(imports))
	}
	section(3, wasmVec(funcs))
	if m.memPages > 0 {
		section(5, wasmVec([][]byte{append([]byte{0x00}, uleb(uint64(m.memPages))...)}))
	}
	section(7, wasmVec(exports))
	section(10, wasmVec(codes))
	if len(datas) > 0 {
		section(11, wasmVec(datas))
	}
	return out
}

// Hand-built modules. Each imports at most fd_write as function 0.

var (
	sigFdWrite = wasmSig{params: []byte{i32, i32, i32, i32}, results: []byte{i32}}
	sigVoid    = wasmSig{}
	fdWrite    = wasmImport{"wasi_snapshot_preview1", "fd_write", sigFdWrite}
)

// helloText is what hello.wat (examples/hello-wat) prints.
const helloText = "Content-Type: text/plain\n\nhello from wat\n"

// writeStdout calls fd_write(1, iovs=0, 1 iovec, nwritten=8) and drops the errno.
func writeStdout() []byte {
	b := append(i32Const(1), i32Const(0)...)
	b = append(b, i32Const(1)...)
	b = append(b, i32Const(8)...)
	return append(b, opCall, 0, opDrop)
}

// iovec returns the 8 bytes of one iovec {buf, len} at address 0.
func iovec(buf, n uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, buf), n)
}

// helloWasm is the binary of examples/hello-wat/hello.wat.
func helloWasm() []byte {
	return wasmModule{
		imports:  []wasmImport{fdWrite},
		funcs:    []wasmFunc{{export: "_start", sig: sigVoid, body: writeStdout()}},
		memPages: 1,
		data:     []wasmData{{0, iovec(16, uint32(len(helloText)))}, {16, []byte(helloText)}},
	}.encode()
}

// counterWasm is a reusable (reactor) module: each wagi_serve call bumps a
// digit kept in memory and prints it, so reuse shows in the output.
// A call whose path is... (no stdin parsing): it always prints "call N".
func counterWasm() []byte {
	text := "Content-Type: text/plain\n\ncall 0\n"
	digit := int32(16 + len(text) - 2)
	bump := append(i32Const(digit), i32Const(digit)...)
	bump = append(bump, opI32Load8U, 0, 0)
	bump = append(bump, i32Const(1)...)
	bump = append(bump, opI32Add, opI32Store8, 0, 0)
	return wasmModule{
		imports:  []wasmImport{fdWrite},
		funcs:    []wasmFunc{{export: ExportServe, sig: sigVoid, body: append(bump, writeStdout()...)}},
		memPages: 1,
		data:     []wasmData{{0, iovec(16, uint32(len(text)))}, {16, []byte(text)}},
	}.encode()
}

func startModule(body []byte, memPages uint32, imports ...wasmImport) []byte {
	return wasmModule{
		imports:  imports,
		funcs:    []wasmFunc{{export: "_start", sig: sigVoid, body: body}},
		memPages: memPages,
	}.encode()
}

// loopWasm spins forever.
func loopWasm() []byte { return startModule([]byte{opLoop, blockVoid, opBr, 0, opEnd}, 1) }

// trapWasm executes unreachable.
func trapWasm() []byte { return startModule([]byte{opUnreachable}, 1) }

// memoryBombWasm grows its memory 16 pages at a time until refused, then traps.
func memoryBombWasm() []byte {
	b := []byte{opBlock, blockVoid, opLoop, blockVoid}
	b = append(b, i32Const(16)...)
	b = append(b, opMemoryGrow, 0)
	b = append(b, i32Const(-1)...)
	b = append(b, opI32Eq, opBrIf, 1, opBr, 0, opEnd, opEnd, opUnreachable)
	return startModule(b, 1)
}

// floodWasm writes 64 KiB to stdout forever.
func floodWasm() []byte {
	b := []byte{opLoop, blockVoid}
	b = append(b, writeStdout()...)
	b = append(b, opBr, 0, opEnd)
	return wasmModule{
		imports:  []wasmImport{fdWrite},
		funcs:    []wasmFunc{{export: "_start", sig: sigVoid, body: b}},
		memPages: 2,
		data:     []wasmData{{0, iovec(1024, 65536)}},
	}.encode()
}

// unknownWASIWasm imports a WASI function that does not exist, so it compiles
// but cannot be instantiated.
func unknownWASIWasm() []byte {
	return startModule(nil, 1, wasmImport{"wasi_snapshot_preview1", "no_such_function", sigVoid})
}

// foreignImportWasm imports from a module other than WASI.
func foreignImportWasm() []byte {
	return startModule(nil, 1, wasmImport{"env", "host_magic", sigVoid})
}
