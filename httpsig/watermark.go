package httpsig

import (
	"context"
	"os"
	"time"

	"strconv"
	"strings"
	"sync"

	"github.com/stratus-cloud/stratus/errs"
)

// A Watermark keeps, in a file, the latest created second of the
// signatures a server accepted. A Verifier with a Watermark refuses every
// signature created no later than what the file held when it was opened,
// so a request accepted before a restart (even one dated ahead by clock
// skew) cannot be replayed after it, although the nonces it remembered are
// gone. The file is written before a newer second is accepted, at most once
// per second. Create one with OpenWatermark.
type Watermark struct {
	path  string
	floor int64 // refused at or below: the previous runs' latest

	mu    sync.Mutex
	saved int64 // the latest second in the file
}

// OpenWatermark reads the watermark file at path, which need not exist yet.
// It returns an error of kind Internal if the file cannot be read or holds
// something else.
func OpenWatermark(path string) (*Watermark, error) {
	w := &Watermark{path: path}
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return w, nil
	case err != nil:
		return nil, errs.E(errs.Internal, "reading the signature watermark %s: %v", path, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v < 0 {
		return nil, errs.E(errs.Internal, "the signature watermark %s holds %q, not Unix seconds: remove it only if this server has been stopped for longer than its signatures' window", path, strings.TrimSpace(string(b)))
	}
	w.floor, w.saved = v, v
	return w, nil
}

// Floor returns the second at or before which signatures are refused.
func (w *Watermark) Floor() int64 { return w.floor }

// advance saves created as the latest accepted second if it is later than
// the saved one. It returns an error of kind Unavailable if the file cannot
// be written, so the request is refused rather than left replayable.
func (w *Watermark) advance(created int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if created <= w.saved {
		return nil
	}
	// Synced, so that it survives a power cut as well as a kill -9: it is
	// written at most once a second.
	tmp := w.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return errs.E(errs.Unavailable, "saving the signature watermark: %v", err)
	}
	_, err = f.WriteString(strconv.FormatInt(created, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		return errs.E(errs.Unavailable, "saving the signature watermark: %v", err)
	}
	w.saved = created
	return nil
}

// WaitReady waits until the wall clock is past the second at or before
// which signatures are refused, so that the requests an honest client signs
// once the server is up are accepted. It returns at once when the clock is
// already past it or when it is more than a minute ahead (a clock set back:
// the clients' signatures are refused until then, with an error saying so),
// and ctx's error if ctx ends first.
func (w *Watermark) WaitReady(ctx context.Context) error {
	d := time.Until(time.Unix(w.floor+1, 0))
	if d <= 0 || d > time.Minute {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
