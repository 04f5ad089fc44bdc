package wagi

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/experimental"
)

// Limits bound one call. Zero fields take the defaults in DefaultLimits.
type Limits struct {
	// MemoryBytes caps the instance's linear memory. A memory.grow past it
	// fails; a module that then gives up reports ErrMemoryLimit.
	MemoryBytes uint64
	// Timeout is the wall-time budget of a call, including the wait for a
	// concurrency slot. The instance is closed when it runs out (ErrTimeout).
	Timeout time.Duration
	// MaxRequestBytes caps the request body (ErrRequestTooLarge).
	MaxRequestBytes int64
	// MaxResponseBytes caps stdout, headers included. The instance is
	// stopped as soon as it writes past it (ErrResponseTooLarge).
	MaxResponseBytes int64
	// MaxConcurrency caps the calls of one Module running at once. Extra
	// calls wait for a slot until their timeout (ErrBusy).
	MaxConcurrency int
	// MaxLogBytes caps what one call may write to stderr; the rest is dropped.
	MaxLogBytes int64
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{
	MemoryBytes:      64 << 20,
	Timeout:          5 * time.Second,
	MaxRequestBytes:  1 << 20,
	MaxResponseBytes: 4 << 20,
	MaxConcurrency:   8,
	MaxLogBytes:      64 << 10,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxResponseBytes <= 0 {
		l.MaxResponseBytes = d.MaxResponseBytes
	}
	if l.MaxConcurrency <= 0 {
		l.MaxConcurrency = d.MaxConcurrency
	}
	if l.MaxLogBytes <= 0 {
		l.MaxLogBytes = d.MaxLogBytes
	}
	return l
}

// memoryMeter is an experimental.MemoryAllocator that refuses growth past a
// limit and remembers the peak size, for GB-ms billing.
type memoryMeter struct {
	limit   uint64
	peak    atomic.Uint64
	refused atomic.Bool
}

func (m *memoryMeter) Allocate(capacity, max uint64) experimental.LinearMemory {
	if capacity > m.limit {
		capacity = m.limit
	}
	return &meteredMemory{meter: m, max: max, buf: make([]byte, 0, capacity)}
}

type meteredMemory struct {
	meter *memoryMeter
	max   uint64
	buf   []byte
	used  bool
}

func (l *meteredMemory) Reallocate(size uint64) []byte {
	// The first call allocates the module's declared minimum; wazero panics
	// if it gets nil there, so Serve checks the minimum against the limit
	// before instantiating and we always honour it here.
	if l.used && (size > l.meter.limit || size > l.max) {
		l.meter.refused.Store(true)
		return nil
	}
	l.used = true
	if size <= uint64(cap(l.buf)) {
		l.buf = l.buf[:size]
	} else {
		newCap := max(size, 2*uint64(cap(l.buf)))
		newCap = min(newCap, max(l.meter.limit, size))
		nb := make([]byte, size, newCap)
		copy(nb, l.buf)
		l.buf = nb
	}
	for {
		p := l.meter.peak.Load()
		if size <= p || l.meter.peak.CompareAndSwap(p, size) {
			break
		}
	}
	return l.buf
}

func (l *meteredMemory) Free() { l.buf = nil }

// cappedWriter collects stdout up to max bytes. Past it, it calls stop once
// (which closes the instance) and fails the write.
type cappedWriter struct {
	mu   sync.Mutex
	max  int64
	buf  []byte
	over bool
	stop func()
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.over {
		return 0, io.ErrShortWrite
	}
	if int64(len(w.buf))+int64(len(p)) > w.max {
		w.over = true
		if w.stop != nil {
			w.stop()
		}
		return 0, io.ErrShortWrite
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *cappedWriter) reset(max int64, stop func()) {
	w.mu.Lock()
	w.max, w.buf, w.over, w.stop = max, w.buf[:0], false, stop
	w.mu.Unlock()
}

// logWriter forwards up to max bytes of one call's stderr to out, then drops
// the rest with a single marker. Writes never fail, so a chatty function
// cannot break itself by logging.
type logWriter struct {
	mu      sync.Mutex
	out     io.Writer
	left    int64
	dropped bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out == nil {
		return len(p), nil
	}
	n := int64(len(p))
	if n <= w.left {
		w.out.Write(p)
		w.left -= n
	} else {
		if w.left > 0 {
			w.out.Write(p[:w.left])
			w.left = 0
		}
		if !w.dropped {
			w.dropped = true
			io.WriteString(w.out, "\n[stratus: log output truncated]\n")
		}
	}
	return len(p), nil
}

func (w *logWriter) reset(out io.Writer, max int64) {
	w.mu.Lock()
	w.out, w.left, w.dropped = out, max, false
	w.mu.Unlock()
}

// gate is a counting semaphore whose size may change from one acquire to the next.
type gate struct {
	mu     sync.Mutex
	active int
	wake   chan struct{}
}

func (g *gate) acquire(ctx context.Context, size int) error {
	for {
		g.mu.Lock()
		if g.active < size {
			g.active++
			g.mu.Unlock()
			return nil
		}
		if g.wake == nil {
			g.wake = make(chan struct{})
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) release() {
	g.mu.Lock()
	g.active--
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
	}
	g.mu.Unlock()
}

// LogBuffer is a bounded, concurrency-safe io.Writer that keeps the last Max
// bytes written: a deployment's log sink for stderr. The zero value keeps 1 MiB.
type LogBuffer struct {
	Max int
	mu  sync.Mutex
	buf []byte
}

// Write appends p, dropping the oldest bytes past Max. It never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	limit := b.Max
	if limit <= 0 {
		limit = 1 << 20
	}
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns the bytes kept.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
