package lint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// errTimedOut is a program that ran out of its time limit.
var errTimedOut = errors.New("timed out")

// run runs a program in dir, for at most limit when limit is not zero, and
// returns what it printed. The program gets its own process group, and
// cancelling ctx kills the whole group, so that make's compilers and
// sparse stop with it. A program that runs out of time fails with an error
// that wraps errTimedOut.
func run(ctx context.Context, log *slog.Logger, limit time.Duration, dir, name string, args ...string) (stdout, stderr string, err error) {
	parent := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
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
	switch {
	case parent.Err() != nil:
		err = parent.Err()
	case ctx.Err() != nil:
		err = fmt.Errorf("%s %w after %v", filepath.Base(name), errTimedOut, limit)
	}
	return o.String(), e.String(), err
}
