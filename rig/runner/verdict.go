package runner

import (
	"fmt"
	"time"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// Error is a run's failure: its class and what happened.
type Error struct {
	Class verdict.Class
	// Title names the failure in a few stable words.
	Title string
	// Msg says what failed and what to do next.
	Msg string
	// Excerpt is the console or build log around the failure.
	Excerpt string
	// Build are the build's located errors, for a module that did not
	// build.
	Build []result.Diagnostic
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Class, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Class, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func fail(c verdict.Class, err error, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Class: c, Title: msg, Msg: msg, Err: err}
}

// StageTime is how long one stage took.
type StageTime struct {
	Stage    string
	Duration time.Duration
	// Cached is true when the stage reused a cache entry.
	Cached bool
	// Failed is true for the stage the run failed in.
	Failed bool
}
