// Package verdict decides how a guest run ended. Its Engine does no I/O:
// it takes typed inputs (console lines, results-port lines, the SSH
// driver's events, QMP events, QEMU's exit, the clock) and returns the
// verdict and the next deadline. The rig's drivers (rig/runner) read QEMU
// and feed it; tests replay recorded streams through it.
//
// A run passes only when every step of its plan arrived in order, each
// succeeded, and the console showed no kernel report from boot until QEMU
// exited (or a short grace after the last step). Nothing on the console is
// ever taken as a step: results come from the results port, which the
// kernel never writes to, or from the SSH driver.
package verdict

import "fmt"

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
	Channel     Class = "channel"      // a step never arrived, or the channel broke
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

// ParseClass checks a class name, as matrix cells give it.
func ParseClass(s string) (Class, error) {
	switch c := Class(s); c {
	case Pass, Setup, KernelBuild, ModuleBuild, Boot, ModuleLoad, GuestCrash, Contract, Channel, Infra:
		return c, nil
	}
	return "", fmt.Errorf("unknown result class %q", s)
}
