// Command modctl loads and unloads the module under test, and bounds the
// guest programs, for the rig's SSH channel, where no init enforces the
// deadlines:
//
//	modctl load PATH TIMEOUT [PARAMS]  finit_module, giving up after TIMEOUT
//	modctl unload PATH TIMEOUT         delete_module by the module's own name
//	modctl wait TIMEOUT DEVICE...      make or wait for the device nodes (wire.Device's specs)
//	modctl run TIMEOUT CMD [ARGS...]   run CMD, killing its process group after TIMEOUT
//	modctl gcov DIR                    print the .gcda files under DIR as JSON
//
// The rig and modctl share these commands through wire.Modctl.
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

	"github.com/mmaprig/mmaprig/guest/devnode"
	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/internal/proc"
	"github.com/mmaprig/mmaprig/internal/wire"
)

func main() {
	m, err := wire.ParseModctl(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "modctl: %v\n", err)
		os.Exit(2)
	}
	os.Exit(do(m))
}

// do runs one command, and returns modctl's exit status.
func do(m wire.Modctl) int {
	var err error
	switch m.Verb {
	case wire.ModctlRun:
		return run(m.Timeout, m.Command)
	case wire.ModctlGcov:
		var files []wire.File
		if files, err = kmod.Coverage(m.Path); err == nil {
			err = json.NewEncoder(os.Stdout).Encode(files)
		}
	case wire.ModctlSections:
		var mods []wire.ModuleSections
		if mods, err = kmod.Sections(m.Names); err == nil {
			err = json.NewEncoder(os.Stdout).Encode(mods)
		}
	case wire.ModctlLoad:
		err = kmod.Load(m.Path, m.Params, m.Timeout, nil)
	case wire.ModctlUnload:
		err = kmod.UnloadFile(m.Path, m.Timeout, nil)
	case wire.ModctlWait:
		var devs []wire.Device
		if devs, err = wire.ParseDevices(m.Devices); err == nil {
			err = devnode.Step(devs, m.Timeout)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "modctl: %v\n", err)
		if errors.Is(err, kmod.ErrTimeout) {
			return 124
		}
		return 1
	}
	return 0
}

// unkillable is how long a program may outlive its SIGKILL (proc.Run).
const unkillable = 2 * time.Second

// run runs argv with a deadline, passing its stdio through.
func run(d time.Duration, argv []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := proc.Command(ctx, 0, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := proc.Run(ctx, cmd, unkillable, nil)
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
