package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/kreport"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/coverage"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// kernelArgs is the guest kernel command line. panic=-1 reboots at once
// on a panic, and QEMU turns the reboot into an exit. ignore_loglevel
// keeps every record on the console, the human log, whatever "quiet" or a
// module sets; the verdict reads reports from /dev/kmsg as well, which no
// loglevel filters.
var kernelArgs = []string{"panic=-1", "ignore_loglevel"}

// QEMUName is the -name of the QEMU that the rig with this pid starts.
func QEMUName(pid int) string { return "mmaprig-rig-" + strconv.Itoa(pid) }

// machineVM is a running QEMU as the boot stage handles it: the driver's
// guestVM, and what a restore, a save and the SSH channel need.
type machineVM interface {
	guestVM
	Resume() error
	Kill()
	Save(ctx context.Context, path string) error
	HostForward(guestPort int) (string, error)
	Cmdline() string
}

// vmHost starts QEMU and tells the time for a run: vm.Start and the wall
// clock, or a test's replay of recorded runs.
type vmHost struct {
	start func(context.Context, vm.Config) (machineVM, error)
	clock clock
}

func realVMHost() vmHost { return vmHost{start: startQEMU, clock: wallClock{}} }

// startQEMU is vm.Start, whose nil *vm.VM must not become a machineVM
// that is not nil.
func startQEMU(ctx context.Context, cfg vm.Config) (machineVM, error) {
	v, err := vm.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// restoreBootTimeout bounds the boot step of a restored guest: it is up
// already, and only has to take its work.
const restoreBootTimeout = 10 * time.Second

// boot is the boot stage: the saved guest restored, when the machine has
// one, or else (or when the restore fails) a cold boot that saves one.
func (r *run) boot(ctx context.Context, _ *progress.Stage) (string, bool, error) {
	e, snap := r.restoreCandidate(ctx)
	if e != nil {
		err := e.err
		if err == nil {
			var summary string
			if summary, err = r.bootVM(ctx, e.cfg, snap, e); !errors.Is(err, errRestore) {
				return summary, true, err
			}
		}
		if ctx.Err() != nil {
			// Interrupted, not a bad snapshot: keep it.
			return "", true, fail(verdict.Infra, ctx.Err(), "interrupted while the saved guest was restored")
		}
		r.fallBack(snap, err)
	}
	summary, err := r.bootVM(ctx, r.vmConfig(), snap, nil)
	return summary, false, err
}

// restoreCandidate returns the saved guest to restore, if any (the one the
// module stage started, or one started now), and the machine's snapshot:
// the one to restore, or where a cold boot saves one; nil for -boot cold.
func (r *run) restoreCandidate(ctx context.Context) (*earlyVM, *snapshot) {
	if e := r.early.take(); e != nil {
		return e, e.snap
	}
	if r.opts.Boot != BootAuto {
		return nil, nil
	}
	cfg := r.vmConfig()
	snap, err := r.snapshotFor(ctx, cfg)
	switch {
	case err != nil:
		r.opts.Log.Warn("no snapshot for this machine", "err", err)
		return nil, nil
	case snap.path == "":
		return nil, snap
	}
	return r.restore(ctx, cfg, snap).take(), snap
}

// fallBack gives up on a saved guest that did not restore: it says so,
// keeps the restore's logs, and removes the snapshot, which the cold boot
// then saves anew (unless it is debugged).
func (r *run) fallBack(snap *snapshot, err error) {
	logs := fmt.Sprintf(" (the restore's logs: %s*)", layout.RestorePrefix)
	if errors.Is(err, vm.ErrSnapshotSum) {
		logs = "" // the file was refused before any QEMU read it
	}
	saving := ", and saving a new one"
	if r.opts.debugged() {
		saving = " (a debugged guest is not saved)"
	}
	r.opts.Printer.Printf("  snapshot   %v; booting cold%s%s", err, saving, logs)
	// The cold boot says how the guest came up, if it comes up at all.
	r.restoreFailed, r.res.Boot = err.Error(), nil
	r.keepRestoreLogs()
	r.dropSnapshot(snap)
}

// keepRestoreLogs renames what a failed restore wrote, so that the cold
// boot after it does not overwrite the evidence.
func (r *run) keepRestoreLogs() {
	for _, f := range []string{layout.ConsoleLog, layout.QEMULog, layout.QEMUCmdline, layout.QEMUArgv, layout.EngineLog, layout.Dmesg, layout.RunSpec} {
		p := filepath.Join(r.opts.ArtifactDir, f)
		if _, err := os.Stat(p); err == nil {
			if err := os.Rename(p, filepath.Join(r.opts.ArtifactDir, layout.RestorePrefix+f)); err != nil {
				r.opts.Log.Warn("keep a failed restore's log", "file", f, "err", err)
			}
		}
	}
}

// errRestore: a saved guest was found but did not come back.
var errRestore = errors.New("the saved guest did not restore")

// guestUp is a guest that came up, and how.
type guestUp struct {
	v machineVM
	// mode is result.BootCold or result.BootRestored; how says it for
	// the stage's line.
	mode, how string
	// start is QEMU's start, or the restored guest's resume: the run's
	// times count from it.
	start time.Time
	// saved says how saving the snapshot went, if this boot saved one;
	// saveErr is why it failed.
	saved, saveErr string
}

// bootVM runs the guest once: restored from snap (by e, which started it),
// or booted cold when e is nil, saving it into snap (when snap has no
// saved state yet) once its init waits for work. It brings the guest up,
// drives it to a verdict, and takes what the run left.
func (r *run) bootVM(ctx context.Context, cfg vm.Config, snap *snapshot, e *earlyVM) (string, error) {
	restore := e != nil
	// A restored VM is running (paused) already: every return before the
	// driver owns it must kill it.
	var owned bool
	if restore {
		defer func() {
			if !owned {
				e.v.Kill()
			}
		}()
	}
	spec, work, err := r.prepareGuest(restore)
	if err != nil {
		return "", err
	}
	logf, rec, err := r.openEngineLog(spec)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	defer rec.Flush()
	r.res.IdleSkipped = cfg.SkipsIdle()
	up, err := r.bringUp(ctx, cfg, e)
	if err != nil {
		return "", err
	}
	owned = true
	r.res.Boot = &result.Boot{Mode: up.mode, RestoreFailed: r.restoreFailed}
	r.opts.Log.Debug("qemu started", "cmdline", up.v.Cmdline())
	res, err := r.driveGuest(ctx, spec, rec, work, up, snap)
	if err != nil {
		return "", err
	}
	if restore && res.Class != verdict.Pass && len(res.Completed) == 0 {
		// A restored guest runs no code under test before its boot
		// event: whatever went wrong before it (a QEMU that exits, a port
		// that breaks, a guest that never takes its work) is the
		// snapshot's.
		return "", fmt.Errorf("%w: %s", errRestore, res.Msg)
	}
	r.res.Boot.Saved, r.res.Boot.SaveError = up.saved != "" && up.saveErr == "", up.saveErr
	return r.postProcess(ctx, spec, up, res)
}

// prepareGuest makes the run's nonce and spec, writes run.json, and packs
// the guest's work.
func (r *run) prepareGuest(restore bool) (verdict.Spec, *wire.Work, error) {
	nonce, err := newNonce()
	if err != nil {
		return verdict.Spec{}, nil, fail(verdict.Infra, err, "make the run's nonce")
	}
	spec := r.spec(nonce)
	if restore {
		spec.BootTimeout = restoreBootTimeout
	}
	r.res.Nonce = nonce
	if err := r.writeRunJSON(spec); err != nil {
		return spec, nil, fail(verdict.Setup, err, "write run.json")
	}
	work, err := r.guestWork(spec)
	switch {
	case errors.Is(err, errWorkTooBig):
		return spec, nil, fail(verdict.Setup, err, "the guest's work is too big")
	case err != nil:
		return spec, nil, fail(verdict.Infra, err, "prepare the guest's work")
	}
	return spec, work, nil
}

// openEngineLog creates engine.log, the recording of every input the
// engine takes.
func (r *run) openEngineLog(spec verdict.Spec) (*os.File, *verdict.Recorder, error) {
	logf, err := os.Create(filepath.Join(r.opts.ArtifactDir, layout.EngineLog))
	if err != nil {
		return nil, nil, fail(verdict.Setup, err, "create engine.log")
	}
	rec, err := verdict.NewRecorder(logf, spec)
	if err != nil {
		logf.Close()
		return nil, nil, fail(verdict.Infra, err, "write engine.log")
	}
	return logf, rec, nil
}

// bringUp resumes the restored guest e, or, when e is nil, starts QEMU
// with cfg.
func (r *run) bringUp(ctx context.Context, cfg vm.Config, e *earlyVM) (*guestUp, error) {
	if e != nil {
		// The saved guest waits for its work: it said hello before it
		// was saved.
		up := &guestUp{v: e.v, mode: result.BootRestored, how: "restored from a snapshot in " + progress.FormatDuration(e.took)}
		r.res.BootToInit = result.Seconds(e.took)
		up.start = r.vms.clock.Now()
		if err := e.v.Resume(); err != nil {
			return nil, fmt.Errorf("%w: %w", errRestore, err)
		}
		return up, nil
	}
	up := &guestUp{mode: result.BootCold, how: "booted", start: r.vms.clock.Now()}
	v, err := r.vms.start(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fail(verdict.Infra, ctx.Err(), "interrupted while QEMU started")
		}
		return nil, fail(verdict.Setup, err, "start QEMU")
	}
	up.v = v
	return up, nil
}

