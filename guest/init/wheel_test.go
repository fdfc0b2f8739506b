package main

import (
	"testing"
	"time"
)

func TestWheelSleep(t *testing.T) {
	for _, d := range []time.Duration{0, 30 * time.Millisecond, 120 * time.Millisecond} {
		start := time.Now()
		if err := wheelSleep(d); err != nil {
			t.Fatalf("wheelSleep(%v): %v", d, err)
		}
		if got := time.Since(start); got < d {
			t.Errorf("wheelSleep(%v) returned after %v", d, got)
		}
	}
}
