package main

import (
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is the progress bar of one transfer, on stderr. It is a no-op
// unless stderr is a terminal and the output is text: scripts and JSON
// readers get no control characters.
//
// It is also the writer for the warnings logged during the transfer, so
// that a warning clears the bar rather than being printed into it.
type progress struct {
	desc string
	on   bool

	mu  sync.Mutex
	bar *progressbar.ProgressBar // made on the first update, when the total is known
}

// newProgress returns the progress of a transfer described as desc
// ("put", "get").
func (g *globals) newProgress(desc string) *progress {
	return &progress{desc: desc, on: g.output == "text" && term.IsTerminal(int(os.Stderr.Fd()))}
}

// update is a storeclient Progress callback: done of total bytes.
func (p *progress) update(done, total int64) {
	if !p.on || total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	_ = p.bar.Set64(done)
}

// callback returns update, or nil when there is no bar, so the client does
// not call it for nothing.
func (p *progress) callback() func(done, total int64) {
	if !p.on {
		return nil
	}
	return p.update
}

// done removes the bar from the terminal.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
		_ = p.bar.Exit()
		p.bar = nil
	}
}

// Write writes a log line to stderr below a cleared bar; the next update
// draws the bar again.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	return os.Stderr.Write(b)
}
