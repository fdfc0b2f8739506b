package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
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
		if st.Event == wire.EvInsmod && len(d.spec.Debug) > 0 && !d.sshSections(ctx, c) {
			return
		}
	}
}

// sshSections reports the loaded modules' sections (-gdb, -on-crash
// pause), as the init does on the serial channel, and for -gdb waits
// until the guest the rig stopped runs again. It is false when the run
// ended meanwhile.
func (d *driver) sshSections(ctx context.Context, c *channel.Client) bool {
	m := wire.Modctl{Verb: wire.ModctlSections, Names: d.spec.Debug}
	ev := wire.Event{Name: wire.EvSections, OK: true, Exit: -1}
	rctx, cancel := context.WithTimeout(ctx, d.spec.Slack)
	res, err := c.RunLines(rctx, wire.Quote(m.Args()...), nil)
	cancel()
	switch {
	case err != nil:
		ev.OK, ev.Err = false, err.Error()
	case res.Exit != 0:
		ev.OK, ev.Err = false, strings.TrimSpace(string(res.Stderr))
	default:
		if err := json.Unmarshal(res.Stdout, &ev.Modules); err != nil {
			ev.OK, ev.Err = false, fmt.Sprintf("modctl sections printed no sections: %v", err)
		}
	}
	if !d.report(ctx, verdict.SSH, verdict.SSHEvent(ev)) {
		return false
	}
	if !d.spec.Hold {
		return true
	}
	select {
	case <-d.release:
		return true
	case <-ctx.Done():
		return false
	}
}

// sshStep runs one step over SSH. The guest side bounds each command
// itself (modctl); the host gives it the step's slack on top, and a
// command that does not answer by then means the guest stopped answering.
func (d *driver) sshStep(ctx context.Context, c *channel.Client, st verdict.Step) (wire.Event, error) {
	ev := wire.Event{Name: st.Event, Exit: -1}
	switch st.Event {
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
	}
	cmds, env, ok := d.modctl(st)
	if !ok {
		return ev, fmt.Errorf("internal error: no SSH command for step %s", st)
	}
	ev.Cmd = cmds[0].Path
	if cmds[0].Verb == wire.ModctlWait {
		ev.Cmd = strings.Join(cmds[0].Devices, " ")
	}
	if st.Program != nil {
		ev.Cmd = st.Program.Cmd()
	} else if len(cmds) > 1 {
		ev.Cmd = strings.Join(d.spec.Config().Modules, " ")
	}
	start := time.Now()
	rctx, cancel := d.stepContext(ctx, st)
	defer cancel()
	for _, m := range cmds {
		res, err := c.RunLines(rctx, wire.Quote(m.Args()...), d.progress(ctx, st, ev.Cmd), env...)
		ev.MS = time.Since(start).Milliseconds()
		if err != nil {
			if ctx.Err() == nil && rctx.Err() != nil {
				err = fmt.Errorf("%s gave no answer within %v, past its own deadline", wire.CmdModctl, st.Timeout)
			}
			return ev, err
		}
		if sshResult(&ev, res); !ev.OK {
			break
		}
	}
	return ev, nil
}

// stepContext bounds an SSH step by the host's wall clock: the step's
// slack on top of modctl's own bound. Not in a debugged run: there gdb may
// hold the guest at a breakpoint for as long as it likes, while the wall
// clock runs on; the guest's own bound runs on its clock, which stops with
// it, and -timeout still bounds the run.
func (d *driver) stepContext(ctx context.Context, st verdict.Step) (context.Context, context.CancelFunc) {
	if len(d.spec.Debug) > 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, st.Timeout)
}

// progress, for a program's step, reports its stdout lines as they come,
// as the guest init does on the serial channel: a crash in its middle
// then names the case that ran.
func (d *driver) progress(ctx context.Context, st verdict.Step, cmd string) func([]string) {
	if st.Program == nil {
		return nil
	}
	return func(lines []string) {
		d.report(ctx, verdict.SSH, verdict.SSHEvent(wire.Event{Name: wire.EvProgress, OK: true, Exit: -1, Cmd: cmd, Stdout: lines}))
	}
}

// modctl are the modctl commands that run a step, in order, and the
// environment they run in: a step per module for the loads (in load
// order, the parameters for the module under test) and the unloads (in
// the reverse).
func (d *driver) modctl(st verdict.Step) ([]wire.Modctl, []string, bool) {
	cfg := d.spec.Config()
	var cmds []wire.Modctl
	switch st.Event {
	case wire.EvInsmod:
		for i, m := range cfg.Modules {
			c := wire.Modctl{Verb: wire.ModctlLoad, Path: m, Timeout: ms(cfg.LoadTimeoutMS)}
			if i == len(cfg.Modules)-1 {
				c.Params = cfg.Params
			}
			cmds = append(cmds, c)
		}
	case wire.EvDevice:
		cmds = append(cmds, wire.Modctl{Verb: wire.ModctlWait, Devices: wire.DeviceSpecs(cfg.Devices), Timeout: ms(cfg.DeviceTimeoutMS)})
	case wire.EvUnload:
		for _, m := range slices.Backward(cfg.Modules) {
			cmds = append(cmds, wire.Modctl{Verb: wire.ModctlUnload, Path: m, Timeout: ms(cfg.UnloadTimeoutMS)})
		}
	case wire.EvRun:
		p := st.Program.Program
		return []wire.Modctl{{Verb: wire.ModctlRun, Timeout: ms(p.TimeoutMS), Command: p.Argv}}, cfg.ProgramEnv(p), true
	case wire.EvCoverage:
		cmds = append(cmds, wire.Modctl{Verb: wire.ModctlGcov, Path: wire.GcovDir})
	}
	return cmds, nil, len(cmds) > 0
}

// sshResult judges what a modctl command returned into its step's event.
func sshResult(ev *wire.Event, res channel.Result) {
	ev.Exit, ev.Signal = res.Exit, res.Signal
	ev.Stdout, ev.Stderr = wire.Lines(string(res.Stdout)), string(res.Stderr)
	ev.Truncated = res.Truncated
	ev.OK = res.Exit == 0 && res.Signal == ""
	if ev.OK && ev.Name == wire.EvCoverage {
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
