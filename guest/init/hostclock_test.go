package main

import (
	"testing"
	"time"
)

// A bound ends at whichever clock reaches it first: the guest's own timer,
// or the host's ticks, counted from the first tick after the bound began.
func TestHostClock(t *testing.T) {
	t.Run("the guest's clock first", func(t *testing.T) {
		h := newHostClock()
		select {
		case <-h.After(10 * time.Millisecond):
		case <-time.After(10 * time.Second):
			t.Fatal("a 10ms bound with no host ticks did not end on the guest's clock")
		}
	})
	t.Run("the host's clock first", func(t *testing.T) {
		h := newHostClock()
		h.tick(1 * time.Second) // before the bound: no count
		c := h.After(time.Minute)
		h.tick(5 * time.Second) // the count starts here
		h.tick(64 * time.Second)
		select {
		case <-c:
			t.Fatal("the bound ended 59s into a 60s-long one on the host's clock")
		default:
		}
		h.tick(65 * time.Second)
		select {
		case <-c:
		default:
			t.Fatal("the bound did not end when the host's clock passed it")
		}
		h.tick(125 * time.Second) // a second end is no end: the channel holds one
		if len(c) != 0 {
			t.Error("the bound ended twice")
		}
	})
	t.Run("a bound of a minute", func(t *testing.T) {
		h := newHostClock()
		c := h.After(time.Minute)
		h.tick(time.Second)
		h.tick(61 * time.Second)
		if len(c) != 1 {
			t.Fatal("a 60s bound did not end 60s of host time after its first tick")
		}
		if len(h.waiters) != 0 {
			t.Errorf("%d waits left after the bound ended", len(h.waiters))
		}
	})
	t.Run("no host clock", func(t *testing.T) {
		var h *hostClock
		select {
		case <-h.After(time.Millisecond):
		case <-time.After(10 * time.Second):
			t.Fatal("a nil clock's bound did not end")
		}
	})
}
