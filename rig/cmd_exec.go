package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func execCmd() command {
	return command{
		name:     "exec",
		synopsis: "[flags] -- COMMAND [ARGS...]",
		summary:  "boot, run COMMAND in the guest over SSH, and exit as it did",
		about:    "Boots the machine with the module loaded, runs COMMAND in the guest over SSH, prints what it printed, and exits with its exit code, or 128+N when signal N killed it.",
		groups:   append(machineGroups(), deadlineFlags(), programFlags(), jsonFlags()),
		argv:     true,
		run:      runExec,
	}
}

// runExec runs the command in the guest, prints what it printed, and exits
// as it did; when it did not run, it prints the failure as rig run does.
func runExec(ctx context.Context, e env) int {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	e.opts.Channel, e.opts.Exec = wire.ChannelSSH, e.cfg.argv
	res, ok := runOnce(ctx, e)
	if !ok {
		return verdict.ExitSetup
	}
	if res.Exec == nil || (res.Class != verdict.Pass && res.Class != verdict.Contract) {
		printResult(e.stdout, res, e.opts)
		return res.Class.ExitCode()
	}
	for _, l := range res.Output {
		fmt.Fprintln(e.stdout, l)
	}
	fmt.Fprint(e.stderr, res.Exec.Stderr)
	if res.Exec.Error != "" {
		fmt.Fprintf(e.stderr, "rig: %s: %s\n", strings.Join(e.cfg.argv, " "), res.Exec.Error)
	}
	return execExit(res.Exec)
}

// execExit is the exit status of a shell whose command ended as x did: its
// exit code, or 128+N when signal N killed it. A signal the rig cannot
// number exits 255, as ssh does when it cannot say.
func execExit(x *result.Exec) int {
	if x.Signal == "" && x.Exit >= 0 {
		return x.Exit
	}
	if n, ok := signalNumber(x.Signal); ok {
		return 128 + n
	}
	return 255
}

// signalNumber numbers a signal by its name as SSH reports it ("KILL", or
// "31@openssh.com" for one without a name), as Go's unix package names it
// ("SIGKILL"), or as Go's syscall.Signal prints it ("killed").
func signalNumber(name string) (int, bool) {
	if n, ok := strings.CutSuffix(name, "@openssh.com"); ok {
		i, err := strconv.Atoi(n)
		return i, err == nil && i > 0
	}
	if s := unix.SignalNum("SIG" + strings.TrimPrefix(name, "SIG")); s != 0 {
		return int(s), true
	}
	for s := syscall.Signal(1); s < 65; s++ {
		if s.String() == name {
			return int(s), true
		}
	}
	return 0, false
}
