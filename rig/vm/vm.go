// Package vm runs a QEMU guest for the rig: it builds the command line from
// devices, starts QEMU paused, attaches to its QMP socket with go-qemu,
// connects the results port, streams the serial console, and makes sure
// QEMU never outlives the caller. Every QMP command has a deadline.
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/proc"
	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// QMPTimeout bounds every QMP command. QEMU answers in milliseconds; one
// that does not answer is hung, and is killed.
const QMPTimeout = 5 * time.Second

// Config describes one VM.
type Config struct {
	// Arch is the guest's architecture.
	Arch arch.Arch
	// QEMU is the qemu-system binary.
	QEMU   string
	Kernel string
	Initrd string
	// Append is the kernel command line, before the devices' arguments.
	Append  []string
	MemMB   int
	SMP     int
	Accel   Accel
	Devices []Device
	// ArtifactDir receives console.log, qemu.log and qemu.cmdline.
	ArtifactDir string
	// RuntimeDir holds the QMP and port sockets; short and private.
	RuntimeDir string
	// Name is QEMU's -name, so a run's QEMU can be found with pgrep.
	Name string
	// ExtraArgs are appended to QEMU's arguments.
	ExtraArgs []string
	// Incoming, if set, is a saved guest (see VM.Save) to restore instead
	// of booting: the machine must be the one that saved it.
	Incoming string
	// Paused leaves the guest stopped once QMP and the results port are
	// connected (and a restore is done): Resume lets it run.
	Paused bool
	// GDBSocket, if set, is where QEMU's gdbstub listens: a unix socket,
	// which only this user can reach and which no other run can take.
	GDBSocket string
	// PauseOnPanic has QEMU pause the guest at a panic (pvpanic) instead
	// of ending it, for a debugger to look at.
	PauseOnPanic bool
	// SkipIdle, under TCG, has the guest's clock jump over the time its
	// CPU idles (see skipIdleArgs). It must be set only for a guest that
	// never waits on the host with a timeout of its own.
	SkipIdle bool
	Log      *slog.Logger
}

// VM is a running QEMU.
type VM struct {
	cfg     Config
	bin     string
	args    []string
	cmd     *exec.Cmd
	mon     *qmp.SocketMonitor
	raw     *raw.Monitor
	port    net.Conn
	console *Lines
	events  chan qmp.Event
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// ErrNoQEMU means the QEMU binary is missing.
var ErrNoQEMU = errors.New("QEMU not found")

// Args returns QEMU's arguments for cfg, without the binary.
func (cfg Config) Args(qmpSocket string) []string {
	args := append([]string{"-name", cfg.Name}, machineArgs(cfg.Arch, cfg.Accel)...)
	args = append(args, cfg.skipIdleArgs()...)
	args = append(args,
		"-m", strconv.Itoa(cfg.MemMB),
		"-smp", strconv.Itoa(cfg.SMP),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-action", "reboot=shutdown", // a reboot (panic=-1) ends the run
		"-action", "panic="+cfg.panicAction(),
		"-S", // wait for QMP, so no event is missed
		"-qmp", "unix:"+qmpSocket+",server=on,wait=off",
		"-kernel", cfg.Kernel,
		"-initrd", cfg.Initrd,
	)
	appendArgs := append([]string(nil), cfg.Append...)
	for _, d := range cfg.Devices {
		args = append(args, d.QEMUArgs()...)
		appendArgs = append(appendArgs, d.KernelArgs()...)
	}
	args = append(args, "-append", strings.Join(appendArgs, " "))
	if cfg.Incoming != "" {
		args = append(args, "-incoming", "exec:cat "+wire.Quote(cfg.Incoming))
	}
	if cfg.GDBSocket != "" {
		args = append(args, "-gdb", "unix:"+cfg.GDBSocket+",server=on,wait=off")
	}
	return append(args, cfg.ExtraArgs...)
}

// panicAction is what QEMU does after GUEST_PANICKED: end the run, or
// keep the guest paused in its panic for a debugger.
func (cfg Config) panicAction() string {
	if cfg.PauseOnPanic {
		return "pause"
	}
	return "shutdown"
}

// Start launches QEMU paused, connects QMP and the results port (if the
// config has one), and lets the guest run. The VM is killed when ctx ends.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	bin, err := exec.LookPath(cfg.QEMU)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%v); run `make deps`", ErrNoQEMU, cfg.QEMU, err)
	}
	sock := filepath.Join(cfg.RuntimeDir, "qmp.sock")
	v := &VM{cfg: cfg, bin: bin, args: cfg.Args(sock), exited: make(chan struct{}),
		events: make(chan qmp.Event, 64), console: NewLines()}
	if err := v.writeCmdline(); err != nil {
		return nil, err
	}
	if err := v.launch(ctx); err != nil {
		return nil, err
	}
	if err := v.attach(ctx, sock); err != nil {
		v.Kill()
		return nil, err
	}
	return v, nil
}

