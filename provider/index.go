package provider

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/stratus-cloud/stratus/errs"
	"github.com/stratus-cloud/stratus/identity"
	"github.com/stratus-cloud/stratus/shardstore"
)

// index records who stored which shard, in a Pebble database: one key per
// claim, "o" hash consumer, whose value is the time of the consumer's last
// put of the shard (Unix nanoseconds) and the shard's size, both big-endian
// uint64. Every write is synced, so a claim the API confirmed survives a
// crash.
type index struct {
	db *pebble.DB
}

// claim is one consumer's hold on one shard.
type claim struct {
	Consumer identity.Address
	PutAt    time.Time
	Size     int64
}

const prefClaim = 'o'

func openIndex(dir string) (*index, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{}})
	if err != nil {
		return nil, errs.E(errs.Conflict, "cannot open the shard index in %s: %v (is another process serving this provider's folder?)", dir, err)
	}
	return &index{db: db}, nil
}

func (x *index) close() error { return x.db.Close() }

func claimKey(h shardstore.Hash, consumer identity.Address) []byte {
	k := make([]byte, 0, 1+len(h)+len(consumer))
	k = append(k, prefClaim)
	k = append(k, h[:]...)
	return append(k, consumer[:]...)
}

func decodeClaim(k, v []byte) (shardstore.Hash, claim, error) {
	var (
		h shardstore.Hash
		c claim
	)
	if len(k) != 1+len(h)+len(c.Consumer) || len(v) != 16 {
		return h, c, errs.E(errs.Internal, "the shard index holds a malformed entry %x: remove the provider's meta folder and let the collector rebuild from the shards", k)
	}
	copy(h[:], k[1:])
	copy(c.Consumer[:], k[1+len(h):])
	c.PutAt = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	c.Size = int64(binary.BigEndian.Uint64(v[8:]))
	return h, c, nil
}

// claims returns the claims on h.
func (x *index) claims(h shardstore.Hash) ([]claim, error) {
	lo := append([]byte{prefClaim}, h[:]...)
	var out []claim
	err := x.scan(lo, func(_ shardstore.Hash, c claim) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// get returns consumer's claim on h, if it has one.
func (x *index) get(h shardstore.Hash, consumer identity.Address) (claim, bool, error) {
	v, closer, err := x.db.Get(claimKey(h, consumer))
	if errors.Is(err, pebble.ErrNotFound) {
		return claim{}, false, nil
	}
	if err != nil {
		return claim{}, false, ioErr(err)
	}
	defer closer.Close()
	_, c, err := decodeClaim(claimKey(h, consumer), v)
	return c, err == nil, err
}

// put records consumer's claim on h, put at the given time.
func (x *index) put(h shardstore.Hash, c claim) error {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(c.PutAt.UnixNano()))
	binary.BigEndian.PutUint64(v[8:], uint64(c.Size))
	return ioErr(x.db.Set(claimKey(h, c.Consumer), v, pebble.Sync))
}

// drop removes consumer's claim on h.
func (x *index) drop(h shardstore.Hash, consumer identity.Address) error {
	return ioErr(x.db.Delete(claimKey(h, consumer), pebble.Sync))
}

// each calls fn for every claim, in hash order.
func (x *index) each(fn func(shardstore.Hash, claim) error) error {
	return x.scan([]byte{prefClaim}, fn)
}

// scan calls fn for every claim whose key starts with prefix.
func (x *index) scan(prefix []byte, fn func(shardstore.Hash, claim) error) error {
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return ioErr(err)
	}
	for it.First(); it.Valid(); it.Next() {
		h, c, err := decodeClaim(it.Key(), it.Value())
		if err == nil {
			err = fn(h, c)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return ioErr(it.Close())
}

// prefixEnd is the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func ioErr(err error) error {
	if err == nil {
		return nil
	}
	return errs.E(errs.Internal, "shard index: %w: check the provider's disk", err)
}

// pebbleLogger keeps Pebble quiet but for its errors, and turns its fatal
// errors into panics rather than exits.
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...any) {}
func (pebbleLogger) Errorf(f string, a ...any) {
	fmt.Printf("pebble: "+f+"\n", a...)
}
func (pebbleLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
