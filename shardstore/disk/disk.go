// Package disk is a shardstore.Store that keeps each shard in its own file
// under a directory, fanned out by the first two bytes of its hash:
//
//	DIR/ab/cd/abcd…(64 hex digits)
//
// Writes are crash-safe. A Put reads and verifies the whole shard in memory,
// writes it to a temporary file in the shard's final directory, fsyncs the
// file, renames it into place and fsyncs the directory; new fan-out
// directories are fsynced into their parents too. So after a crash a shard
// is either wholly present or absent, and any temporary files the crash left
// behind are removed by the next Open.
//
// The quota is enforced from a usage counter computed by walking the
// directory at Open and kept up to date by Put and Delete, so only one Store
// (and one process) may use a directory at a time.
//
// It is not a cache and never checks shards on read: Get returns the bytes
// on disk even if they have rotted, because the reader verifies them against
// the manifest anyway. Verify re-hashes a shard on demand.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/internal/bufpool"
	"github.com/stratus-cloud/stratus/shardstore"
	"github.com/stratus-cloud/stratus/shardstore/internal/backend"
)

// TempPrefix starts the name of every temporary file a Put writes. Open
// removes files with this prefix that a crash left behind.
const TempPrefix = ".tmp-"

// Store is a directory of shard files. Create one with Open.
type Store struct {
	dir    string
	verify shardstore.Verifier
	locks  backend.HashLock // serialises Put and Delete of one hash
	dirs   sync.Map         // fan-out directories known to be durable
	usage  *backend.Usage
}

var (
	_ shardstore.Store    = (*Store)(nil)
	_ shardstore.Scrubber = (*Store)(nil)
)

