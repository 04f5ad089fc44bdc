package mem_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/mem"
	"github.com/stratus-cloud/stratus/shardstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, quota int64) shardstore.Store {
		s, err := mem.New(shardstore.Options{Quota: quota})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return s
	})
}

// TestVerifier checks that Put uses the Verifier it was given, not SHA-256.
func TestVerifier(t *testing.T) {
	// A toy verifier: the hash is the data, zero-padded.
	identity := func(h [32]byte, data []byte) error {
		var want [32]byte
		copy(want[:], data)
		if h != want {
			return errors.New("not the identity hash")
		}
		return nil
	}
	s, err := mem.New(shardstore.Options{Verify: identity})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var h shardstore.Hash
	copy(h[:], "hello")
	if err := s.Put(ctx, h, bytes.NewReader([]byte("hello")), 5); err != nil {
		t.Errorf("Put that the verifier accepts: %v", err)
	}
	copy(h[:], "world")
	err = s.Put(ctx, h, bytes.NewReader([]byte("hallo")), 5)
	if errs.KindOf(err) != errs.Invalid {
		t.Errorf("Put that the verifier rejects: %v, want kind Invalid", err)
	}
	if _, err := s.Stat(ctx, h); errs.KindOf(err) != errs.NotFound {
		t.Errorf("rejected shard is stored: Stat = %v", err)
	}
}

func TestOptions(t *testing.T) {
	if _, err := mem.New(shardstore.Options{Quota: -1}); errs.KindOf(err) != errs.Invalid {
		t.Errorf("New with a negative quota: %v, want kind Invalid", err)
	}
	s, err := mem.New(shardstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, quota, _ := s.Usage(context.Background()); quota != 1<<63-1 {
		t.Errorf("quota of an unlimited store = %d, want math.MaxInt64", quota)
	}
}
