package runner

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mmaprig/mmaprig/guest/protocol"
	"github.com/mmaprig/mmaprig/internal/proc"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// evChannel is an internal event: the SSH channel broke. It never comes
// from the guest.
const evChannel = "channel-broken"

// driveSSH runs the guest steps over SSH once the guest is ready, and
// reports each as the event the serial init would have printed, so one
// state machine judges both channels.
func (w *watch) driveSSH(ctx context.Context, v *vm.VM, out chan<- protocol.Event) {
	send := func(ev protocol.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	broken := func(err error) { send(protocol.Event{Name: evChannel, Err: err.Error()}) }
	addr, err := v.HostForward(protocol.SSHPort)
	if err != nil {
		broken(err)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := channel.Dial(dctx, addr, w.r.keys)
	cancel()
	if err != nil {
		broken(err)
		return
	}
	defer c.Close()
	w.r.opts.Log.Debug("ssh connected", "addr", addr)

	t := w.r.opts.Timeouts
	run := func(name string, timeout time.Duration, argv ...string) (protocol.Event, bool) {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
		defer cancel()
		cmd := proc.Quote(argv...)
		if name == protocol.EvRun {
			// Programs get the guest-side deadline the serial init gives.
			cmd = proc.Quote(append([]string{"modctl", "run", timeout.String()}, argv...)...)
		}
		res, err := c.Run(rctx, cmd)
		ev := protocol.Event{Name: name, Cmd: proc.Quote(argv...), Exit: res.Exit, MS: time.Since(start).Milliseconds(),
			Stdout: protocol.Lines(string(res.Stdout)), Stderr: string(res.Stderr)}
		if err != nil {
			if ctx.Err() == nil && rctx.Err() != nil {
				// The guest programs enforce timeout themselves; no
				// answer 5s later means the guest stopped answering.
				err = fmt.Errorf("%s gave no answer within %v, past its own deadline", argv[0], timeout+5*time.Second)
			}
			broken(err)
			return ev, false
		}
		ev.OK = res.Exit == 0
		if res.Signal != "" {
			ev.Err = "killed by SIG" + res.Signal
		} else if !ev.OK {
			ev.Err = strings.TrimSpace(string(res.Stderr))
		}
		return ev, send(ev)
	}
	ev, ok := run(protocol.EvInsmod, t.Load, "modctl", "load", protocol.ModulePath, t.Load.String())
	if !ok || !ev.OK {
		return
	}
	if ev, ok = run(protocol.EvDevice, 2*time.Second, "modctl", "wait", w.r.opts.Device, "2s"); !ok || !ev.OK {
		return
	}
	if w.r.opts.Shell {
		err := shell(c)
		if err != nil {
			broken(err)
			return
		}
		send(protocol.Event{Name: protocol.EvEnd, OK: true})
		return
	}
	for _, argv := range w.r.programs() {
		if _, ok := run(protocol.EvRun, t.Check, argv...); !ok {
			return
		}
	}
	if w.r.guestConfig().Unload {
		if _, ok := run(protocol.EvUnload, t.Load, "modctl", "unload", protocol.ModulePath); !ok {
			return
		}
	}
	send(protocol.Event{Name: protocol.EvEnd, OK: true})
}

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
