package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress is the progress bar of long archive scans: objects and bytes scanned, rate and ETA,
// on stderr when stderr is a terminal, and nothing otherwise (scripts and CI logs stay clean).
// It implements archive.Progress.
type progress struct {
	mu            sync.Mutex
	bar           *progressbar.ProgressBar
	objects, done int
	bytes         int64
}

// newProgress returns a progress bar on w, or nil (a no-op) when w is not a terminal.
func newProgress(w io.Writer, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	bar := progressbar.NewOptions64(0, progressbar.OptionSetWriter(w), progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetDescription(what), progressbar.OptionClearOnFinish(), progressbar.OptionSetWidth(30))
	return &progress{bar: bar}
}

// Plan adds work: objects of bytes in total.
func (p *progress) Plan(objects int, bytes int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objects += objects
	p.bytes += bytes
	p.bar.ChangeMax64(p.bytes)
	p.describe()
}

// Done records one object of n bytes scanned.
func (p *progress) Done(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.describe()
	_ = p.bar.Add64(n)
}

func (p *progress) describe() {
	p.bar.Describe(fmt.Sprintf("objects %d/%d", p.done, p.objects))
}

// finish clears the bar.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Finish()
}
