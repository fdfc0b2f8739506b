// Command init is PID 1 in the rig's guest. It mounts the file systems a
// test needs, then follows the run's channel:
//
//   - serial: it loads the module from the run's overlay, waits for its
//     device node, runs the configured programs, reports each step as a
//     marker line on the serial console, and powers the machine off;
//   - ssh: it brings up the network, starts sshd, prints the ready marker,
//     and waits while the rig drives the guest over SSH.
//
// It never exits: PID 1 exiting would panic the kernel, and a panic must
// mean the code under test crashed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/guest/protocol"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func main() {
	os.Setenv("PATH", "/bbin:/bin:/ubin:/usr/bin")
	r := reporter{w: os.Stdout}
	r.emit(boot())
	cfg, err := readConfig(protocol.ConfigPath)
	switch {
	case err != nil:
		r.emit(protocol.Event{Name: protocol.EvInsmod, Err: err.Error()})
	case cfg.Channel == protocol.ChannelSSH:
		ev := startSSH()
		r.emit(ev)
		if ev.OK {
			for {
				time.Sleep(time.Hour) // the rig powers the VM off
			}
		}
	default:
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
		{"devpts", "/dev/pts"}, // ptys for the SSH shell
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
	if cfg.Unload {
		r.emit(unloadModule(protocol.ModulePath))
	}
}

// unloadModule removes the module by its own name; a module that is still
// in use fails instead of blocking.
func unloadModule(path string) protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvUnload, Cmd: path}
	name, err := kmod.Name(path)
	if err == nil {
		err = kmod.Unload(name)
	}
	if err != nil {
		ev.Err = err.Error()
	} else {
		ev.OK = true
	}
	ev.MS = since(start)
	return ev
}

func loadModule(path, params string, timeout time.Duration) protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvInsmod, Cmd: path}
	if err := kmod.Load(path, params, timeout); err != nil {
		ev.Err = err.Error()
	} else {
		ev.OK = true
	}
	ev.MS = since(start)
	return ev
}

// waitDevice waits for the device node. devtmpfs creates it before
// misc_register returns, so a healthy module needs no wait at all.
func waitDevice(path string, timeout time.Duration) protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvDevice, Cmd: path}
	if err := kmod.WaitNode(path, timeout); err != nil {
		ev.Err = "the module loaded but " + err.Error()
	} else {
		ev.OK = true
	}
	ev.MS = since(start)
	return ev
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
	ev.Stdout = protocol.Lines(stdout.String())
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

// startSSH brings up lo and eth0 and starts sshd; it reports ready once
// sshd listens.
func startSSH() protocol.Event {
	start := time.Now()
	ev := protocol.Event{Name: protocol.EvReady}
	if err := netUp(); err != nil {
		ev.Err = err.Error()
		return ev
	}
	cmd := exec.Command("sshd")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		ev.Err = err.Error()
		return ev
	}
	if err := cmd.Start(); err != nil {
		ev.Err = fmt.Sprintf("start sshd: %v", err)
		return ev
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		ev.Err = fmt.Sprintf("sshd did not come up: %q %v", line, err)
		return ev
	}
	ev.OK, ev.MS = true, since(start)
	return ev
}

func netUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network: lo up: %w", err)
	}
	eth, err := netlink.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("network: no eth0 (is virtio-net there?): %w", err)
	}
	addr, err := netlink.ParseAddr(protocol.GuestAddr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("network: address eth0: %w", err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("network: eth0 up: %w", err)
	}
	gw := net.IPv4(10, 0, 2, 2)
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("network: default route: %w", err)
	}
	return nil
}
