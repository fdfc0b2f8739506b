package lint

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// run runs a program in dir and returns what it printed. The program gets
// its own process group, and cancelling ctx kills the whole group, so that
// make's compilers and sparse stop with it.
func run(ctx context.Context, log *slog.Logger, dir, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "LC_ALL=C", "PYTHONDONTWRITEBYTECODE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err = cmd.Run()
	log.Debug("lint: ran", "cmd", name+" "+strings.Join(args, " "), "dir", dir,
		"took", time.Since(start).Round(time.Millisecond), "err", err)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return o.String(), e.String(), err
}
