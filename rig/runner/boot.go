package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mmaprig/mmaprig/internal/kreport"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/channel"
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

// sendTimeout bounds a write to the results port.
const sendTimeout = 10 * time.Second

// QEMUName is the -name of the QEMU that the rig with this pid starts.
func QEMUName(pid int) string { return "mmaprig-rig-" + strconv.Itoa(pid) }

// driver runs one VM: it feeds everything that happens to the verdict
// engine, and acts on what the engine accepts (the SSH driver, faults, the
// power off). It decides nothing itself.
type driver struct {
	r     *run
	spec  verdict.Spec
	eng   *verdict.Engine
	rec   *verdict.Recorder
	vm    *vm.VM
	port  *channel.Port
	work  *wire.Work
	start time.Time
	// host carries the SSH driver's inputs and the port writers' errors.
	host chan verdict.Input
	// ctx ends when the loop does; wg counts the goroutines that use it.
	ctx context.Context
	wg  sync.WaitGroup
	// sentWork: the guest said hello and got its work.
	sentWork bool
	// snap, if set, is where to save the guest once it waits for work;
	// saved says how that went.
	snap  *snapshot
	saved string
	// saveErr is why the snapshot was not saved.
	saveErr string
	// askedOff: the guest was asked to power off.
	askedOff bool
	faults   faults
}

// restoreBootTimeout bounds the boot step of a restored guest: it is up
// already, and only has to take its work.
const restoreBootTimeout = 10 * time.Second

func (r *run) boot(ctx context.Context, st *Stage) (string, bool, error) {
	// A restore the module stage started, or one that starts now.
	e := r.early.take()
	var snap *snapshot
	if e == nil && r.opts.Boot == BootAuto {
		cfg := r.vmConfig()
		var err error
		switch snap, err = r.snapshotFor(ctx, cfg); {
		case err != nil:
			r.opts.Log.Warn("no snapshot for this machine", "err", err)
			snap = nil
		case snap.path != "":
			e = r.restore(ctx, cfg, snap).take()
		}
	}
	if e != nil {
		snap = e.snap
		err := e.err
		if err == nil {
			var summary string
			if summary, err = r.bootVM(ctx, e.cfg, e.snap, e); !errors.Is(err, errRestore) {
				return summary, true, err
			}
		}
		if ctx.Err() != nil {
			// Interrupted, not a bad snapshot: keep it.
			return "", true, fail(verdict.Infra, ctx.Err(), "interrupted while the saved guest was restored")
		}
		logs := fmt.Sprintf(" (the restore's logs: %s*)", restorePrefix)
		if errors.Is(err, vm.ErrSnapshotSum) {
			logs = "" // the file was refused before any QEMU read it
		}
		r.opts.Printer.Printf("  snapshot   %v; booting cold, and saving a new one%s", err, logs)
		r.restoreFailed = err.Error()
		r.keepRestoreLogs()
		r.dropSnapshot(snap)
	}
	summary, err := r.bootVM(ctx, r.vmConfig(), snap, nil)
	return summary, false, err
}

// restorePrefix names the logs of a restore that failed, kept beside the
// cold boot's.
const restorePrefix = "restore-"

// keepRestoreLogs renames what a failed restore wrote, so that the cold
// boot after it does not overwrite the evidence.
func (r *run) keepRestoreLogs() {
	for _, f := range []string{"console.log", "qemu.log", "qemu.cmdline", "qemu.cmdline.json", "engine.log", "dmesg.txt", "run.json"} {
		p := filepath.Join(r.opts.ArtifactDir, f)
		if _, err := os.Stat(p); err == nil {
			if err := os.Rename(p, filepath.Join(r.opts.ArtifactDir, restorePrefix+f)); err != nil {
				r.opts.Log.Warn("keep a failed restore's log", "file", f, "err", err)
			}
		}
	}
}

// errRestore: a saved guest was found but did not come back.
var errRestore = errors.New("the saved guest did not restore")