// launch starts QEMU with its logs in the artifact directory (its stderr
// in qemu.log, the console in console.log), and the goroutines that read
// its console and wait for it.
func (v *VM) launch(ctx context.Context) error {
	qlog, err := os.Create(filepath.Join(v.cfg.ArtifactDir, layout.QEMULog))
	if err != nil {
		return err
	}
	con, err := os.Create(filepath.Join(v.cfg.ArtifactDir, layout.ConsoleLog))
	if err != nil {
		qlog.Close()
		return err
	}
	// A socket that a killed run left would keep gdb from attaching to
	// this one, or name a QEMU that is gone.
	removeSocket(v.cfg.GDBSocket, v.cfg.Log)
	stdout, stdinW, err := v.startProcess(ctx, qlog)
	if err != nil {
		qlog.Close()
		con.Close()
		return err
	}
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		v.readConsole(stdout, con)
	}()
	go func() {
		<-consoleDone
		v.waitErr = v.cmd.Wait()
		stdinW.Close()
		qlog.Close()
		// A QEMU that was killed leaves its gdbstub's socket behind.
		removeSocket(v.cfg.GDBSocket, v.cfg.Log)
		close(v.exited)
	}()
	return nil
}

// removeSocket removes the unix socket at path, if there is one: a
// socket only, never a file that someone else put there.
func removeSocket(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	if err := os.Remove(path); err != nil && log != nil {
		log.Warn("remove the gdbstub's socket", "path", path, "err", err)
	}
}

// startProcess starts QEMU, its stderr to qlog. It returns QEMU's
// stdout, the console, and its stdin's write end, for the caller to close
// once QEMU exited: QEMU's stdio chardev also reads stdin, and a pipe that
// stays open never gives it EOF.
func (v *VM) startProcess(ctx context.Context, qlog *os.File) (io.Reader, *os.File, error) {
	v.cmd = proc.Command(ctx, 2*time.Second, v.bin, v.args...)
	v.cmd.Stderr = qlog
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	v.cmd.Stdin = stdinR
	if err := v.cmd.Start(); err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, nil, fmt.Errorf("start QEMU: %w", err)
	}
	stdinR.Close()
	return stdout, stdinW, nil
}

// earlyExit says why QEMU exited before QMP was up, quoting the last
// line QEMU wrote to its log (say, "Failed to bind socket").
func (v *VM) earlyExit() error {
	qlog := filepath.Join(v.cfg.ArtifactDir, layout.QEMULog)
	said := ""
	if last := strings.TrimSpace(tail.File(qlog, 1)); last != "" {
		said = ": " + last
	}
	return fmt.Errorf("QEMU exited before QMP was up (%v)%s; see %s", v.waitErr, said, qlog)
}

func (v *VM) writeCmdline() error {
	if err := os.WriteFile(filepath.Join(v.cfg.ArtifactDir, layout.QEMUCmdline), []byte(Quote(v.bin, v.args)+"\n"), 0o644); err != nil {
		return err
	}
	argv, _ := json.Marshal(append([]string{v.bin}, v.args...))
	return os.WriteFile(filepath.Join(v.cfg.ArtifactDir, layout.QEMUArgv), argv, 0o644)
}

// readConsole copies the console to its log file and, line by line, to
// the Lines queue, until QEMU closes it.
func (v *VM) readConsole(r io.Reader, log *os.File) {
	defer log.Close()
	defer v.console.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			log.WriteString(line)
			v.console.Add(strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			return
		}
	}
}

