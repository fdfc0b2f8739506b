package vm

import "sync"

// Lines is an unbounded queue of lines from one reader to one consumer. A
// reader never blocks, however slow the consumer: a guest that floods its
// console must not stall QEMU, nor lose lines.
type Lines struct {
	mu     sync.Mutex
	lines  []string
	closed bool
	notify chan struct{}
}

// NewLines returns an empty, open queue.
func NewLines() *Lines {
	return &Lines{notify: make(chan struct{}, 1)}
}

// Add appends a line.
func (l *Lines) Add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	l.wake()
}

// Close marks the end of the lines.
func (l *Lines) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wake()
}

func (l *Lines) wake() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// Notify receives a value after lines were added or the queue closed.
func (l *Lines) Notify() <-chan struct{} { return l.notify }

// Take returns the lines added since the last Take, and whether the queue
// is closed and they are the last.
func (l *Lines) Take() ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out, l.closed
}
