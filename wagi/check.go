package wagi

import "context"

// Check reports whether wasm is a module this runtime can run: WebAssembly
// (the \0asm header), compiled by wazero, with the imports and exports a
// WASI command or reactor has. It is what a provider does when it loads a
// module, run where the module is written (the CLI, before any
// transaction), so that a file that is not a function is refused before
// it costs anything. The error is of kind Invalid (ErrInvalidModule).
func Check(ctx context.Context, wasm []byte) error {
	rt, err := New(ctx, Config{})
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	m, err := rt.Compile(ctx, wasm)
	if err != nil {
		return err
	}
	return m.Close(ctx)
}
