// Package vm runs a QEMU guest for the rig: it builds the command line,
// starts QEMU paused, attaches to its QMP socket with go-qemu, streams the
// serial console, and makes sure QEMU never outlives the caller.
package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qemu"
	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"

	"github.com/mmaprig/mmaprig/internal/proc"
)

// Config describes one VM.
type Config struct {
	// QEMU is the qemu-system-x86_64 binary.
	QEMU   string
	Kernel string
	Initrd string
	// Append is the kernel command line.
	Append []string
	MemMB  int
	SMP    int
	Accel  Accel
	// ArtifactDir receives console.log, qemu.log and qemu.cmdline.
	ArtifactDir string
	// RuntimeDir holds the QMP socket; it must be short and private.
	RuntimeDir string
	// Name is QEMU's -name, so a run's QEMU can be found with pgrep.
	Name string
	// ExtraArgs are appended to QEMU's arguments.
	ExtraArgs []string
	// OnLine is called with each console line, in order, from one
	// goroutine. It must not block for long.
	OnLine func(string)
	Log    *slog.Logger
}

// VM is a running QEMU.
type VM struct {
	cfg     Config
	args    []string
	cmd     *exec.Cmd
	mon     *qmp.SocketMonitor
	dom     *qemu.Domain
	events  chan qmp.Event
	exited  chan struct{}
	waitErr error
	console sync.WaitGroup
	once    sync.Once
}

// ErrNoQEMU means the QEMU binary is missing.
var ErrNoQEMU = errors.New("qemu-system-x86_64 not found")

// Args returns QEMU's arguments for cfg, without the binary.
func (cfg Config) Args(qmpSocket string) []string {
	cpu := "max"
	if cfg.Accel.Name == "kvm" {
		cpu = "host"
	}
	return append([]string{
		"-name", cfg.Name,
		"-M", "microvm,accel=" + cfg.Accel.Name,
		"-cpu", cpu,
		"-m", strconv.Itoa(cfg.MemMB),
		"-smp", strconv.Itoa(cfg.SMP),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-action", "reboot=shutdown", // a reboot (panic=-1) ends the run
		"-action", "panic=shutdown", // after GUEST_PANICKED
		"-S", // wait for QMP, so no event is missed
		"-qmp", "unix:" + qmpSocket + ",server=on,wait=off",
		"-chardev", "stdio,id=con0,signal=off",
		"-serial", "chardev:con0",
		"-device", "pvpanic",
		"-kernel", cfg.Kernel,
		"-initrd", cfg.Initrd,
		"-append", strings.Join(cfg.Append, " "),
	}, cfg.ExtraArgs...)
}

// Start launches QEMU paused, connects QMP, and lets the guest run.
// The VM is stopped when ctx ends.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	bin, err := exec.LookPath(cfg.QEMU)
	if err != nil {
		return nil, fmt.Errorf("%w (%v); run `make deps`, or install the qemu-system-x86 package", ErrNoQEMU, err)
	}
	sock := filepath.Join(cfg.RuntimeDir, "qmp.sock")
	v := &VM{cfg: cfg, args: cfg.Args(sock), exited: make(chan struct{}), events: make(chan qmp.Event, 64)}
	if err := os.WriteFile(filepath.Join(cfg.ArtifactDir, "qemu.cmdline"), []byte(Quote(bin, v.args)+"\n"), 0o644); err != nil {
		return nil, err
	}
	argv, _ := json.Marshal(append([]string{bin}, v.args...))
	if err := os.WriteFile(filepath.Join(cfg.ArtifactDir, "qemu.cmdline.json"), argv, 0o644); err != nil {
		return nil, err
	}
	qlog, err := os.Create(filepath.Join(cfg.ArtifactDir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	con, err := os.Create(filepath.Join(cfg.ArtifactDir, "console.log"))
	if err != nil {
		qlog.Close()
		return nil, err
	}
	v.cmd = proc.Command(ctx, 2*time.Second, bin, v.args...)
	v.cmd.Stderr = qlog
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		qlog.Close()
		con.Close()
		return nil, err
	}
	// QEMU's stdio chardev also reads stdin: give it a pipe that stays
	// open, and so never reads EOF, until QEMU exits.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		qlog.Close()
		con.Close()
		return nil, err
	}
	v.cmd.Stdin = stdinR
	if err := v.cmd.Start(); err != nil {
		stdinR.Close()
		stdinW.Close()
		qlog.Close()
		con.Close()
		return nil, fmt.Errorf("start QEMU: %w", err)
	}
	stdinR.Close()
	v.console.Add(1)
	go v.readConsole(stdout, con)
	go func() {
		v.console.Wait()
		v.waitErr = v.cmd.Wait()
		stdinW.Close()
		qlog.Close()
		close(v.exited)
	}()
	if err := v.attach(ctx, sock); err != nil {
		v.Kill()
		return nil, err
	}
	return v, nil
}

func (v *VM) readConsole(r io.Reader, log *os.File) {
	defer v.console.Done()
	defer log.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			log.WriteString(line)
			if v.cfg.OnLine != nil {
				v.cfg.OnLine(strings.TrimRight(line, "\r\n"))
			}
		}
		if err != nil {
			return
		}
	}
}

