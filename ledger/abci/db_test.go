package abci

import (
	"errors"
	"sync"
	"testing"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// openCometDB opens a CometBFT database as the node does, in a temporary
// folder, on CometBFT's default backend.
func openCometDB(t *testing.T) dbm.DB {
	t.Helper()
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(t.TempDir())
	db, err := dbProvider(&cmtcfg.DBContext{ID: "blockstore", Config: cfg})
	if err != nil {
		t.Fatalf("dbProvider: %v", err)
	}
	if _, ok := db.(*closeSafeDB); !ok {
		t.Fatalf("dbProvider returned a %T, want it wrapped in *closeSafeDB", db)
	}
	return db
}

func TestCloseSafeDB(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) dbm.DB
	}{
		{"goleveldb", openCometDB},
		{"memdb", func(*testing.T) dbm.DB { return &closeSafeDB{DB: dbm.NewMemDB()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := tc.open(t)
			if err := db.Set([]byte("k"), []byte("v")); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if v, err := db.Get([]byte("k")); err != nil || string(v) != "v" {
				t.Fatalf("Get before Close = %q, %v; want v", v, err)
			}
			if ok, err := db.Has([]byte("k")); err != nil || !ok {
				t.Fatalf("Has before Close = %v, %v; want true", ok, err)
			}
			it, err := db.Iterator(nil, nil)
			if err != nil {
				t.Fatalf("Iterator before Close: %v", err)
			}
			it.Close()

			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Reads after Close answer as if the keys were absent.
			if v, err := db.Get([]byte("k")); err != nil || v != nil {
				t.Errorf("Get after Close = %q, %v; want nil, nil", v, err)
			}
			if ok, err := db.Has([]byte("k")); err != nil || ok {
				t.Errorf("Has after Close = %v, %v; want false, nil", ok, err)
			}
			if it, err := db.Iterator(nil, nil); !errors.Is(err, errDBClosed) {
				if it != nil {
					it.Close()
				}
				t.Errorf("Iterator after Close: %v, want errDBClosed", err)
			}
			if it, err := db.ReverseIterator(nil, nil); !errors.Is(err, errDBClosed) {
				if it != nil {
					it.Close()
				}
				t.Errorf("ReverseIterator after Close: %v, want errDBClosed", err)
			}
			if err := db.Close(); err != nil {
				t.Errorf("second Close: %v, want nil", err)
			}
		})
	}
}

// TestCloseSafeDBReadsDuringClose: readers racing Close (as CometBFT's
// reactors do when a node stops) neither panic nor see an error.
func TestCloseSafeDBReadsDuringClose(t *testing.T) {
	db := openCometDB(t)
	if err := db.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 2000 {
				v, err := db.Get([]byte("k"))
				if err != nil || (v != nil && string(v) != "v") {
					t.Errorf("Get racing Close = %q, %v", v, err)
					return
				}
				if _, err := db.Has([]byte("k")); err != nil {
					t.Errorf("Has racing Close: %v", err)
					return
				}
			}
		}()
	}
	close(start)
	if err := db.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
}
