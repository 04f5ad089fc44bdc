package wagi

import "crypto/rand"

// cryptoRand gives functions real randomness (wazero's default is a fixed seed).
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
