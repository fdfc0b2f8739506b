// Command modctl loads and unloads the module under test, and bounds the
// guest programs, for the rig's SSH channel, where no init enforces the
// deadlines:
//
//	modctl load PATH TIMEOUT [PARAMS]  finit_module, giving up after TIMEOUT
//	modctl unload PATH TIMEOUT         delete_module by the module's own name
//	modctl wait NODE TIMEOUT           wait for a device node
//	modctl run TIMEOUT CMD [ARGS...]   run CMD, killing its process group after TIMEOUT
//	modctl gcov DIR                    print the .gcda files under DIR as JSON
//
// It exits 0 on success, 1 on failure, 2 on bad usage, 124 on a timeout;
// run exits with CMD's status, or dies by the signal that killed CMD.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/internal/proc"
)

const usage = "usage: modctl load PATH TIMEOUT [PARAMS] | unload PATH TIMEOUT | wait NODE TIMEOUT | run TIMEOUT CMD [ARGS...] | gcov DIR"

func main() {
	if len(os.Args) < 3 || len(os.Args) < 4 && os.Args[1] != "gcov" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if os.Args[1] == "run" {
		os.Exit(run(os.Args[2], os.Args[3:]))
	}
	if os.Args[1] == "gcov" {
		files, err := kmod.Coverage(os.Args[2])
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(files)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "modctl: %v\n", err)
			os.Exit(1)
		}
		return
	}
	arg := os.Args[2]
	timeout, err := time.ParseDuration(os.Args[3])
	if err != nil {
		fmt.Fprintf(os.Stderr, "modctl: bad timeout: %v\n", err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "load":
		params := ""
		if len(os.Args) > 4 {
			params = os.Args[4]
		}
		err = kmod.Load(arg, params, timeout)
	case "unload":
		err = kmod.UnloadFile(arg, timeout)
	case "wait":
		err = kmod.WaitNode(arg, timeout)
	default:
		fmt.Fprintf(os.Stderr, "modctl: unknown command %q\n%s\n", os.Args[1], usage)
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

// unkillable is how long a program may outlive its SIGKILL (proc.Run).
const unkillable = 2 * time.Second

// run runs argv with a deadline, passing its stdio through.
func run(timeout string, argv []string) int {
	d, err := time.ParseDuration(timeout)
	if err != nil || len(argv) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := proc.Command(ctx, 0, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = proc.Run(ctx, cmd, unkillable)
	switch {
	case errors.Is(err, proc.ErrUnkillable):
		fmt.Fprintf(os.Stderr, "modctl: %s did not finish within %v, and SIGKILL did not end it within %v: it is stuck in the kernel (an uninterruptible sleep, or a loop that never yields)\n",
			argv[0], d, unkillable)
		return 124
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
