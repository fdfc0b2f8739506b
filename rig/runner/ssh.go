package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// driveSSH runs the plan's host steps over SSH, once the guest v is
// ready, and reports each to the engine as a Host input: what SSH returned
// is the result, and the console is never consulted. It stops at the first
// step that fails; the engine settles on it.
func (d *driver) driveSSH(ctx context.Context, v machineVM) {
	broken := func(step string, err error) {
		d.report(ctx, verdict.SSHError, fmt.Sprintf("the SSH channel failed during %s: %v", step, err))
	}
	addr, err := v.HostForward(wire.SSHPort)
	if err != nil {
		broken("the dial", err)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, wire.SSHDialTimeout)
	c, err := channel.Dial(dctx, addr, d.r.keys)
	cancel()
	if err != nil {
		broken("the dial", err)
		return
	}
	defer c.Close()
	d.r.opts.Log.Debug("ssh connected", "addr", addr)
	for _, st := range d.spec.Plan() {
		if st.Source != verdict.Host {
			continue
		}
		ev, err := d.sshStep(ctx, c, st)
		if err != nil {
			broken(st.String(), err)
			return
		}
		if !d.report(ctx, verdict.SSH, verdict.SSHEvent(ev)) || !ev.OK && (st.Program == nil || st.Program.Check != verdict.CheckExec) {
			return
		}
	}
}

// sshStep runs one step over SSH. The guest side bounds each command
// itself (modctl); the host gives it the step's slack on top, and a
// command that does not answer by then means the guest stopped answering.
func (d *driver) sshStep(ctx context.Context, c *channel.Client, st verdict.Step) (wire.Event, error) {
	cfg := d.spec.Config()
	ev := wire.Event{Name: st.Event, Exit: -1}
	var argv, env []string
	switch st.Event {
	case wire.EvInsmod:
		argv = []string{wire.CmdModctl, "load", wire.ModulePath, ms(cfg.LoadTimeoutMS).String(), cfg.Params}
		ev.Cmd = wire.ModulePath
	case wire.EvDevice:
		argv = []string{wire.CmdModctl, "wait", cfg.Device, ms(cfg.DeviceTimeoutMS).String()}
		ev.Cmd = cfg.Device
	case wire.EvUnload:
		argv = []string{wire.CmdModctl, "unload", wire.ModulePath, ms(cfg.UnloadTimeoutMS).String()}
		ev.Cmd = wire.ModulePath
	case wire.EvRun:
		p := st.Program
		argv = append([]string{wire.CmdModctl, "run", ms(p.TimeoutMS).String()}, p.Argv...)
		env = append([]string{wire.EnvDevice + "=" + cfg.Device, wire.EnvModule + "=" + wire.ModulePath, wire.EnvParams + "=" + cfg.Params}, p.Env...)
		ev.Cmd = p.Cmd()
	case wire.EvCoverage:
		argv = []string{wire.CmdModctl, "gcov", wire.GcovDir}
		ev.Cmd = wire.GcovDir
	case wire.EvShell:
		if err := shell(c); err != nil {
			ev.Err = err.Error()
		} else {
			ev.OK = true
		}
		return ev, nil
	case wire.EvEnd:
		ev.OK = true
		return ev, nil
	default:
		return ev, fmt.Errorf("internal error: no SSH command for step %s", st)
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, st.Timeout)
	defer cancel()
	res, err := c.Run(rctx, wire.Quote(argv...), env...)
	ev.MS = time.Since(start).Milliseconds()
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			err = fmt.Errorf("%s gave no answer within %v, past its own deadline", argv[0], st.Timeout)
		}
		return ev, err
	}
	ev.Exit, ev.Signal = res.Exit, res.Signal
	ev.Stdout, ev.Stderr = wire.Lines(string(res.Stdout)), string(res.Stderr)
	ev.Truncated = res.Truncated
	ev.OK = res.Exit == 0 && res.Signal == ""
	if ev.OK && st.Event == wire.EvCoverage {
		if err := json.Unmarshal(res.Stdout, &ev.Files); err != nil {
			ev.OK, ev.Err = false, fmt.Sprintf("modctl gcov printed no file list: %v", err)
		}
		ev.Stdout = nil
	}
	switch {
	case res.Signal != "":
		ev.Err = "killed by SIG" + res.Signal
	case !ev.OK:
		ev.Err = strings.TrimSpace(string(res.Stderr))
	}
	return ev, nil
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// shell connects the user's terminal to a guest shell.
func shell(c *channel.Client) error {
	fd := int(os.Stdin.Fd())
	rows, cols := 24, 80
	if term.IsTerminal(fd) {
		if w, h, err := term.GetSize(fd); err == nil {
			cols, rows = w, h
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return err
		}
		defer term.Restore(fd, old)
	}
	t := os.Getenv("TERM")
	if t == "" {
		t = "vt100"
	}
	return c.Shell(os.Stdin, os.Stdout, os.Stderr, t, rows, cols)
}
