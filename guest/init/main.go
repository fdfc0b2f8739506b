// Command init is PID 1 in the rig's guest. It mounts the file systems a
// test needs, loads the module from the run's overlay, waits for its device
// node, runs the configured programs, reports each step as a marker line on
// the serial console, and powers the machine off.
//
// It never exits: PID 1 exiting would panic the kernel, and a panic must
// mean the code under test crashed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/guest/protocol"
	"golang.org/x/sys/unix"
)

func main() {
	os.Setenv("PATH", "/bbin:/bin:/ubin:/usr/bin")
	r := reporter{w: os.Stdout}
	r.emit(boot())
	if cfg, err := readConfig(protocol.ConfigPath); err != nil {
		r.emit(protocol.Event{Name: protocol.EvInsmod, Err: err.Error()})
	} else {
		runAll(r, cfg)
	}
	r.emit(protocol.Event{Name: protocol.EvEnd, OK: true})
	powerOff(r.w)
}

type reporter struct{ w *os.File }

func (r reporter) emit(e protocol.Event) {
	fmt.Fprintln(r.w, protocol.Format(e))
}

type mount struct{ fstype, target string }

func boot() protocol.Event {
	start := time.Now()
	for _, m := range []mount{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
		{"tmpfs", "/tmp"},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return protocol.Event{Name: protocol.EvBoot, Err: err.Error()}
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return protocol.Event{Name: protocol.EvBoot, Err: fmt.Sprintf("mount %s on %s: %v", m.fstype, m.target, err)}
		}
	}
	return protocol.Event{Name: protocol.EvBoot, OK: true, MS: since(start)}
}

func readConfig(path string) (protocol.Config, error) {
	var cfg protocol.Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read run config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("parse run config %s: %w", path, err)
	}
	return cfg, nil
}

func runAll(r reporter, cfg protocol.Config) {
	ev := loadModule(protocol.ModulePath, cfg.Params, ms(cfg.LoadTimeoutMS))
	r.emit(ev)
	if !ev.OK {
		return
	}
	ev = waitDevice(cfg.Device, ms(cfg.DeviceTimeoutMS))
	r.emit(ev)
	if !ev.OK {
		return
	}
	for _, argv := range cfg.Programs {
		r.emit(run(argv, ms(cfg.RunTimeoutMS)))
	}
}

// loadModule calls finit_module in a goroutine, so that a module whose init
// never returns is reported at the deadline instead of hanging the guest.
func loadModule(path, params string, timeout time.Duration) protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvInsmod, Cmd: path}
	done := make(chan error, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil {
			done <- fmt.Errorf("finit_module %s: %w", path, err)
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		ev.MS = since(start)
		if err != nil {
			ev.Err = err.Error()
			return ev
		}
		ev.OK = true
	case <-time.After(timeout):
		ev.MS = since(start)
		ev.Err = fmt.Sprintf("module init did not return within %v", timeout)
	}
	return ev
}

// waitDevice waits for the device node. devtmpfs creates it before
// misc_register returns, so a healthy module needs no wait at all.
func waitDevice(path string, timeout time.Duration) protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvDevice, Cmd: path}
	for {
		_, err := os.Stat(path)
		if err == nil {
			ev.OK, ev.MS = true, since(start)
			return ev
		}
		if time.Since(start) >= timeout {
			ev.MS = since(start)
			ev.Err = fmt.Sprintf("the module loaded but %s did not appear within %v: %v", path, timeout, err)
			return ev
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(argv []string, timeout time.Duration) protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvRun, Cmd: strings.Join(argv, " "), Exit: -1}
	if len(argv) == 0 {
		ev.Err = "empty command"
		return ev
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	ev.MS = since(start)
	ev.Stdout = lines(stdout.String())
	ev.Stderr = stderr.String()
	if cmd.ProcessState != nil {
		ev.Exit = cmd.ProcessState.ExitCode()
	}
	switch {
	case ctx.Err() != nil:
		ev.Err = fmt.Sprintf("%s did not finish within %v", argv[0], timeout)
	case err != nil:
		ev.Err = err.Error()
	default:
		ev.OK = true
	}
	return ev
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// powerOff drains the console first: lines written just before a power off
// are otherwise lost in the UART.
func powerOff(console *os.File) {
	unix.IoctlSetInt(int(console.Fd()), unix.TCSBRK, 1) // tcdrain
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(console, "init: power off: %v\n", err)
	for {
		time.Sleep(time.Hour)
	}
}

func since(t time.Time) int64 { return time.Since(t).Milliseconds() }

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
