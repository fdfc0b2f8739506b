// Package proc runs host commands in their own process group, so that
// cancelling one also stops everything it started: make's compilers, or
// QEMU's helpers.
package proc

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Command is exec.CommandContext for a process group: when ctx ends, the
// whole group gets SIGTERM, then SIGKILL after grace.
func Command(ctx context.Context, grace time.Duration, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		go func(pid int) {
			time.Sleep(grace)
			syscall.Kill(-pid, syscall.SIGKILL)
		}(cmd.Process.Pid)
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

// Quote renders argv as one POSIX shell command line, quoting where needed,
// so that it can be pasted into a shell or sent as an SSH exec request.
func Quote(argv ...string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = quote(a)
	}
	return strings.Join(parts, " ")
}

func quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
