// Package proc runs commands in their own process group, so that
// cancelling one also stops everything it started: make's compilers, QEMU,
// or a guest program's children.
package proc

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Command is exec.CommandContext for a process group: when ctx ends, the
// whole group gets SIGTERM, then SIGKILL after grace (at once, for a grace
// of 0). The command also dies with its parent.
func Command(ctx context.Context, grace time.Duration, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		if grace <= 0 {
			return syscall.Kill(-pid, syscall.SIGKILL)
		}
		err := syscall.Kill(-pid, syscall.SIGTERM)
		time.AfterFunc(grace, func() { syscall.Kill(-pid, syscall.SIGKILL) })
		return err
	}
	cmd.WaitDelay = grace + time.Second
	return cmd
}

// KillGroup sends SIGKILL to the process group that cmd leads, if it was
// started. It is a last resort for deferred cleanup.
func KillGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// ErrUnkillable is Run's error for a program that outlived its SIGKILL.
var ErrUnkillable = errors.New("the program outlived its SIGKILL")

// After is a timer, as time.After is; nil means time.After. The guest
// init's ends at the host's clock too, when the guest's own clock skips
// its idle time and may run behind the host's.
type After func(time.Duration) <-chan time.Time

// Timer is after, or time.After when it is nil.
func (after After) Timer(d time.Duration) <-chan time.Time {
	if after == nil {
		return time.After(d)
	}
	return after(d)
}

// Run starts cmd, from Command, and waits for it, but no longer than
// unkillable past the end of ctx, which kills it; after times that wait. A task in an
// uninterruptible sleep (state D) in a kernel module's code is never
// reaped: waiting for it would leave its caller silent until someone
// else's deadline. The goroutine that waits for such a program is left
// behind, so Run suits programs whose caller ends soon after.
func Run(ctx context.Context, cmd *exec.Cmd, unkillable time.Duration, after After) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-after.Timer(unkillable):
		return ErrUnkillable
	}
}
