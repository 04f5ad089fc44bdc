package backend

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
)

func TestCheckRange(t *testing.T) {
	tests := []struct {
		off, n, size int64
		want         int64
		wantErr      bool
	}{
		{0, -1, 10, 10, false},
		{3, -1, 10, 7, false},
		{10, -1, 10, 0, false},
		{0, 10, 10, 10, false},
		{9, 1, 10, 1, false},
		{0, 0, 0, 0, false},
		{11, -1, 10, 0, true},
		{-1, 1, 10, 0, true},
		{9, 2, 10, 0, true},
		{1, 1 << 62, 10, 0, true}, // no overflow
	}
	for _, tt := range tests {
		got, err := CheckRange(shardstore.Hash{}, tt.off, tt.n, tt.size)
		if tt.wantErr {
			if errs.KindOf(err) != errs.Invalid {
				t.Errorf("CheckRange(%d, %d, %d) error = %v, want kind Invalid", tt.off, tt.n, tt.size, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CheckRange(%d, %d, %d) = %d, %v; want %d", tt.off, tt.n, tt.size, got, err, tt.want)
		}
	}
}

func TestHashLock(t *testing.T) {
	var l HashLock
	ctx := context.Background()
	a, b := shardstore.Hash{1}, shardstore.Hash{2}
	unlockA, err := l.Lock(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	// Another hash is free.
	unlockB, err := l.Lock(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	unlockB()

	// The same hash waits, and gives up when its context does.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(short, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock of a held hash with an expiring context: %v, want DeadlineExceeded", err)
	}

	var wg sync.WaitGroup
	got := make(chan struct{})
	wg.Go(func() {
		unlock, err := l.Lock(ctx, a)
		if err != nil {
			t.Error(err)
			return
		}
		close(got)
		unlock()
	})
	select {
	case <-got:
		t.Fatal("Lock of a held hash did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	unlockA()
	wg.Wait()
}
