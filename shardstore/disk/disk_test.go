package disk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/disk"
	"github.com/stratus-cloud/stratus/shardstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, quota int64) shardstore.Store {
		return open(t, t.TempDir(), quota)
	})
}

func open(t *testing.T, dir string, quota int64) *disk.Store {
	t.Helper()
	s, err := disk.Open(context.Background(), dir, shardstore.Options{Quota: quota})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func put(t *testing.T, s *disk.Store, h shardstore.Hash, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), h, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// shardPath is where the layout promises shard h lives.
func shardPath(dir string, h shardstore.Hash) string {
	x := h.String()
	return filepath.Join(dir, x[:2], x[2:4], x)
}

func list(t *testing.T, s *disk.Store) []shardstore.Info {
	t.Helper()
	var infos []shardstore.Info
	if err := s.List(context.Background(), func(i shardstore.Info) error { infos = append(infos, i); return nil }); err != nil {
		t.Fatalf("List: %v", err)
	}
	return infos
}

func usage(t *testing.T, s *disk.Store) int64 {
	t.Helper()
	used, _, err := s.Usage(context.Background())
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	return used
}

// tempFiles lists the temporary files under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), disk.TempPrefix) {
			found = append(found, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	h, data := storetest.Shard(100, 1)
	put(t, s, h, data)
	got, err := os.ReadFile(shardPath(dir, h))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("shard file %s: %d bytes, %v; want the shard's %d bytes", shardPath(dir, h), len(got), err, len(data))
	}
}

// TestTopFoldersMadeAtOpen: Open makes the 256 top fan-out folders, so a
// Put into a fresh store makes only the second-level one; an empty store
// still lists nothing, and reopening keeps them.
func TestTopFoldersMadeAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 256 || entries[0].Name() != "00" || entries[255].Name() != "ff" || !entries[0].IsDir() {
		t.Fatalf("%d entries after Open, want the folders 00 ... ff", len(entries))
	}
	if infos := list(t, s); len(infos) != 0 {
		t.Fatalf("a fresh store lists %v", infos)
	}
	h, data := storetest.Shard(100, 2)
	put(t, s, h, data)
	s = open(t, dir, 0)
	if entries, _ := os.ReadDir(dir); len(entries) != 256 {
		t.Fatalf("%d entries after a put and a reopen, want 256", len(entries))
	}
	if infos := list(t, s); len(infos) != 1 || infos[0].Hash != h {
		t.Fatalf("after a reopen the store lists %v, want %s", infos, h)
	}
}

// TestCrashLeftovers simulates a crash mid-Put by writing temporary files by
// hand, one of them holding a complete shard that never got renamed.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	kept, keptData := storetest.Shard(300, 1)
	put(t, s, kept, keptData)

	lost, lostData := storetest.Shard(500, 2)
	leftovers := []string{
		filepath.Join(filepath.Dir(shardPath(dir, kept)), disk.TempPrefix+kept.String()+"-123"),
		filepath.Join(filepath.Dir(shardPath(dir, lost)), disk.TempPrefix+lost.String()+"-456"),
	}
	for _, p := range leftovers {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, lostData, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Before Open cleans up, List still ignores them.
	if got := list(t, s); len(got) != 1 || got[0].Hash != kept {
		t.Errorf("List with temporary files present = %v, want only %s", got, kept)
	}

	s = open(t, dir, 0)
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Errorf("Open left temporary files behind: %v", got)
	}
	if got := list(t, s); len(got) != 1 || got[0].Hash != kept {
		t.Errorf("List after Open = %v, want only %s", got, kept)
	}
	if _, err := s.Stat(context.Background(), lost); errs.KindOf(err) != errs.NotFound {
		t.Errorf("Stat of a shard whose Put crashed before the rename: %v, want NotFound", err)
	}
	if got := usage(t, s); got != 300 {
		t.Errorf("Usage after Open = %d, want 300 (temporary files don't count)", got)
	}
}

