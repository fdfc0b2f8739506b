package wire

import (
	"bytes"
	"sync"
)

// Capped keeps the first MaxOutput bytes written to it, on either end of
// the channel, so that a program that floods its output costs neither side
// more than that. It is safe to read while a writer may still write.
type Capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	cut bool
}

// Write keeps what fits and drops the rest, and never fails.
func (c *Capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := MaxOutput - c.buf.Len(); room < len(p) {
		c.cut = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// Bytes returns a copy of what was kept.
func (c *Capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// String returns what was kept.
func (c *Capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Truncated reports whether anything was dropped.
func (c *Capped) Truncated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}
