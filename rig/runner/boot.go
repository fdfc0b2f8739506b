package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/guest/ktap"
	"github.com/mmaprig/mmaprig/guest/protocol"
	"github.com/mmaprig/mmaprig/rig/console"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// crashGrace is how long the rig keeps reading after a crash report
// starts, so that the whole trace reaches the log.
const crashGrace = 1500 * time.Millisecond

// kernelArgs is the guest kernel command line. panic=-1 reboots at once
// on a panic, and QEMU turns the reboot into an exit.
var kernelArgs = []string{"console=ttyS0", "panic=-1"}

// The host-side faults that -inject knows. They exist to test the rig's
// own failure paths against a real VM.
const (
	// FaultPause freezes the guest (QMP stop) once its init reports in.
	FaultPause = "pause-after-ready"
	// FaultNetDown takes the guest's link down once sshd listens, so the
	// SSH server never answers.
	FaultNetDown = "net-down"
)

// Faults lists the -inject values.
var Faults = []string{FaultPause, FaultNetDown}

// inject applies the run's fault, if it is due at this event.
func (w *watch) inject(ev protocol.Event) {
	var err error
	switch {
	case w.r.opts.Inject == FaultPause && (ev.Name == protocol.EvBoot || ev.Name == protocol.EvReady):
		err = w.vm.Pause()
	case w.r.opts.Inject == FaultNetDown && ev.Name == protocol.EvReady:
		err = w.vm.SetLink(false)
	default:
		return
	}
	w.r.opts.Printer.Printf("  inject     %s after the %s marker (err: %v)", w.r.opts.Inject, ev.Name, err)
}

// QEMUName is the -name of the QEMU that the rig with this pid starts.
func QEMUName(pid int) string { return "mmaprig-rig-" + strconv.Itoa(pid) }

// phase is where the guest is, as its markers tell.
type phase int

const (
	phaseBoot   phase = iota // kernel booting; no marker yet
	phaseLoad                // the init runs insmod
	phaseDevice              // waiting for the device node
	phaseCheck               // programs run
	phaseEnd                 // the end marker arrived
)

// watch follows one VM from start to verdict.
type watch struct {
	r        *run
	log      *console.Log
	phase    phase
	next     int // next console line to read
	crash    *console.Crash
	crashAt  time.Time
	verdict  *Error
	output   []string
	exec     *ExecResult
	start    time.Time
	deadline time.Time
	// ssh carries the SSH driver's events; nil on the serial channel.
	ssh chan protocol.Event
	ctx context.Context
	vm  *vm.VM
}

func (r *run) boot(ctx context.Context, st *Stage) (string, bool, error) {
	clog := console.NewLog()
	w := &watch{r: r, log: clog}
	args, mem := append([]string(nil), kernelArgs...), r.opts.MemMB
	if r.res.Accel.Name == "tcg" {
		cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
		args = append(args, vm.TCGKernelArgs(string(cpuinfo))...)
	}
	for _, f := range r.frags {
		args = append(args, f.Cmdline...)
		mem = max(mem, f.MemMB)
	}
	args = append(args, r.opts.KernelArgs...)
	var extra []string
	if r.opts.Channel == protocol.ChannelSSH {
		extra = vm.UserNetArgs(protocol.SSHPort)
	}
	start := time.Now()
	v, err := vm.Start(ctx, vm.Config{
		QEMU:        r.opts.QEMU,
		Name:        QEMUName(os.Getpid()),
		Kernel:      r.bootImg,
		Initrd:      r.initrd,
		Append:      args,
		MemMB:       mem,
		SMP:         r.opts.SMP,
		Accel:       r.res.Accel,
		ArtifactDir: r.opts.ArtifactDir,
		RuntimeDir:  r.work,
		ExtraArgs:   extra,
		OnLine:      clog.Add,
		Log:         r.opts.Log,
	})
	if err != nil {
		return "", false, fail(Setup, err, "start QEMU")
	}
	defer v.Stop(2 * time.Second)
	r.opts.Log.Debug("qemu started", "cmdline", v.Cmdline())

	w.start = start
	w.deadline = start.Add(r.opts.Timeouts.Boot)
	lctx, cancel := context.WithCancel(ctx)
	verdict := w.loop(lctx, v)
	cancel()
	r.res.BootToVerdict = time.Since(start)
	r.res.Output = w.output
	w.writeDmesg()
	r.res.Exec = w.exec
	if verdict != nil {
		return "", false, verdict
	}
	return fmt.Sprintf("verdict in %s, accel %s", FormatDuration(r.res.BootToVerdict), r.res.Accel.Name), false, nil
}

