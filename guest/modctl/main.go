// Command modctl loads and unloads the module under test, and bounds the
// guest programs, for the rig's SSH channel, where no init enforces the
// deadlines:
//
//	modctl load PATH [TIMEOUT]        finit_module, giving up after TIMEOUT
//	modctl unload PATH                delete_module by the module's own name
//	modctl wait NODE [TIMEOUT]        wait for a device node
//	modctl run TIMEOUT CMD [ARGS...]  run CMD, killing it after TIMEOUT
//
// It exits 0 on success, 1 on failure, 2 on bad usage, 124 on a timeout;
// run exits with CMD's status.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/mmaprig/mmaprig/guest/kmod"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: modctl load|unload|wait PATH [TIMEOUT]")
		os.Exit(2)
	}
	if os.Args[1] == "run" {
		os.Exit(run(os.Args[2], os.Args[3:]))
	}
	timeout := 20 * time.Second
	if len(os.Args) > 3 {
		d, err := time.ParseDuration(os.Args[3])
		if err != nil {
			fmt.Fprintf(os.Stderr, "modctl: bad timeout: %v\n", err)
			os.Exit(2)
		}
		timeout = d
	}
	var err error
	switch arg := os.Args[2]; os.Args[1] {
	case "load":
		err = kmod.Load(arg, "", timeout)
	case "unload":
		var name string
		if name, err = kmod.Name(arg); err == nil {
			err = kmod.Unload(name)
		}
	case "wait":
		err = kmod.WaitNode(arg, timeout)
	default:
		fmt.Fprintf(os.Stderr, "modctl: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "modctl: %v\n", err)
		if errors.Is(err, kmod.ErrTimeout) {
			os.Exit(124)
		}
		os.Exit(1)
	}
}

// run runs argv with a deadline, passing its stdio through.
func run(timeout string, argv []string) int {
	d, err := time.ParseDuration(timeout)
	if err != nil || len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "usage: modctl run TIMEOUT CMD [ARGS...]")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(os.Stderr, "modctl: %s did not finish within %v\n", argv[0], d)
		return 124
	case cmd.ProcessState != nil && cmd.ProcessState.ExitCode() >= 0:
		return cmd.ProcessState.ExitCode()
	case cmd.ProcessState != nil:
		// Killed by a signal: die the same way, so sshd reports it.
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			signal.Reset(ws.Signal())
			syscall.Kill(os.Getpid(), ws.Signal())
			time.Sleep(time.Second)
		}
		return 128 + 9
	default:
		fmt.Fprintf(os.Stderr, "modctl: %s: %v\n", argv[0], err)
		return 1
	}
}