// attach connects QMP (QEMU creates the socket right after it starts) and
// the results port, subscribes to events, and resumes the paused guest.
func (v *VM) attach(ctx context.Context, sock string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		mon, err := qmp.NewSocketMonitor("unix", sock, 2*time.Second)
		if err == nil {
			if err = v.connect(mon); err == nil {
				v.mon, v.raw = mon, raw.NewMonitor(mon)
				break
			}
		}
		select {
		case <-v.exited:
			return v.earlyExit()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connect to QMP at %s: %w", sock, err)
		}
	}
	stream, err := v.mon.Events(ctx)
	if err != nil {
		return fmt.Errorf("QMP events: %w", err)
	}
	go func() {
		defer close(v.events)
		for ev := range stream {
			v.cfg.Log.Debug("qmp event", "event", ev.Event, "data", ev.Data)
			select {
			case v.events <- ev:
			default:
				v.cfg.Log.Warn("dropping a QMP event; nobody is reading", "event", ev.Event)
			}
		}
	}()
	for _, d := range v.cfg.Devices {
		if p, ok := d.(ResultsPort); ok {
			var dl net.Dialer
			if v.port, err = dl.DialContext(ctx, "unix", p.Socket); err != nil {
				return fmt.Errorf("connect to the results port: %w", err)
			}
		}
	}
	if v.cfg.Incoming != "" {
		if err := v.waitIncoming(SaveTimeout); err != nil {
			return err
		}
	}
	if v.cfg.Paused {
		return nil
	}
	return v.Resume()
}

// connect does the QMP handshake with a deadline: go-qemu's Connect reads
// the greeting with none.
func (v *VM) connect(mon *qmp.SocketMonitor) error {
	done := make(chan error, 1)
	go func() { done <- mon.Connect() }()
	select {
	case err := <-done:
		return err
	case <-time.After(QMPTimeout):
		mon.Disconnect()
		return fmt.Errorf("QMP greeting: no answer within %v", QMPTimeout)
	}
}

// qmp runs one QMP command with a deadline. A QEMU that does not answer is
// hung: the command's goroutine is left to end when QEMU is killed.
func (v *VM) qmp(what string, fn func(*raw.Monitor) error) error {
	if v.raw == nil {
		return errors.New("QMP is not connected")
	}
	done := make(chan error, 1)
	go func() { done <- fn(v.raw) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("QMP %s: %w", what, err)
		}
		return nil
	case <-v.exited:
		return fmt.Errorf("QMP %s: QEMU exited", what)
	case <-time.After(QMPTimeout):
		return fmt.Errorf("QMP %s: no answer within %v; QEMU is hung", what, QMPTimeout)
	}
}

// Console is the serial console, line by line. It is closed when QEMU
// closes its end.
func (v *VM) Console() *Lines { return v.console }

// Port is the host end of the results port; nil if the config has none.
func (v *VM) Port() net.Conn { return v.port }

// Events delivers QMP events: SHUTDOWN, GUEST_PANICKED, STOP and others.
// It is closed when the QMP connection ends.
func (v *VM) Events() <-chan qmp.Event { return v.events }

// Exited is closed when QEMU has exited and its console is drained.
func (v *VM) Exited() <-chan struct{} { return v.exited }

// ExitErr is QEMU's exit error; valid after Exited is closed.
func (v *VM) ExitErr() error { return v.waitErr }

// Status asks QMP for the run state, such as "running" or "paused".
func (v *VM) Status() (string, error) {
	var st raw.StatusInfo
	err := v.qmp("query-status", func(m *raw.Monitor) (err error) {
		st, err = m.QueryStatus()
		return err
	})
	return st.Status.String(), err
}

// Cmdline is the QEMU command line, quoted for a shell, so a failing run
// can be reproduced by pasting one line.
func (v *VM) Cmdline() string { return Quote(v.bin, v.args) }

// Stop ends the VM: QMP quit first, then SIGKILL if QEMU has not exited
// within grace, or at once if QMP does not answer. It returns when QEMU is
// gone.
func (v *VM) Stop(grace time.Duration) {
	select {
	case <-v.exited:
		v.closeQMP()
		return
	default:
	}
	if err := v.qmp("quit", func(m *raw.Monitor) error { return m.Quit() }); err != nil {
		v.cfg.Log.Debug("QMP quit failed; killing QEMU", "err", err)
		v.Kill()
		return
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
		if v.port != nil {
			v.port.Close()
		}
		if v.mon != nil {
			v.mon.Disconnect()
		}
	})
}

// Quote renders a command line for a POSIX shell.
func Quote(bin string, args []string) string {
	return wire.Quote(append([]string{bin}, args...)...)
}