// loop reads the console and QMP until there is a verdict. A nil verdict is
// a pass.
func (w *watch) loop(ctx context.Context, v *vm.VM) *Error {
	w.ctx, w.vm = ctx, v
	timer := time.NewTimer(time.Until(w.deadline))
	defer timer.Stop()
	for {
		select {
		case <-w.log.Notify():
			w.readConsole()
		case ev := <-w.ssh:
			w.marker(ev)
		case ev := <-v.Events():
			if ev.Event == "GUEST_PANICKED" && w.crash == nil {
				w.setCrash(console.Crash{Title: "kernel panic (reported by pvpanic)", Kind: "panic", Panic: true})
			}
		case <-v.Exited():
			w.readConsole()
			return w.exited(v)
		case <-timer.C:
			if w.crash != nil {
				return w.crashVerdict()
			}
			return w.timeout(v)
		case <-ctx.Done():
			return fail(Infra, ctx.Err(), "interrupted while the guest ran")
		}
		if w.crash != nil {
			if d := time.Until(w.crashAt.Add(crashGrace)); d < time.Until(w.deadline) {
				w.deadline = w.crashAt.Add(crashGrace)
				timer.Reset(d)
			}
			continue
		}
		if w.verdict != nil || w.phase == phaseEnd {
			return w.verdict
		}
		// A marker may have moved the deadline to the next phase's.
		timer.Reset(time.Until(w.deadline))
	}
}

func (w *watch) readConsole() {
	lines := w.log.Since(w.next)
	for _, line := range lines {
		w.next++
		if ev, ok := protocol.Parse(line); ok {
			w.marker(ev)
			continue
		}
		if c, ok := console.Match(line); ok && w.crash == nil {
			c.Line = w.next
			w.setCrash(c)
		}
	}
}

func (w *watch) setCrash(c console.Crash) {
	w.crash = &c
	w.crashAt = time.Now()
	w.r.opts.Log.Debug("crash report on the console", "title", c.Title)
}

// marker advances the phase on the guest init's reports.
func (w *watch) marker(ev protocol.Event) {
	w.inject(ev)
	t := w.r.opts.Timeouts
	switch ev.Name {
	case protocol.EvBoot:
		if !ev.OK {
			w.setVerdict(fail(Boot, nil, "the guest init could not set up: %s", ev.Err))
			return
		}
		w.phase = phaseLoad
		w.r.res.BootToInit = time.Since(w.start)
		w.extend(t.Load)
	case protocol.EvInsmod:
		if !ev.OK {
			w.setVerdict(fail(ModuleLoad, nil, "the module did not load: %s", ev.Err))
			return
		}
		w.phase = phaseDevice
		w.extend(5 * time.Second)
	case protocol.EvDevice:
		if !ev.OK {
			w.setVerdict(fail(ModuleLoad, nil, "the module loaded but created no %s: %s", w.r.opts.Device, ev.Err))
			return
		}
		w.phase = phaseCheck
		w.extend(t.Check)
		if w.r.opts.Shell {
			w.extend(24 * time.Hour)
		}
	case protocol.EvReady:
		if !ev.OK {
			w.setVerdict(fail(Boot, nil, "the guest could not start its SSH server: %s", ev.Err))
			return
		}
		w.phase = phaseLoad
		w.r.res.BootToReady = time.Since(w.start)
		w.extend(t.Load + 15*time.Second) // the dial, then insmod
		w.ssh = make(chan protocol.Event)
		go w.driveSSH(w.ctx, w.vm, w.ssh)
	case evChannel:
		w.setVerdict(fail(Channel, nil, "the SSH channel failed during %s: %s", w.phase, ev.Err))
	case protocol.EvRun:
		switch {
		case w.r.opts.Exec != nil:
			w.output = ev.Stdout
			w.exec = &ExecResult{Exit: ev.Exit, Err: ev.Err, Stderr: ev.Stderr}
		case strings.HasPrefix(ev.Cmd, "contract"):
			w.checkContract(ev)
		default:
			w.output = ev.Stdout
			w.checkRead(ev)
		}
	case protocol.EvUnload:
		if !ev.OK {
			w.setVerdict(fail(Contract, nil, "the module would not unload after the checks: %s", ev.Err))
		}
	case protocol.EvEnd:
		w.phase = phaseEnd
	}
}

// extend sets the deadline of the next phase. The guest enforces the same
// bounds; the host's slack covers a guest too stuck to report.
func (w *watch) extend(d time.Duration) {
	w.deadline = time.Now().Add(d + 5*time.Second)
}

func (w *watch) setVerdict(e *Error) {
	if w.verdict == nil {
		w.verdict = e
	}
}

