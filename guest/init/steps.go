package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mmaprig/mmaprig/guest/armtrace"
	"github.com/mmaprig/mmaprig/guest/devnode"
	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/internal/proc"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// runAll runs the serial channel's steps. After a failed load or a missing
// device nothing else can run; a failed program does not stop the next.
func runAll(p *port, cfg wire.Config) {
	ev := step(wire.EvInsmod, strings.Join(cfg.Modules, " "), func() error {
		return loadAll(cfg, p.clock.After)
	})
	p.emit(ev)
	if !ev.OK {
		return
	}
	if len(cfg.Debug) > 0 {
		if err := reportSections(p, cfg); err != nil {
			logf(os.Stdout, "%v", err)
			return
		}
	}
	ev = step(wire.EvDevice, strings.Join(wire.DeviceSpecs(cfg.Devices), " "), func() error {
		return devnode.Step(cfg.Devices, ms(cfg.DeviceTimeoutMS))
	})
	p.emit(ev)
	if !ev.OK {
		return
	}
	for _, prog := range cfg.Programs {
		p.emit(run(p, prog, append(os.Environ(), cfg.ProgramEnv(prog)...)))
	}
	if cfg.Unload {
		p.emit(step(wire.EvUnload, strings.Join(cfg.Modules, " "), func() error {
			return unloadAll(cfg, p.clock.After)
		}))
	}
	if cfg.Coverage {
		var files []wire.File
		ev := step(wire.EvCoverage, wire.GcovDir, func() (err error) {
			files, err = kmod.Coverage(wire.GcovDir)
			return err
		})
		ev.Files = files
		p.emit(ev)
	}
}

// loadAll loads the modules in order, the parameters going to the last,
// the module under test; each load has the load deadline, timed by after.
func loadAll(cfg wire.Config, after proc.After) error {
	for i, m := range cfg.Modules {
		params := ""
		if i == len(cfg.Modules)-1 {
			params = cfg.Params
		}
		if err := kmod.Load(m, params, ms(cfg.LoadTimeoutMS), after); err != nil {
			return err
		}
	}
	return nil
}

// unloadAll unloads the modules in the reverse of their load order, the
// module under test first, so that no module goes while another uses it;
// after times each one's deadline.
func unloadAll(cfg wire.Config, after proc.After) error {
	for i := len(cfg.Modules) - 1; i >= 0; i-- {
		if err := kmod.UnloadFile(cfg.Modules[i], ms(cfg.UnloadTimeoutMS), after); err != nil {
			return err
		}
	}
	return nil
}

// settle keeps watching the kernel for the run's settle window after its
// last step, so that a timer or work that the module left armed at unload
// fires, and fails the run, before the guest powers off; or for a short
// window, when tr shows that the modules, gone, never armed anything to
// run later (earlySettle). The event carries the taint mask at its end,
// and says which window it kept and why.
func settle(p *port, cfg wire.Config, tr *armtrace.Trace) {
	if cfg.SettleMS == nil {
		return
	}
	d := ms(*cfg.SettleMS)
	why := ""
	ev := step(wire.EvSettle, d.String(), func() error {
		// The window runs from here: reading the trace takes part of it.
		start := time.Now()
		early := false
		if early, why = earlySettle(cfg, tr); early {
			d = ms(wire.SettleEarlyMS)
		}
		settleSleep(d - time.Since(start))
		if !early {
			// Work that a timer queued in the last timer run waits for
			// a worker thread: give the workers a few ticks to run it.
			// After an early window no module's timer or work is left.
			settleSleep(workerGrace)
		}
		if err := p.kernelErr(); err != nil {
			return fmt.Errorf("the kernel's log could not be watched: %w", err)
		}
		return nil
	})
	if why != "" {
		ev.Cmd = wire.Settled(d, why)
	}
	p.emit(ev)
}

// settleSleep sleeps on the timer wheel, or on an hrtimer if the wheel's
// sleep cannot be set up, saying so on the console.
func settleSleep(d time.Duration) {
	if err := wheelSleep(d); err != nil {
		logf(os.Stdout, "settle: %v; sleeping on an hrtimer instead", err)
		time.Sleep(d)
	}
}

// workerGrace follows the settle window, for the work that a timer due in
// the window queued (delayed work) to run in its worker.
const workerGrace = 50 * time.Millisecond

// step times fn and reports it as event name.
func step(name, cmd string, fn func() error) wire.Event {
	start := time.Now()
	ev := wire.Event{Name: name, Cmd: cmd}
	if err := fn(); err != nil {
		ev.Err = err.Error()
	} else {
		ev.OK = true
	}
	ev.MS = since(start)
	return ev
}

// run runs one program in a process group of its own, killed whole at its
// deadline, and keeps at most wire.MaxOutput of each stream. Its stdout
// lines go to the rig as they come (port.follow), as well as in its event.
func run(p *port, prog wire.Program, env []string) wire.Event {
	start := time.Now()
	ev := wire.Event{Name: wire.EvRun, Cmd: prog.Cmd(), Exit: -1}
	if len(prog.Argv) == 0 {
		ev.Err = "empty command"
		return ev
	}
	out, w, err := newStream(ev.Cmd)
	if err != nil {
		ev.Err = fmt.Sprintf("%s: its stdout: %v", prog.Argv[0], err)
		return ev
	}
	timeout := ms(prog.TimeoutMS)
	ctx, cancel := bound(p.clock.After, timeout)
	defer cancel()
	var stderr wire.Capped
	cmd := proc.Command(ctx, 0, prog.Argv[0], prog.Argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, &stderr
	stop := p.follow(out)
	err = proc.Run(ctx, cmd, unkillable, p.clock.After)
	w.Close()
	stop()
	ev.MS = since(start)
	stdout := &out.out
	ev.Stdout = wire.Lines(stdout.String())
	ev.Stderr = stderr.String()
	ev.Truncated = stdout.Truncated() || stderr.Truncated()
	if errors.Is(err, proc.ErrUnkillable) {
		ev.Err = fmt.Sprintf("%s did not finish within %v, and SIGKILL did not end it within %v: it is stuck in the kernel (an uninterruptible sleep, or a loop that never yields)",
			prog.Argv[0], timeout, unkillable)
		return ev
	}
	if ps := cmd.ProcessState; ps != nil {
		ev.Exit = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ev.Signal = ws.Signal().String()
		}
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		ev.Err = fmt.Sprintf("%s did not finish within %v", prog.Argv[0], timeout)
	case errors.As(err, &ee) && ev.Signal != "":
		ev.Err = fmt.Sprintf("%s was killed by %s", prog.Argv[0], ev.Signal)
	case err != nil:
		ev.Err = err.Error()
	default:
		ev.OK = true
	}
	return ev
}

// bound is a context that ends once d passed, as after times it.
func bound(after proc.After, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-after.Timer(d):
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// unkillable is how long a program may outlive its SIGKILL (proc.Run).
// It is well inside the host's slack on each step, so a program stuck in
// the module's code is reported as the program's failure, by the guest.
const unkillable = 2 * time.Second