// Open opens the store in dir, creating dir (mode 0700) if it doesn't
// exist. It removes temporary files left by a crash and adds up the shards'
// sizes for the quota. It returns an error of kind Invalid if opts.Quota is
// negative, and of kind Internal if dir can't be created or read.
func Open(ctx context.Context, dir string, opts shardstore.Options) (*Store, error) {
	quota, verify, err := backend.Resolve(opts)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, errs.E(errs.Internal, "create shard directory: %w; check the path and its permissions", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, errs.E(errs.Internal, "open shard directory: %w; check the path and its permissions", err)
	}
	s := &Store{dir: dir, verify: verify}
	var used int64
	err = s.scan(ctx,
		func(info shardstore.Info) error { used += info.Size; return nil },
		func(path string) error {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return errs.E(errs.Internal, "remove temporary file left by a crash: %w; remove it by hand", err)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if err := s.makeTops(); err != nil {
		return nil, err
	}
	s.usage = backend.NewUsage(quota, used)
	return s, nil
}

// makeTops creates the 256 top fan-out directories, with one sync of dir
// for all of them, so that a Put into an empty store makes and syncs one
// directory rather than two: a Put's syncs are most of its cost on disks
// that honour them.
func (s *Store) makeTops() error {
	made := false
	for i := range 256 {
		top := filepath.Join(s.dir, fmt.Sprintf("%02x", i))
		if _, ok := s.dirs.Load(top); ok {
			continue // seen by the scan: there, and durable
		}
		if err := os.Mkdir(top, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return errs.E(errs.Internal, "create shard directory: %w; check the path and its permissions", err)
		}
		s.dirs.Store(top, struct{}{}) // durable once dir is synced below
		made = true
	}
	if made {
		return syncDir(s.dir)
	}
	return nil
}

// Put implements shardstore.Store.
func (s *Store) Put(ctx context.Context, h shardstore.Hash, r io.Reader, size int64) error {
	if err := backend.Canceled(ctx, "put", h); err != nil {
		return err
	}
	if err := backend.CheckSize(h, size); err != nil {
		return err
	}
	unlock, err := s.locks.Lock(ctx, h)
	if err != nil {
		return backend.Canceled(ctx, "put", h)
	}
	defer unlock()

	dir, path := s.path(h)
	var oldSize int64 // a shard of the wrong size on disk is rot; a verified Put replaces it
	switch fi, err := os.Stat(path); {
	case err == nil && fi.Size() == size:
		return nil
	case err == nil:
		oldSize = fi.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return ioErr("put", h, err)
	}

	release, err := s.usage.Reserve(h, size, oldSize)
	if err != nil {
		return err
	}
	defer release()
	// Bytes that don't verify cost no disk I/O.
	data, err := backend.ReadVerified(ctx, h, r, size, s.verify)
	if err != nil {
		return err
	}
	defer bufpool.Put(data)
	if err := s.mkdirs(h); err != nil {
		return ioErr("put", h, err)
	}
	if err := writeTemp(ctx, dir, path, h, data); err != nil {
		return err
	}
	s.usage.Add(size - oldSize)
	// The rename is done; until the directory is synced a crash may undo
	// it, which is why the Put doesn't succeed before then.
	if err := syncDir(dir); err != nil {
		return ioErr("put", h, err)
	}
	return nil
}

// writeTemp writes data to a new temporary file in dir, syncs it and
// renames it to path. On failure it removes the temporary file.
func writeTemp(ctx context.Context, dir, path string, h shardstore.Hash, data []byte) (err error) {
	f, err := os.CreateTemp(dir, TempPrefix+h.String()+"-*") // mode 0600
	if err != nil {
		return ioErr("put", h, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return ioErr("put", h, err)
	}
	if err := f.Sync(); err != nil {
		return ioErr("put", h, err)
	}
	if err := f.Close(); err != nil {
		return ioErr("put", h, err)
	}
	// Last chance to abandon the Put without leaving a shard behind.
	if err := backend.Canceled(ctx, "put", h); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return ioErr("put", h, err)
	}
	return nil
}

// Get implements shardstore.Store. The reader is an *io.SectionReader over
// the open file (so it also seeks and reads at offsets) and stays readable
// even if the shard is deleted meanwhile.
func (s *Store) Get(ctx context.Context, h shardstore.Hash, off, n int64) (io.ReadCloser, error) {
	if err := backend.Canceled(ctx, "get", h); err != nil {
		return nil, err
	}
	_, path := s.path(h)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, backend.NotFound(h)
	} else if err != nil {
		return nil, ioErr("get", h, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ioErr("get", h, err)
	}
	n, err = backend.CheckRange(h, off, n, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return &section{io.NewSectionReader(f, off, n), f}, nil
}

// section is a range of an open shard file.
type section struct {
	*io.SectionReader
	f *os.File
}

func (s *section) Close() error { return s.f.Close() }

// Stat implements shardstore.Store. Created is the file's modification time.
func (s *Store) Stat(ctx context.Context, h shardstore.Hash) (shardstore.Info, error) {
	if err := backend.Canceled(ctx, "stat", h); err != nil {
		return shardstore.Info{}, err
	}
	_, path := s.path(h)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return shardstore.Info{}, backend.NotFound(h)
	} else if err != nil {
		return shardstore.Info{}, ioErr("stat", h, err)
	}
	return shardstore.Info{Hash: h, Size: fi.Size(), Created: fi.ModTime()}, nil
}

// Delete implements shardstore.Store. It leaves the fan-out directories in
// place for the next Put.
func (s *Store) Delete(ctx context.Context, h shardstore.Hash) error {
	if err := backend.Canceled(ctx, "delete", h); err != nil {
		return err
	}
	unlock, err := s.locks.Lock(ctx, h)
	if err != nil {
		return backend.Canceled(ctx, "delete", h)
	}
	defer unlock()
	dir, path := s.path(h)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return backend.NotFound(h)
	} else if err != nil {
		return ioErr("delete", h, err)
	}
	if err := os.Remove(path); err != nil {
		return ioErr("delete", h, err)
	}
	s.usage.Add(-fi.Size())
	if err := syncDir(dir); err != nil {
		return ioErr("delete", h, err)
	}
	return nil
}

// List implements shardstore.Store. Directory entries come back sorted by
// name, and the names are lowercase hex, so walking them is hash order.
func (s *Store) List(ctx context.Context, fn func(shardstore.Info) error) error {
	return s.scan(ctx, fn, nil)
}

// Usage implements shardstore.Store.
func (s *Store) Usage(ctx context.Context) (used, quota int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("shard store usage: %w", err)
	}
	used, quota = s.usage.Get()
	return used, quota, nil
}

