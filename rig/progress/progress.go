// Package progress shows a run's stages as they go: each stage's name, time
// and summary, and live progress for the long ones.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Printer shows stages as they run: each stage's name and duration, and a
// live progress line for long ones when the output is a terminal.
type Printer struct {
	mu     *sync.Mutex
	w      io.Writer
	tty    bool
	prefix string
	// every is how often a non-terminal gets a progress line.
	every time.Duration
}

// NewPrinter writes to w; live lines are used if w is a terminal.
func NewPrinter(w io.Writer) *Printer {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Printer{mu: new(sync.Mutex), w: w, tty: tty, every: 15 * time.Second}
}

// WithPrefix returns a printer for one of several concurrent runs: its
// lines start with prefix, and progress never rewrites a line.
func (p *Printer) WithPrefix(prefix string) *Printer {
	return &Printer{mu: p.mu, w: p.w, prefix: prefix, every: p.every}
}

// Stage is one stage being timed.
type Stage struct {
	p     *Printer
	name  string
	start time.Time
	last  time.Time
	live  bool
}

// Start begins timing a stage.
func (p *Printer) Start(name string) *Stage {
	now := time.Now()
	return &Stage{p: p, name: name, start: now, last: now}
}

// Printf writes a line of its own.
func (p *Printer) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, p.prefix+format+"\n", args...)
}

// Progress shows how far the stage is: a rewritten line on a terminal, a
// new line every so often otherwise.
func (s *Stage) Progress(pct int, detail string) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	now := time.Now()
	el := now.Sub(s.start).Round(time.Second)
	if s.p.tty {
		if now.Sub(s.last) < 200*time.Millisecond {
			return
		}
		fmt.Fprintf(s.p.w, "\r\033[K  %-10s %3d%%  %s  %v", s.name, pct, detail, el)
		s.live = true
	} else {
		if now.Sub(s.last) < s.p.every {
			return
		}
		fmt.Fprintf(s.p.w, "%s  %-10s %3d%%  %s  %v\n", s.p.prefix, s.name, pct, detail, el)
	}
	s.last = now
}

// Done prints the stage's duration and a summary, and returns the time.
func (s *Stage) Done(summary string) time.Duration {
	d := time.Since(s.start)
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.live {
		fmt.Fprint(s.p.w, "\r\033[K")
	}
	fmt.Fprintf(s.p.w, "%s  %-10s %8s  %s\n", s.p.prefix, s.name, FormatDuration(d), summary)
	return d
}

// FormatDuration renders a stage time: milliseconds under a second,
// hundredths under a minute, seconds above.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}
