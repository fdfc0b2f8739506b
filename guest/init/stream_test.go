package main

import (
	"slices"
	"testing"
	"time"
)

// A stream hands out each complete line once, as the program writes it,
// without blocking when there is none, and keeps the whole output.
func TestStream(t *testing.T) {
	s, w, err := newStream("contract")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got := s.drain(); got != nil {
		t.Errorf("an empty pipe: %q", got)
	}
	w.WriteString("KTAP version 1\n# case start a")
	s.wait(time.Second)
	if got := s.drain(); !slices.Equal(got, []string{"KTAP version 1"}) {
		t.Errorf("first drain: %q", got)
	}
	w.WriteString("\nok 1 a\n")
	w.Close()
	s.wait(time.Second)
	if got := s.drain(); !slices.Equal(got, []string{"# case start a", "ok 1 a"}) {
		t.Errorf("second drain: %q", got)
	}
	if got := s.out.String(); got != "KTAP version 1\n# case start a\nok 1 a\n" {
		t.Errorf("kept %q", got)
	}
}
