package wire

import (
	"bytes"
	"sync"
	"testing"
)

// Capped keeps exactly MaxOutput bytes of a flood, says it cut, and may be
// read while it is written.
func TestCapped(t *testing.T) {
	var c Capped
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range MaxOutput / len(chunk) {
				if n, err := c.Write(chunk); n != len(chunk) || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
				_ = c.String()
			}
		}()
	}
	wg.Wait()
	if got := len(c.Bytes()); got != MaxOutput || !c.Truncated() {
		t.Errorf("kept %d bytes, truncated %v; want %d, true", got, c.Truncated(), MaxOutput)
	}
	var small Capped
	small.Write([]byte("ok\n"))
	if small.String() != "ok\n" || small.Truncated() {
		t.Errorf("small: %q, truncated %v", small.String(), small.Truncated())
	}
}
