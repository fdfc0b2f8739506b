package main

import (
	"sync"
	"time"
)

// hostClock is the rig's clock as its ticks (wire.Request.HostMS) tell
// it, for a guest whose own clock skips its idle time
// (wire.Config.HostClock). Such a clock jumps ahead while the guest
// sleeps and may fall behind the host's while it works, so each of the
// init's bounds ends at whichever clock reaches it first: a step that
// sleeps past its bound is cut as soon as the guest idles, and one that
// spins is cut at its bound in the host's time, as the person who set it
// meant, and before the host's own deadline (the bound and its slack)
// gives up on a guest that stopped answering.
type hostClock struct {
	mu      sync.Mutex
	waiters map[*hostWait]struct{}
}

// hostWait is one bound waiting on both clocks.
type hostWait struct {
	d time.Duration
	// start is the host's time at the first tick after the wait began;
	// until that tick it is unset.
	start   time.Duration
	started bool
	c       chan time.Time
}

func newHostClock() *hostClock {
	return &hostClock{waiters: map[*hostWait]struct{}{}}
}

// After is a proc.After: its channel gets the time once d passed on the
// guest's clock or on the host's. The host's count starts at its first
// tick after the call, so it never ends early, and at most a tick late.
// On a nil clock it is time.After.
func (h *hostClock) After(d time.Duration) <-chan time.Time {
	if h == nil {
		return time.After(d)
	}
	w := &hostWait{d: d, c: make(chan time.Time, 1)}
	h.mu.Lock()
	h.waiters[w] = struct{}{}
	h.mu.Unlock()
	time.AfterFunc(d, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.fireLocked(w)
	})
	return w.c
}

// tick takes the host's time, and ends the waits it passed.
func (h *hostClock) tick(now time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.waiters {
		switch {
		case !w.started:
			w.start, w.started = now, true
		case now-w.start >= w.d:
			h.fireLocked(w)
		}
	}
}

// fireLocked ends w, once.
func (h *hostClock) fireLocked(w *hostWait) {
	if _, ok := h.waiters[w]; !ok {
		return
	}
	delete(h.waiters, w)
	w.c <- time.Now()
}