// TestFailedPutsLeaveNoFiles checks that rejected and abandoned Puts clean
// up after themselves without waiting for the next Open.
func TestFailedPutsLeaveNoFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	ctx := context.Background()
	h, data := storetest.Shard(10000, 1)
	_, other := storetest.Shard(10000, 2)
	if err := s.Put(ctx, h, bytes.NewReader(other), 10000); err == nil {
		t.Fatal("Put of bytes that don't match: no error")
	}
	if err := s.Put(ctx, h, bytes.NewReader(data[:10]), 10000); err == nil {
		t.Fatal("Put of a short body: no error")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(canceled, h, bytes.NewReader(data), 10000); err == nil {
		t.Fatal("Put with a canceled context: no error")
	}
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Errorf("failed Puts left temporary files: %v", got)
	}
	if _, err := os.Stat(shardPath(dir, h)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed Puts left a shard file: %v", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 10000)
	var want []shardstore.Info
	for i := range 5 {
		h, data := storetest.Shard(1000+i, uint64(i))
		put(t, s, h, data)
	}
	want = list(t, s)
	deleted := want[2].Hash
	if err := s.Delete(context.Background(), deleted); err != nil {
		t.Fatal(err)
	}
	want = append(want[:2], want[3:]...)
	wantUsed := usage(t, s)

	s = open(t, dir, 10000)
	got := list(t, s)
	if len(got) != len(want) {
		t.Fatalf("after reopening, List = %d shards, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Created.Equal(want[i].Created) || got[i].Hash != want[i].Hash || got[i].Size != want[i].Size {
			t.Errorf("after reopening, shard %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	var sum int64
	for _, info := range want {
		sum += info.Size
	}
	if got := usage(t, s); got != wantUsed || got != sum {
		t.Errorf("Usage after reopening = %d, want %d (before) and %d (sum of sizes)", got, wantUsed, sum)
	}
	// The quota still counts what was there before.
	h, data := storetest.Shard(10000-int(wantUsed)+1, 9)
	err := s.Put(context.Background(), h, bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, shardstore.ErrQuota) {
		t.Errorf("Put one byte past the quota after reopening: %v, want ErrQuota", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shards")
	s := open(t, dir, 0)
	h, data := storetest.Shard(10, 1)
	put(t, s, h, data)
	path := shardPath(dir, h)
	for _, p := range []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700 | fs.ModeDir},
		{filepath.Dir(filepath.Dir(path)), 0o700 | fs.ModeDir},
		{filepath.Dir(path), 0o700 | fs.ModeDir},
		{path, 0o600},
	} {
		fi, err := os.Stat(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != p.want {
			t.Errorf("%s has mode %v, want %v", p.path, fi.Mode(), p.want)
		}
	}
}

func TestCorruption(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	ctx := context.Background()
	h, data := storetest.Shard(8192, 1)
	put(t, s, h, data)
	if err := s.Verify(ctx, h); err != nil {
		t.Fatalf("Verify of a good shard: %v", err)
	}

	rotten := bytes.Clone(data)
	rotten[5000] ^= 0x40
	if err := os.WriteFile(shardPath(dir, h), rotten, 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, h, 0, -1)
	if err != nil {
		t.Fatalf("Get of a corrupted shard: %v; want its bytes", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, rotten) {
		t.Errorf("Get of a corrupted shard did not return the bytes on disk")
	}
	err = s.Verify(ctx, h)
	if !errors.Is(err, shardstore.ErrCorrupt) {
		t.Errorf("Verify of a corrupted shard: %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), h.String()) {
		t.Errorf("Verify error %q does not name the shard", err)
	}

	// The repair is Delete then Put.
	if err := s.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	put(t, s, h, data)
	if err := s.Verify(ctx, h); err != nil {
		t.Errorf("Verify after repair: %v", err)
	}
}

// TestTruncatedShardIsReplaced: a shard file of the wrong size can't be the
// shard, so a Put of the right bytes replaces it rather than calling it done.
func TestTruncatedShardIsReplaced(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	h, data := storetest.Shard(4096, 1)
	put(t, s, h, data)
	if err := os.Truncate(shardPath(dir, h), 100); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 0)
	if got := usage(t, s); got != 100 {
		t.Fatalf("Usage = %d, want 100", got)
	}
	put(t, s, h, data)
	if err := s.Verify(context.Background(), h); err != nil {
		t.Errorf("Verify after replacing a truncated shard: %v", err)
	}
	if got := usage(t, s); got != 4096 {
		t.Errorf("Usage after replacing = %d, want 4096", got)
	}
}

// TestForeignFiles: files the store didn't write are neither listed nor
// removed.
func TestForeignFiles(t *testing.T) {
	dir := t.TempDir()
	h, _ := storetest.Shard(1, 1)
	foreign := []string{
		filepath.Join(dir, "README"),
		filepath.Join(dir, "ab", "cd", "notes.txt"),
		filepath.Join(dir, "AB", "CD", strings.ToUpper(h.String())),
		filepath.Join(dir, "00", "00", h.String()), // in the wrong directory
	}
	for _, p := range foreign {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dir, 0)
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List = %v, want nothing", got)
	}
	if got := usage(t, s); got != 0 {
		t.Errorf("Usage = %d, want 0", got)
	}
	for _, p := range foreign {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Open removed %s: %v", p, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := disk.Open(ctx, t.TempDir(), shardstore.Options{Quota: -1}); errs.KindOf(err) != errs.Invalid {
		t.Errorf("Open with a negative quota: %v, want kind Invalid", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Open(ctx, filepath.Join(file, "sub"), shardstore.Options{}); err == nil {
		t.Errorf("Open under a regular file: no error")
	}
}
