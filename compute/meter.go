package compute

import (
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/wagi"
)

// meter counts one deployment's calls, MiB-ms and concurrency over a
// report window.
type meter struct {
	mu       sync.Mutex
	calls    uint64
	mibMs    uint64
	inflight int64
	peak     int64
	area     float64 // in-flight calls × nanoseconds since start
	last     time.Time
	start    time.Time // of the window
}

// advance adds the in-flight area up to now. m.mu is held.
func (m *meter) advance(now time.Time) {
	if m.start.IsZero() {
		m.start, m.last = now, now
	}
	m.area += float64(m.inflight) * float64(now.Sub(m.last))
	m.last = now
}

// enter counts a call in flight, from its arrival (waiting for a slot
// included) until leave.
func (m *meter) enter() {
	m.mu.Lock()
	m.advance(time.Now())
	m.inflight++
	m.peak = max(m.peak, m.inflight)
	m.mu.Unlock()
}

func (m *meter) leave() {
	m.mu.Lock()
	m.advance(time.Now())
	m.inflight--
	m.mu.Unlock()
}

// record counts a call that ran: one call, and the memory limit in MiB
// (rounded up) times its wall time in ms (rounded up, at least 1, at most
// the timeout: a call the deadline closed is billed its timeout, as the
// ledger's bound on a report allows).
func (m *meter) record(u wagi.Usage, memoryBytes uint64, timeout time.Duration) {
	mib := (memoryBytes + 1<<20 - 1) >> 20
	ms := uint64((u.Wall + time.Millisecond - 1) / time.Millisecond)
	if lim := uint64(timeout / time.Millisecond); lim > 0 {
		ms = min(ms, lim)
	}
	m.mu.Lock()
	m.calls++
	m.mibMs += mib * max(ms, 1)
	m.mu.Unlock()
}

// window is what a meter counted since the last take.
type window struct {
	calls, mibMs uint64
	avg, peak    uint32
}

func (w window) idle() bool { return w.calls == 0 && w.peak == 0 }

// take returns the window's counts and starts a new window. With counts
// false, it returns and resets only the concurrency, leaving the calls and
// MiB-ms for a later window. The average concurrency is rounded up, so a
// window with any call in flight reports at least 1.
func (m *meter) take(counts bool) window {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.advance(now)
	var w window
	if counts {
		w.calls, w.mibMs = m.calls, m.mibMs
		m.calls, m.mibMs = 0, 0
	}
	if d := now.Sub(m.start); d > 0 {
		avg := m.area / float64(d)
		w.avg = uint32(avg)
		if float64(w.avg) < avg-1e-9 {
			w.avg++
		}
	}
	w.peak = uint32(m.peak)
	w.avg = min(w.avg, w.peak)
	m.area, m.start, m.peak = 0, now, m.inflight
	return w
}

// takeCounts returns the calls and MiB-ms counted since the last take and
// zeroes them, leaving the concurrency window as it is: for saving them to
// disk between reports.
func (m *meter) takeCounts() (calls, mibMs uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	calls, mibMs = m.calls, m.mibMs
	m.calls, m.mibMs = 0, 0
	return calls, mibMs
}

// putBack returns counts taken for a report that was never numbered.
func (m *meter) putBack(w window) {
	m.mu.Lock()
	m.calls += w.calls
	m.mibMs += w.mibMs
	m.mu.Unlock()
}
