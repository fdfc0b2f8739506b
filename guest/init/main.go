// Command init is PID 1 in the rig's guest. It mounts the file systems a
// test needs, opens the results port, says hello, and waits for the rig's
// Work: the run configuration, the module and the run's nonce. Then it
// follows the run's channel:
//
//   - serial: it loads the module, waits for its device node, runs the
//     programs, unloads the module, reports each step on the results port;
//   - ssh: it brings up the network, starts sshd, reports ready, and waits
//     for the rig, which runs the steps over SSH, to ask for the settle.
//
// Then it keeps watching the kernel for the settle window, reports it, and
// powers the machine off. From the Work on, it forwards the kernel's
// warnings and reports from /dev/kmsg, and every event carries the
// kernel's taint mask.
//
// Results go only to the results port, which the kernel never writes to.
// The console gets a short human log and the kernel's own messages.
//
// It never exits: PID 1 exiting would panic the kernel, and a panic must
// mean the code under test crashed.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/guest/devnode"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// portWait bounds the wait for the results port's device node.
const portWait = 10 * time.Second

func main() {
	os.Setenv("PATH", "/bbin:/bin:/ubin:/usr/bin")
	con := os.Stdout
	if err := mountAll(); err != nil {
		halt(con, "mount: %v", err)
	}
	if err := loadBootModules(con); err != nil {
		halt(con, "load the kernel's boot modules: %v", err)
	}
	prepared := prepareTrace(con)
	port, err := openPort(wire.PortName, portWait)
	if err != nil {
		halt(con, "results port: %v", err)
	}
	p := newPort(port)
	if err := p.hello(); err != nil {
		halt(con, "results port: %v", err)
	}
	w, err := p.work()
	if err != nil {
		halt(con, "results port: %v", err)
	}
	logf(con, "run %s: %s channel, %d program(s)", w.Nonce, w.Config.Channel, len(w.Config.Programs))
	if w.Config.HostClock && w.Config.Channel != wire.ChannelSSH && !w.Config.Hold {
		p.clock = newHostClock()
		go p.followHost()
	}
	p.watchKernel()
	start := time.Now()
	ev := wire.Event{Name: wire.EvBoot}
	if err := setUp(w); err != nil {
		ev.Err = err.Error()
	} else {
		ev.OK = true
	}
	ev.MS = since(start)
	tr := startTrace(con, w.Config, prepared)
	p.emit(ev)
	switch {
	case !ev.OK:
	case w.Config.Channel == wire.ChannelSSH:
		// The rig runs the steps. It asks for the settle once they are
		// done, or for the power off when the run failed.
		if !serveSSH(con, p) {
			powerOff(con)
		}
		settle(p, w.Config, tr)
	default:
		runAll(p, w.Config)
		settle(p, w.Config, tr)
	}
	p.emit(wire.Event{Name: wire.EvEnd, OK: true})
	powerOff(con)
}

// logf writes one line of the human log to the console.
func logf(con *os.File, format string, args ...any) {
	fmt.Fprintf(con, "mmaprig-init: "+format+"\n", args...)
}

// halt reports a failure that leaves no way to talk to the rig, on the
// console for the human reading it, and powers off: the rig sees a guest
// that ended without its boot event.
func halt(con *os.File, format string, args ...any) {
	logf(con, format, args...)
	powerOff(con)
}

type mount struct{ fstype, target string }

func mountAll() error {
	for _, m := range []mount{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
		{"devpts", "/dev/pts"}, // ptys for the SSH shell
		{"tmpfs", "/tmp"},
		{"debugfs", "/sys/kernel/debug"}, // gcov, for -coverage
	} {
		if m.fstype == "debugfs" {
			// sysfs has the mount point only in a kernel with
			// CONFIG_DEBUG_FS, and it cannot be made.
			if _, err := os.Stat(m.target); err != nil {
				continue
			}
		} else if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		err := unix.Mount(m.fstype, m.target, m.fstype, 0, "")
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// setUp applies the Work: fresh entropy, the modules, the SSH keys and
// the run's other files; and it notes which of the run's device nodes
// exist already, before any insmod on either channel, since those cannot
// be the module's.
func setUp(w *wire.Work) error {
	if len(w.Seed) > 0 {
		if err := reseed(w.Seed); err != nil {
			return fmt.Errorf("seed the random number generator: %w", err)
		}
	}
	if err := os.MkdirAll(wire.Dir, 0o755); err != nil {
		return err
	}
	files := append([]wire.File{
		{Path: wire.HostKeyPath, Data: w.HostKey, Mode: 0o600},
		{Path: wire.AuthorizedKeyPath, Data: w.AuthorizedKey, Mode: 0o644},
	}, w.Files...)
	written := map[string]bool{}
	for _, f := range files {
		if f.Data == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.Path, f.Data, os.FileMode(f.Mode)); err != nil {
			return err
		}
		written[f.Path] = true
	}
	for _, m := range w.Config.Modules {
		if !written[m] {
			return fmt.Errorf("the work names the module %s to load, and does not carry it", m)
		}
	}
	if w.Config.OnCrash == wire.OnCrashPause {
		if err := pauseOnCrash(); err != nil {
			return err
		}
	}
	return devnode.RecordPrior(w.Config.Devices)
}

// rndReseedCRNG is RNDRESEEDCRNG from <linux/random.h>: _IO('R', 0x07).
const rndReseedCRNG = 0x5207

// reseed mixes seed into the kernel's input pool and reseeds the CRNG from
// it, so that guests restored from one saved state draw different numbers.
func reseed(seed []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(seed); err != nil {
		return err
	}
	// ENODATA: the CRNG is not initialised yet; it will seed itself from
	// the pool that now holds the seed.
	if err := unix.IoctlSetInt(int(f.Fd()), rndReseedCRNG, 0); err != nil && !errors.Is(err, unix.ENODATA) {
		return err
	}
	return nil
}

// openPort finds the virtio-serial port by name and opens it. A port has
// one opener at a time, so while the init holds it nothing else in the
// guest can write to the rig.
func openPort(name string, timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil || strings.TrimSpace(string(b)) != name {
				continue
			}
			dev := "/dev/" + filepath.Base(filepath.Dir(n))
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err == nil {
				return f, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("open %s: %w", dev, err)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no virtio port named %s within %v (is CONFIG_VIRTIO_CONSOLE on, and the port on QEMU's command line?)", name, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// powerOff drains the console first: lines written just before a power off
// are otherwise lost in the UART.
func powerOff(con *os.File) {
	unix.IoctlSetInt(int(con.Fd()), unix.TCSBRK, 1) // tcdrain
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logf(con, "power off: %v", err)
	for {
		time.Sleep(time.Hour)
	}
}

func since(t time.Time) int64 { return time.Since(t).Milliseconds() }

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// uptimeMS is the time since the kernel started, from /proc/uptime.
func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return 0
	}
	return int64(f * 1000)
}