// driveGuest drives the guest that came up to a verdict, and keeps its
// kernel's logs (dmesg.txt, kmsg.txt) whatever the verdict.
func (r *run) driveGuest(ctx context.Context, spec verdict.Spec, rec *verdict.Recorder, work *wire.Work, up *guestUp, snap *snapshot) (verdict.Result, error) {
	d := r.newDriver(spec, rec, work, up.v, r.vms.clock, up.start)
	d.hostSteps = func(ctx context.Context) { d.driveSSH(ctx, up.v) }
	switch {
	case up.mode == result.BootRestored:
		d.sentWork = true
	case snap != nil && snap.path == "" && !r.opts.debugged():
		// A debugged guest is not saved: QEMU's gdbstub listened from
		// its start, and under KVM gdb's software breakpoints are bytes
		// in the guest's memory, which the snapshot would keep.
		d.hello = func(ctx context.Context) { up.saved, up.saveErr = r.saveSnapshot(ctx, up.v, snap) }
	}
	res, took, err := d.drive(ctx)
	r.res.BootToVerdict = result.Seconds(took)
	r.writeDmesg(d.eng.Console())
	r.writeKmsg(d.eng.Kmsg())
	return res, err
}

// postProcess takes what the verdict carries into the Result (the KTAP
// artifact, the coverage report), and sums the boot up for the stage's
// line; a verdict other than a pass is the stage's error.
func (r *run) postProcess(ctx context.Context, spec verdict.Spec, up *guestUp, res verdict.Result) (string, error) {
	boot := r.res.BootToInit
	r.decodeCrash(ctx, &res)
	r.takeResult(res)
	if up.mode == result.BootRestored {
		// No hello from a restored guest: its init was up at once.
		r.res.BootToInit = boot
	}
	r.res.Boot.Took = r.res.BootToInit
	if spec.Coverage && len(res.Coverage) > 0 {
		m := coverage.Module{CC: r.opts.Arch.CC(), BuildDir: r.moduleBuild, SourceDir: r.opts.ModuleDir}
		c, err := coverage.Collect(ctx, m, res.Coverage, r.opts.ArtifactDir)
		if err != nil {
			return "", fail(verdict.Infra, err, "report the module's coverage")
		}
		r.res.Coverage = c
	}
	how := up.how
	if up.saved != "" {
		how += ", " + up.saved
	}
	summary := fmt.Sprintf("%s; verdict in %s, accel %s", how, progress.FormatDuration(r.res.BootToVerdict.D()), r.res.Accel)
	if r.res.IdleSkipped {
		summary += ", idle skipped"
	}
	if wire.SettledEarly(r.res.Settled) {
		summary += fmt.Sprintf(", settled in %v", wire.SettleEarlyMS*time.Millisecond)
	}
	if res.Class != verdict.Pass {
		// The summary still says how the guest came up.
		return summary, &Error{Class: res.Class, Title: res.Title, Msg: res.Msg, Excerpt: res.Excerpt}
	}
	return summary, nil
}

