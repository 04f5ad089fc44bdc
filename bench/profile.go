package bench

import (
	"os"
	"runtime/pprof"
)

// StartCPUProfile starts a CPU profile into path, or does nothing for "".
// The function it returns stops it and closes the file.
func StartCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