// checkRead compares the reader's output with the expected bytes.
func (w *watch) checkRead(ev protocol.Event) {
	if !ev.OK {
		w.setVerdict(&Error{Class: Contract, Msg: fmt.Sprintf("%s failed (exit %d): %s", ev.Cmd, ev.Exit,
			firstNonEmpty(strings.TrimSpace(ev.Stderr), ev.Err))})
		return
	}
	want := make([]string, len(w.r.opts.Expect))
	for i, b := range w.r.opts.Expect {
		want[i] = strconv.Itoa(int(b))
	}
	if strings.Join(ev.Stdout, " ") != strings.Join(want, " ") {
		w.setVerdict(&Error{Class: Contract, Msg: fmt.Sprintf("wrong bytes in the mapped page: got [%s], want [%s]",
			strings.Join(ev.Stdout, " "), strings.Join(want, " "))})
	}
}

// writeDmesg saves the kernel's lines of the console, without the
// guest's markers, as the guest's dmesg.
func (w *watch) writeDmesg() {
	var b strings.Builder
	for _, l := range w.log.Since(0) {
		if _, ok := protocol.Parse(l); !ok {
			b.WriteString(l + "\n")
		}
	}
	os.WriteFile(filepath.Join(w.r.opts.ArtifactDir, "dmesg.txt"), []byte(b.String()), 0o644)
}

// checkContract parses the contract program's KTAP and fails the run on
// any failed case. Output that does not parse, or stops short of its plan,
// is a failure too: the program crashed or was killed.
func (w *watch) checkContract(ev protocol.Event) {
	out := strings.Join(ev.Stdout, "\n")
	os.WriteFile(filepath.Join(w.r.opts.ArtifactDir, "ktap.txt"), []byte(out+"\n"), 0o644)
	doc, err := ktap.Parse(strings.NewReader(out))
	w.r.res.Cases = doc.Cases
	w.r.res.ContractTime = time.Duration(ev.MS) * time.Millisecond
	if err != nil {
		w.setVerdict(&Error{Class: Contract, Msg: fmt.Sprintf("the contract checks did not finish (%s; exit %d): %v %s",
			firstNonEmpty(ev.Err, "no error"), ev.Exit, err, strings.TrimSpace(ev.Stderr))})
		return
	}
	var failed []string
	var details []string
	for _, c := range doc.Cases {
		if c.Result == ktap.Fail {
			failed = append(failed, c.Name)
			details = append(details, c.Diagnostics...)
		}
	}
	if failed != nil {
		w.setVerdict(&Error{Class: Contract, Msg: "contract case(s) failed: " + strings.Join(failed, ", "),
			Excerpt: strings.Join(details, "\n")})
		return
	}
	if !ev.OK {
		w.setVerdict(&Error{Class: Contract, Msg: fmt.Sprintf("the contract program failed (exit %d) though every case passed: %s",
			ev.Exit, firstNonEmpty(strings.TrimSpace(ev.Stderr), ev.Err))})
	}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (w *watch) crashVerdict() *Error {
	c := w.crash
	class := GuestCrash
	msg := "the kernel reported " + c.Title
	if w.phase == phaseBoot {
		class = Boot
		msg = "the kernel crashed before the guest init ran: " + c.Title
	}
	e := &Error{Class: class, Msg: msg}
	if c.Line > 0 {
		e.Excerpt = w.log.Excerpt(c.Line, 3, 40)
	} else {
		e.Excerpt = w.log.Tail(40)
	}
	return e
}

func (w *watch) exited(v *vm.VM) *Error {
	switch {
	case w.crash != nil:
		return w.crashVerdict()
	case w.verdict != nil || w.phase == phaseEnd:
		return w.verdict
	case v.ExitErr() != nil:
		return &Error{Class: Infra, Msg: fmt.Sprintf("QEMU exited during %s: %v; see %s", w.phase, v.ExitErr(),
			filepath.Join(w.r.opts.ArtifactDir, "qemu.log")), Excerpt: w.log.Tail(20)}
	default:
		return &Error{Class: Channel, Msg: fmt.Sprintf("the guest stopped during %s without its end marker; "+
			"the console broke off", w.phase), Excerpt: w.log.Tail(20)}
	}
}

// timeout judges a host-side deadline. The guest enforces the same
// deadlines itself and reports them (the serial init, modctl, the SSH
// driver), so when the host's, a little later, expires first, the guest
// has stopped answering altogether.
func (w *watch) timeout(v *vm.VM) *Error {
	t := w.r.opts.Timeouts
	e := &Error{Excerpt: w.log.Tail(20)}
	status := "unknown"
	if st, err := v.Status(); err == nil {
		status = strings.ToLower(strings.TrimPrefix(st.String(), "Status"))
	}
	if w.phase == phaseBoot {
		e.Class, e.Msg = Boot, fmt.Sprintf("the guest init did not start within %v (-boot-timeout); VM status %s", t.Boot, status)
		return e
	}
	e.Class = Channel
	e.Msg = fmt.Sprintf("the guest stopped answering during %s: it did not even report its own deadline; VM status %s", w.phase, status)
	return e
}

func (p phase) String() string {
	return [...]string{"boot", "module load", "device wait", "checks", "the end"}[p]
}