func (r *run) vmConfig() vm.Config {
	args, mem := append([]string(nil), kernelArgs...), r.opts.MemMB
	if r.accel.Name == "tcg" && r.opts.Arch.Name == "x86_64" {
		cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
		args = append(args, vm.TCGKernelArgs(string(cpuinfo))...)
	}
	for _, f := range r.frags {
		args = append(args, f.Cmdline...)
		mem = max(mem, f.MemMB)
	}
	args = append(args, r.opts.KernelArgs...)
	devices := []vm.Device{
		vm.SerialConsole{Device: r.opts.Arch.Console},
		vm.PVPanic{PCI: r.opts.Arch.Name != "x86_64"},
		vm.ResultsPort{Name: wire.PortName, Socket: filepath.Join(r.work.dir, "port.sock")},
	}
	if r.opts.Channel == wire.ChannelSSH {
		devices = append(devices, vm.UserNet{GuestPort: wire.SSHPort})
	}
	return vm.Config{
		Arch:         r.opts.Arch,
		QEMU:         r.opts.QEMU,
		Name:         QEMUName(os.Getpid()),
		Kernel:       r.kernel.Image,
		Initrd:       r.initrd,
		Append:       args,
		MemMB:        mem,
		SMP:          r.opts.SMP,
		Accel:        r.accel,
		Devices:      devices,
		ArtifactDir:  r.opts.ArtifactDir,
		RuntimeDir:   r.work.dir,
		GDBSocket:    r.gdbSocket(),
		PauseOnPanic: r.opts.OnCrash == OnCrashPause,
		SkipIdle:     r.skipIdle(),
		Log:          r.opts.Log,
	}
}