// Verify implements shardstore.Scrubber: it reads the whole shard file and
// runs the store's Verifier over it.
func (s *Store) Verify(ctx context.Context, h shardstore.Hash) error {
	if err := backend.Canceled(ctx, "verify", h); err != nil {
		return err
	}
	_, path := s.path(h)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return backend.NotFound(h)
	} else if err != nil {
		return ioErr("verify", h, err)
	}
	if err := s.verify(h, data); err != nil {
		return errs.E(errs.Internal, "shard %s in %s (%v): %w", h, path, err, shardstore.ErrCorrupt)
	}
	return nil
}

// path returns the directory and file that hold shard h.
func (s *Store) path(h shardstore.Hash) (dir, file string) {
	x := h.String()
	dir = filepath.Join(s.dir, x[:2], x[2:4])
	return dir, filepath.Join(dir, x)
}

// mkdirs creates h's fan-out directories and makes their entries durable.
func (s *Store) mkdirs(h shardstore.Hash) error {
	x := h.String()
	top := filepath.Join(s.dir, x[:2])
	if err := s.mkdir(s.dir, top); err != nil {
		return err
	}
	return s.mkdir(top, filepath.Join(top, x[2:4]))
}

func (s *Store) mkdir(parent, dir string) error {
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Sync even if another Put made it: that Put may not have synced yet.
	if err := syncDir(parent); err != nil {
		return err
	}
	s.dirs.Store(dir, struct{}{})
	return nil
}

// scan walks the fan-out directories in name order, calling shard for each
// shard file and, if temp isn't nil, temp for each leftover temporary file.
// Other files are ignored. Directories it sees are marked durable, as
// everything on disk at Open is.
func (s *Store) scan(ctx context.Context, shard func(shardstore.Info) error, temp func(path string) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list shards: %w", err)
	}
	tops, err := readDir(s.dir)
	if err != nil {
		return err
	}
	for _, top := range tops {
		if !top.IsDir() || !isHexByte(top.Name()) {
			continue
		}
		topPath := filepath.Join(s.dir, top.Name())
		mids, err := readDir(topPath)
		if err != nil {
			return err
		}
		s.dirs.Store(topPath, struct{}{})
		for _, mid := range mids {
			if !mid.IsDir() || !isHexByte(mid.Name()) {
				continue
			}
			dir := filepath.Join(topPath, mid.Name())
			files, err := readDir(dir)
			if err != nil {
				return err
			}
			s.dirs.Store(dir, struct{}{})
			for _, f := range files {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("list shards: %w", err)
				}
				name := f.Name()
				if strings.HasPrefix(name, TempPrefix) {
					if temp != nil {
						if err := temp(filepath.Join(dir, name)); err != nil {
							return err
						}
					}
					continue
				}
				h, err := shardstore.ParseHash(name)
				if err != nil || h.String() != name || name[:2] != top.Name() || name[2:4] != mid.Name() {
					continue
				}
				fi, err := f.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted since readDir
				} else if err != nil {
					return ioErr("list", h, err)
				}
				if !fi.Mode().IsRegular() {
					continue
				}
				if err := shard(shardstore.Info{Hash: h, Size: fi.Size(), Created: fi.ModTime()}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readDir lists dir sorted by name; a directory removed meanwhile is empty.
func readDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, errs.E(errs.Internal, "read shard directory: %w; check its permissions", err)
	}
	return entries, nil
}

func isHexByte(name string) bool {
	return len(name) == 2 && isLowerHex(name[0]) && isLowerHex(name[1])
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func ioErr(op string, h shardstore.Hash, err error) error {
	return errs.E(errs.Internal, "%s shard %s: %w; check the disk and the shard directory's permissions", op, h, err)
}
