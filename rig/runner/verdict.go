package runner

import (
	"fmt"
	"time"
)

// Class is the kind of result a run ends in. Every run ends in exactly one.
type Class string

// The classes, from the user's point of view.
const (
	Pass        Class = "pass"
	Setup       Class = "setup"        // bad usage, bad input, missing tool
	KernelBuild Class = "kernel-build" // the kernel did not configure or build
	ModuleBuild Class = "module-build" // the module did not compile
	Boot        Class = "boot"         // the guest did not come up
	ModuleLoad  Class = "module-load"  // insmod failed or hung, or no device
	GuestCrash  Class = "guest-crash"  // oops, panic, sanitizer report
	Contract    Class = "contract"     // a check failed, such as wrong bytes
	Channel     Class = "channel"      // the console broke off
	Infra       Class = "infra"        // QEMU died, or the host ran out
)

// Exit codes, documented in the README.
const (
	ExitPass     = 0 // the module passed
	ExitModule   = 1 // the module failed: it is the module's fault
	ExitSetup    = 2 // bad usage or setup: fix the command or the machine
	ExitNoResult = 3 // no verdict on the module: kernel build, boot, channel, infra
)

// ExitCode maps a class to the process exit code.
func (c Class) ExitCode() int {
	switch c {
	case Pass:
		return ExitPass
	case ModuleBuild, ModuleLoad, GuestCrash, Contract:
		return ExitModule
	case Setup:
		return ExitSetup
	default:
		return ExitNoResult
	}
}

// Error is a run's failure: its class and what happened.
type Error struct {
	Class Class
	// Msg says what failed and what to do next.
	Msg string
	// Excerpt is the console or build log around the failure.
	Excerpt string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Class, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Class, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func fail(c Class, err error, format string, args ...any) *Error {
	return &Error{Class: c, Msg: fmt.Sprintf(format, args...), Err: err}
}

// StageTime is how long one stage took.
type StageTime struct {
	Stage    string
	Duration time.Duration
	// Cached is true when the stage reused a cache entry.
	Cached bool
}