// skipIdle is whether the guest may skip its idle time: asked for, and a
// run whose guest waits on nothing but its own timers. Not on the SSH
// channel (or a shell), whose guest waits on the host under TCP's
// timeouts, which would come at once; not in a debugged run, where the
// person at gdb expects the kernel's time to pass as theirs does; and
// not with several CPUs, which -icount runs in turn on one host thread
// (a cold boot with two did not reach the init in a minute).
func (r *run) skipIdle() bool {
	return r.opts.SkipIdle && r.opts.Channel != wire.ChannelSSH && !r.opts.Shell && !r.opts.GDB && r.opts.SMP <= 1
}

// idleSkipped is whether the guest does skip its idle time: it may, and
// its accelerator can (vm.Config.SkipsIdle has the rule).
func (r *run) idleSkipped() bool {
	return vm.Config{SkipIdle: r.skipIdle(), Accel: r.accel}.SkipsIdle()
}

// takeResult copies what the run produced into the Result, and writes the
// KTAP artifact.
func (r *run) takeResult(res verdict.Result) {
	r.res.Title, r.res.Step, r.res.Crash = res.Title, res.Step, res.Crash
	r.res.Output = append(r.res.Output[:0], res.Output...)
	r.res.ContractTime = result.Seconds(res.ContractTime)
	r.res.Settled = res.Settled
	r.res.BootToInit, r.res.BootToReady = result.Seconds(res.BootToInit), result.Seconds(res.BootToReady)
	if x := res.Exec; x != nil {
		r.res.Exec = &result.Exec{Exit: x.Exit, Signal: x.Signal, Error: x.Err, Stderr: x.Stderr}
	}
	r.res.Cases, r.res.SkippedCount = nil, 0
	for _, c := range res.Cases {
		r.res.Cases = append(r.res.Cases, r.locate(result.NewCase(c)))
		if c.Result == wire.Skip {
			r.res.SkippedCount++
		}
	}
	if res.KTAP != "" {
		os.WriteFile(filepath.Join(r.opts.ArtifactDir, layout.KTAP), []byte(res.KTAP), 0o644)
	}
}

// writeDmesg saves the kernel's records of the console, without the init's
// human log, as the guest's dmesg.
func (r *run) writeDmesg(console []string) {
	var b strings.Builder
	for _, l := range console {
		for _, rec := range kreport.Records(l) {
			if rec.Kernel && !strings.HasPrefix(rec.Text, "mmaprig-init: ") {
				b.WriteString(rec.Text + "\n")
			}
		}
	}
	os.WriteFile(filepath.Join(r.opts.ArtifactDir, layout.Dmesg), []byte(b.String()), 0o644)
}

// writeKmsg saves the kernel records the guest forwarded from /dev/kmsg,
// which the console's loglevel cannot hide, when there were any.
func (r *run) writeKmsg(records []string) {
	if len(records) == 0 {
		return
	}
	os.WriteFile(filepath.Join(r.opts.ArtifactDir, layout.Kmsg), []byte(strings.Join(records, "\n")+"\n"), 0o644)
}
