// Package console reads a guest's serial console: it separates the guest
// init's marker lines from kernel output, and recognises kernel crash
// reports (oops, BUG, WARNING, sanitizer reports, panics, stalls) the way
// syzkaller's pkg/report names them.
package console

import (
	"regexp"
	"strings"
	"sync"
)

// Crash is a kernel report found on the console.
type Crash struct {
	// Title names the report, such as "BUG: kernel NULL pointer
	// dereference, address: 0000000000000000".
	Title string
	// Kind is the report family, such as "BUG" or "KASAN".
	Kind string
	// Line is the console line number (1-based) where it starts.
	Line int
	// Panic is true for a kernel panic.
	Panic bool
}

type oops struct {
	kind  string
	re    *regexp.Regexp
	panic bool
}

// oopses are the report headers, most specific first. Each regexp's first
// match (or submatch 1, if present) is the title.
var oopses = []oops{
	{"KASAN", regexp.MustCompile(`KASAN: .*`), false},
	{"KFENCE", regexp.MustCompile(`KFENCE: .*`), false},
	{"KMSAN", regexp.MustCompile(`KMSAN: .*`), false},
	{"KCSAN", regexp.MustCompile(`KCSAN: .*`), false},
	{"UBSAN", regexp.MustCompile(`UBSAN: .*`), false},
	{"lockdep", regexp.MustCompile(`WARNING: (?:possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|possible irq lock inversion|lock held when returning).*`), false},
	{"lockdep", regexp.MustCompile(`INFO: (?:possible circular locking dependency|possible recursive locking|inconsistent lock state|trying to register non-static key).*`), false},
	{"soft lockup", regexp.MustCompile(`watchdog: BUG: soft lockup.*`), false},
	{"BUG", regexp.MustCompile(`\[ BUG: .*\]`), false},
	{"BUG", regexp.MustCompile(`kernel BUG at .*`), false},
	{"BUG", regexp.MustCompile(`BUG: .*`), false},
	{"WARNING", regexp.MustCompile(`WARNING: .*`), false},
	{"GPF", regexp.MustCompile(`general protection fault.*`), false},
	{"Oops", regexp.MustCompile(`Oops: .*`), false},
	{"Oops", regexp.MustCompile(`(?:divide error|invalid opcode|stack segment|double fault): .*`), false},
	{"Oops", regexp.MustCompile(`Unable to handle kernel .*`), false},
	{"hung task", regexp.MustCompile(`INFO: task .* blocked for more than .*`), false},
	{"RCU stall", regexp.MustCompile(`(?:INFO|rcu): .*(?:rcu_.*stall|detected stall).*`), false},
	{"corruption", regexp.MustCompile(`(?:list_add|list_del) corruption.*`), false},
	{"memory leak", regexp.MustCompile(`unreferenced object 0x.*`), false},
	{"panic", regexp.MustCompile(`Kernel panic - not syncing: .*`), true},
}

// ignored are lines that look like reports but are not.
var ignored = []*regexp.Regexp{
	// Printed while lockdep is on; not a report.
	regexp.MustCompile(`WARNING: bad unlock balance detected!$`),
}

var timestampRE = regexp.MustCompile(`^\[\s*\d+\.\d+\]\s?`)

// StripTimestamp removes a printk timestamp.
func StripTimestamp(line string) string {
	return timestampRE.ReplaceAllString(line, "")
}

// Match reports whether a kernel line starts a crash report.
func Match(line string) (Crash, bool) {
	text := StripTimestamp(line)
	for _, ig := range ignored {
		if ig.MatchString(text) {
			return Crash{}, false
		}
	}
	for _, o := range oopses {
		if m := o.re.FindString(text); m != "" {
			return Crash{Title: strings.TrimSpace(m), Kind: o.kind, Panic: o.panic}, true
		}
	}
	return Crash{}, false
}

// Log accumulates a console, line by line. It is safe for concurrent use:
// QEMU's reader adds lines while the rig reads them.
type Log struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
}

// NewLog returns an empty log.
func NewLog() *Log {
	return &Log{notify: make(chan struct{}, 1)}
}

// Add records one console line. It never blocks.
func (l *Log) Add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// Notify receives a value after lines were added.
func (l *Log) Notify() <-chan struct{} { return l.notify }

// Since returns the lines from index i (0-based) on.
func (l *Log) Since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i >= len(l.lines) {
		return nil
	}
	return append([]string(nil), l.lines[i:]...)
}

// Excerpt returns the console around line n (1-based): before lines ahead
// of it and up to after lines from it.
func (l *Log) Excerpt(n, before, after int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lo := max(0, n-1-before)
	hi := min(len(l.lines), n-1+after)
	if lo >= hi {
		return ""
	}
	return strings.Join(l.lines[lo:hi], "\n")
}

// Tail returns the last n lines.
func (l *Log) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}