// bootVM runs the guest once: restored from snap (by e, which started or
// failed to start it), or booted cold when e is nil, saving it into snap
// (when snap has no saved state yet) once its init waits for work.
func (r *run) bootVM(ctx context.Context, cfg vm.Config, snap *snapshot, e *earlyVM) (string, error) {
	restore := e != nil
	// A restored VM is running (paused) already: every return before the
	// driver owns it must kill it.
	var owned bool
	if restore {
		defer func() {
			if v, err := e.wait(); err == nil && !owned {
				v.Kill()
			}
		}()
	}
	nonce, err := newNonce()
	if err != nil {
		return "", fail(verdict.Infra, err, "make the run's nonce")
	}
	spec := r.spec(nonce)
	if restore {
		spec.BootTimeout = restoreBootTimeout
	}
	r.res.Nonce = nonce
	if err := r.writeRunJSON(spec); err != nil {
		return "", fail(verdict.Setup, err, "write run.json")
	}
	work, err := r.guestWork(spec)
	switch {
	case errors.Is(err, errWorkTooBig):
		return "", fail(verdict.Setup, err, "the guest's work is too big")
	case err != nil:
		return "", fail(verdict.Infra, err, "prepare the guest's work")
	}
	logf, err := os.Create(filepath.Join(r.opts.ArtifactDir, "engine.log"))
	if err != nil {
		return "", fail(verdict.Setup, err, "create engine.log")
	}
	defer logf.Close()
	rec, err := verdict.NewRecorder(logf, spec)
	if err != nil {
		return "", fail(verdict.Infra, err, "write engine.log")
	}
	defer rec.Flush()

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &driver{r: r, spec: spec, eng: verdict.New(spec), rec: rec, work: work,
		host: make(chan verdict.Input, 16), ctx: lctx, faults: newFaults(r.opts.Inject)}
	if !restore && snap != nil && snap.path == "" {
		d.snap = snap
	}
	var v *vm.VM
	how := "booted"
	if restore {
		// The saved guest waits for its work: it said hello before it
		// was saved.
		if v, err = e.wait(); err != nil {
			return "", err
		}
		how = "restored from a snapshot in " + FormatDuration(e.took)
		r.res.BootToInit = result.Seconds(e.took)
		d.start = time.Now()
		if err := v.Resume(); err != nil {
			v.Kill()
			return "", fmt.Errorf("%w: %w", errRestore, err)
		}
	} else {
		d.start = time.Now()
		if v, err = vm.Start(ctx, cfg); err != nil {
			if ctx.Err() != nil {
				return "", fail(verdict.Infra, ctx.Err(), "interrupted while QEMU started")
			}
			return "", fail(verdict.Setup, err, "start QEMU")
		}
	}
	owned = true
	r.res.Boot = &result.Boot{Mode: result.BootCold, RestoreFailed: r.restoreFailed}
	if restore {
		r.res.Boot.Mode = result.BootRestored
	}
	// Deferred calls run last first: QEMU stops, which closes the port
	// and ends SSH, and then the driver's goroutines are waited for.
	defer d.wg.Wait()
	defer v.Stop(2 * time.Second)
	d.vm = v
	d.port = channel.OpenPort(v.Port())
	r.opts.Log.Debug("qemu started", "cmdline", v.Cmdline())
	if restore {
		d.sentWork = true
		d.send(wire.Request{Work: work})
	}

	res, err := d.loop(lctx)
	cancel()
	r.res.BootToVerdict = result.Seconds(time.Since(d.start))
	r.writeDmesg(d.eng.Console())
	r.writeKmsg(d.eng.Kmsg())
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
	boot := r.res.BootToInit
	r.takeResult(res)
	if spec.Coverage && len(res.Coverage) > 0 {
		c, err := r.coverage(ctx, res.Coverage)
		if err != nil {
			return "", fail(verdict.Infra, err, "report the module's coverage")
		}
		r.res.Coverage = c
	}
	if restore {
		// No hello from a restored guest: its init was up at once.
		r.res.BootToInit = boot
	}
	r.res.Boot.Took = r.res.BootToInit
	if d.saved != "" {
		how += ", " + d.saved
	}
	r.res.Boot.Saved, r.res.Boot.SaveError = d.saved != "" && d.saveErr == "", d.saveErr
	summary := fmt.Sprintf("%s; verdict in %s, accel %s", how, FormatDuration(r.res.BootToVerdict.D()), r.res.Accel)
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
		Arch:        r.opts.Arch,
		QEMU:        r.opts.QEMU,
		Name:        QEMUName(os.Getpid()),
		Kernel:      r.kernel.Image,
		Initrd:      r.initrd,
		Append:      args,
		MemMB:       mem,
		SMP:         r.opts.SMP,
		Accel:       r.accel,
		Devices:     devices,
		ArtifactDir: r.opts.ArtifactDir,
		RuntimeDir:  r.work.dir,
		Log:         r.opts.Log,
	}
}