// attach connects QMP (QEMU creates the socket right after it starts),
// subscribes to events, and resumes the paused guest.
func (v *VM) attach(ctx context.Context, sock string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		mon, err := qmp.NewSocketMonitor("unix", sock, 2*time.Second)
		if err == nil {
			if err = mon.Connect(); err == nil {
				v.mon = mon
				break
			}
		}
		select {
		case <-v.exited:
			return fmt.Errorf("QEMU exited before QMP was up: %v; see %s", v.waitErr, filepath.Join(v.cfg.ArtifactDir, "qemu.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connect to QMP at %s: %w", sock, err)
		}
	}
	dom, err := qemu.NewDomain(v.mon, "mmaprig")
	if err != nil {
		return fmt.Errorf("QMP domain: %w", err)
	}
	v.dom = dom
	stream, done, err := dom.Events()
	if err != nil {
		return fmt.Errorf("QMP events: %w", err)
	}
	go func() {
		defer close(done)
		for ev := range stream {
			v.cfg.Log.Debug("qmp event", "event", ev.Event, "data", ev.Data)
			select {
			case v.events <- ev:
			default:
				v.cfg.Log.Warn("dropping QMP event; nobody is reading", "event", ev.Event)
			}
		}
	}()
	if err := raw.NewMonitor(v.mon).Cont(); err != nil {
		return fmt.Errorf("QMP cont: %w", err)
	}
	return nil
}

// Events delivers QMP events: SHUTDOWN, GUEST_PANICKED, STOP and others.
func (v *VM) Events() <-chan qmp.Event { return v.events }

// Exited is closed when QEMU has exited and its console is drained.
func (v *VM) Exited() <-chan struct{} { return v.exited }

// ExitErr is QEMU's exit error; valid after Exited is closed.
func (v *VM) ExitErr() error { return v.waitErr }

// Status asks QMP for the run state.
func (v *VM) Status() (qemu.Status, error) {
	if v.dom == nil {
		return 0, errors.New("QMP is not connected")
	}
	return v.dom.Status()
}

// Cmdline is the QEMU command line, quoted for a shell, so a failing run
// can be reproduced by pasting one line.
func (v *VM) Cmdline() string { return Quote(v.cmd.Path, v.args) }

// Stop ends the VM: QMP quit first, then SIGKILL if QEMU has not exited
// within grace. It waits until QEMU is gone.
func (v *VM) Stop(grace time.Duration) {
	select {
	case <-v.exited:
		v.closeQMP()
		return
	default:
	}
	if v.mon != nil {
		if err := raw.NewMonitor(v.mon).Quit(); err != nil {
			v.cfg.Log.Debug("QMP quit", "err", err)
		}
	}
	select {
	case <-v.exited:
	case <-time.After(grace):
		v.Kill()
	}
	v.closeQMP()
}

// Kill sends SIGKILL to QEMU and waits for it.
func (v *VM) Kill() {
	proc.KillGroup(v.cmd)
	<-v.exited
	v.closeQMP()
}

func (v *VM) closeQMP() {
	v.once.Do(func() {
		if v.dom != nil {
			v.dom.Close()
		} else if v.mon != nil {
			v.mon.Disconnect()
		}
	})
}

// Quote renders a command line for a POSIX shell.
func Quote(bin string, args []string) string {
	return proc.Quote(append([]string{bin}, args...)...)
}

// hostfwdRE matches a host forward in HMP's "info usernet":
//
//	TCP[HOST_FORWARD]  12       127.0.0.1 38023       10.0.2.15    22     0     0
var hostfwdRE = regexp.MustCompile(`TCP\[HOST_FORWARD\]\s+\d+\s+(\S+)\s+(\d+)\s+\S+\s+(\d+)`)

// HostForward returns the host address QEMU forwards to guestPort. The
// rig asks QEMU for port 0, so the kernel picks a free one and parallel
// runs cannot collide; this reads which it picked.
func (v *VM) HostForward(guestPort int) (string, error) {
	if v.mon == nil {
		return "", errors.New("QMP is not connected")
	}
	out, err := raw.NewMonitor(v.mon).HumanMonitorCommand("info usernet", nil)
	if err != nil {
		return "", fmt.Errorf("QMP info usernet: %w", err)
	}
	return ParseHostForward(out, guestPort)
}

// ParseHostForward finds the host side of a forward to guestPort in the
// output of "info usernet".
func ParseHostForward(usernet string, guestPort int) (string, error) {
	for _, m := range hostfwdRE.FindAllStringSubmatch(usernet, -1) {
		if m[3] == strconv.Itoa(guestPort) {
			return net.JoinHostPort(m[1], m[2]), nil
		}
	}
	return "", fmt.Errorf("no host forward to guest port %d in:\n%s", guestPort, usernet)
}

// UserNetArgs are the QEMU arguments for a virtio-net device on a
// restricted user network that forwards 127.0.0.1:<free port> to the
// guest's port. restrict=on keeps the guest from reaching the host's
// network; only the forward comes in.
func UserNetArgs(guestPort int) []string {
	return []string{
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:0-:%d", guestPort),
		"-device", "virtio-net-device,netdev=n0",
	}
}

// Pause stops the guest's CPUs (QMP stop), as a hung guest would look.
func (v *VM) Pause() error {
	if v.mon == nil {
		return errors.New("QMP is not connected")
	}
	return raw.NewMonitor(v.mon).Stop()
}

// SetLink takes the guest's network link up or down (QMP set_link).
func (v *VM) SetLink(up bool) error {
	if v.mon == nil {
		return errors.New("QMP is not connected")
	}
	return raw.NewMonitor(v.mon).SetLink("n0", up)
}
