;; hello.wat: the smallest Stratus function, written by hand in WebAssembly
;; text. It is a WASI command: _start writes one CGI response to stdout with
;; fd_write and returns.
;;
;; Assemble it with any WAT assembler, for example:
;;
;;   wat2wasm hello.wat -o hello.wasm          (wabt)
;;   wasm-tools parse hello.wat -o hello.wasm  (wasm-tools)
;;
;; The tests of package wagi build the same binary with a small encoder
;; (wagi/wasm_test.go, helloWasm) and check that its text matches this file.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; One iovec at address 0: the response starts at 16 and is 41 bytes long.
  (data (i32.const 0) "\10\00\00\00\29\00\00\00")
  (data (i32.const 16) "Content-Type: text/plain\n\nhello from wat\n")

  (func (export "_start")
    ;; fd_write(fd=1 (stdout), iovs=0, iovs_len=1, nwritten=8)
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