// takeResult copies what the run produced into the Result, and writes the
// KTAP artifact.
func (r *run) takeResult(res verdict.Result) {
	r.res.Title, r.res.Step, r.res.Crash = res.Title, res.Step, res.Crash
	r.res.Output = append(r.res.Output[:0], res.Output...)
	r.res.ContractTime = result.Seconds(res.ContractTime)
	r.res.BootToInit, r.res.BootToReady = result.Seconds(res.BootToInit), result.Seconds(res.BootToReady)
	if x := res.Exec; x != nil {
		r.res.Exec = &result.Exec{Exit: x.Exit, Signal: x.Signal, Error: x.Err, Stderr: x.Stderr}
	}
	r.res.Cases, r.res.SkippedCount = nil, 0
	for _, c := range res.Cases {
		r.res.Cases = append(r.res.Cases, result.NewCase(c))
		if c.Result == wire.Skip {
			r.res.SkippedCount++
		}
	}
	if res.KTAP != "" {
		os.WriteFile(filepath.Join(r.opts.ArtifactDir, "ktap.txt"), []byte(res.KTAP), 0o644)
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
	os.WriteFile(filepath.Join(r.opts.ArtifactDir, "dmesg.txt"), []byte(b.String()), 0o644)
}

// writeKmsg saves the kernel records the guest forwarded from /dev/kmsg,
// which the console's loglevel cannot hide, when there were any.
func (r *run) writeKmsg(records []string) {
	if len(records) == 0 {
		return
	}
	os.WriteFile(filepath.Join(r.opts.ArtifactDir, "kmsg.txt"), []byte(strings.Join(records, "\n")+"\n"), 0o644)
}

// feed gives the engine one input, recording it, and acts on what it
// accepted.
func (d *driver) feed(kind verdict.Kind, text string) verdict.Status {
	in := verdict.Input{At: time.Since(d.start), Kind: kind, Text: text}
	d.rec.Record(in)
	st := d.eng.Feed(in)
	if st.Accepted != nil {
		d.accepted(*st.Accepted)
	}
	if st.Settling && !st.Done && !st.Ended && d.spec.Channel == wire.ChannelSSH && !d.askedOff {
		d.askedOff = true
		d.send(wire.Request{PowerOff: true})
	}
	return st
}

// send writes a request to the guest init without blocking the loop; a
// failure reaches the engine as a broken port.
func (d *driver) send(req wire.Request) {
	d.wg.Go(func() {
		if err := d.port.Send(req, sendTimeout); err != nil {
			select {
			case d.host <- verdict.Input{Kind: verdict.PortError, Text: err.Error()}:
			case <-d.ctx.Done():
			}
		}
	})
}

func (d *driver) accepted(st verdict.Step) {
	if st.Event == wire.EvReady {
		d.wg.Go(func() { d.driveSSH(d.ctx) })
	}
	if st.Source == verdict.Host && d.nextIs(wire.EvSettle) {
		// The rig's last step over SSH is done: the guest settles and
		// ends the run itself.
		d.send(wire.Request{Settle: true})
	}
	d.faults.after(d, st.Event)
}

// nextIs reports whether the plan's next step is event.
func (d *driver) nextIs(event string) bool {
	next, ok := d.eng.Next()
	return ok && next.Event == event
}

// loop reads the console, the results port, QMP and the SSH driver until
// the engine has a verdict.
func (d *driver) loop(ctx context.Context) (verdict.Result, error) {
	console, port := d.vm.Console(), d.port.Lines()
	events := d.vm.Events()
	exited := d.vm.Exited()
	var consoleDone, portDone, qmpDone, qemuDone, exitFed bool
	var drainBy <-chan time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	st := d.feed(verdict.Tick, "")
	for !st.Done {
		timer.Reset(time.Until(d.start.Add(st.Deadline)))
		select {
		case <-console.Notify():
			lines, closed := console.Take()
			for _, l := range lines {
				if st = d.feed(verdict.Console, l); st.Done {
					break
				}
			}
			consoleDone = closed
		case <-port.Notify():
			lines, closed := port.Take()
			for _, l := range lines {
				if d.faults.drop(d, l) {
					continue
				}
				if !d.sentWork && isHello(l) {
					d.sentWork = true
					d.saveSnapshot()
					d.send(wire.Request{Work: d.work})
				}
				if st = d.feed(verdict.Port, l); st.Done {
					break
				}
			}
			if closed && !portDone {
				portDone = true
				if err := d.port.Err(); err != nil {
					st = d.feed(verdict.PortError, err.Error())
				}
			}
		case ev, ok := <-events:
			if !ok {
				qmpDone, events = true, nil
				break
			}
			text := ev.Event
			if reason, ok := ev.Data["reason"].(string); ok && ev.Event == "SHUTDOWN" {
				text += " " + reason
			}
			st = d.feed(verdict.QMP, text)
		case in := <-d.host:
			st = d.feed(in.Kind, in.Text)
		case <-exited:
			qemuDone, exited = true, nil
			drainBy = time.After(time.Second)
		case <-drainBy:
			consoleDone, portDone, qmpDone = true, true, true
		case <-timer.C:
			if !st.Settling {
				if s, err := d.vm.Status(); err == nil {
					d.feed(verdict.QMP, "status "+s)
				}
			}
			st = d.feed(verdict.Tick, "")
		case <-ctx.Done():
			return verdict.Result{}, fail(verdict.Infra, ctx.Err(), "interrupted while the guest ran")
		}
		// QEMU's exit counts once every stream it fed is read to its end.
		if qemuDone && consoleDone && portDone && qmpDone && !exitFed && !st.Done {
			exitFed = true
			text := ""
			if err := d.vm.ExitErr(); err != nil {
				text = err.Error() + "; see " + filepath.Join(d.r.opts.ArtifactDir, "qemu.log")
			}
			st = d.feed(verdict.Exit, text)
		}
	}
	return d.eng.Result(), nil
}

// saveSnapshot saves the guest, parked in its init before any work, for
// later runs of this machine to restore. A failure costs this run nothing.
func (d *driver) saveSnapshot() {
	if d.snap == nil {
		return
	}
	start := time.Now()
	err := d.r.save(d.ctx, d.vm, d.snap)
	if rerr := d.vm.Resume(); err == nil {
		err = rerr
	}
	if err != nil {
		d.saved, d.saveErr = "no snapshot saved ("+err.Error()+")", err.Error()
		d.r.opts.Log.Warn("save a snapshot", "err", err)
		return
	}
	d.saved = "snapshot saved in " + FormatDuration(time.Since(start))
}

// isHello reports whether a port line is the init's hello. The engine
// judges it; the driver only answers it with the work.
func isHello(line string) bool {
	ev, err := wire.DecodeEvent([]byte(line))
	return err == nil && ev.Name == wire.EvHello
}
