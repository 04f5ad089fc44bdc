package compute

import "sync"

// logRing is a deployment's log: the last max bytes its functions wrote to
// stderr, with a counter of every byte ever written so that a follower can
// ask for what came after what it has.
type logRing struct {
	max int

	mu     sync.Mutex
	buf    []byte
	total  int64         // bytes ever written; buf holds the last len(buf)
	notify chan struct{} // closed, and replaced, at each write
}

func newLogRing(max int) *logRing { return &logRing{max: max, notify: make(chan struct{})} }

// Write appends p, dropping the oldest bytes past max. It never fails.
func (l *logRing) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - l.max; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	l.total += int64(len(p))
	close(l.notify)
	l.notify = make(chan struct{})
	return len(p), nil
}

// since returns a copy of the bytes written after offset (or all that are
// kept, if some of those were dropped), the offset to ask from next, and a
// channel closed at the next write.
func (l *logRing) since(offset int64) ([]byte, int64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.total - int64(len(l.buf))
	offset = max(offset, first)
	return append([]byte(nil), l.buf[offset-first:]...), l.total, l.notify
}
