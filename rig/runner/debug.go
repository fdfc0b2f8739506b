package runner

import (
	"context"
	"debug/elf"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/atomicfile"
	"github.com/mmaprig/mmaprig/internal/kreport"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/modinfo"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/gdbinit"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// What a kernel report does to the guest (-on-crash).
const (
	// OnCrashPowerOff ends the run at a report, as always.
	OnCrashPowerOff = "poweroff"
	// OnCrashPause stops the guest at a report, for gdb, until Ctrl-C or
	// -timeout.
	OnCrashPause = "pause"
)

// OnCrashModes are -on-crash's values.
func OnCrashModes() []string { return []string{OnCrashPowerOff, OnCrashPause} }

// debugged: QEMU's gdbstub listens, and the guest reports its modules'
// sections.
func (o Options) debugged() bool { return o.GDB || o.OnCrash == OnCrashPause }

// maxSocketPath keeps a unix socket's path inside sun_path (108 bytes,
// with its NUL).
const maxSocketPath = 107

// gdbSocket is where QEMU's gdbstub listens: a unix socket in the run's
// artifact directory, beside the gdbinit that names it, or in the short
// working directory when the artifact directory's path is too long for
// one. A unix socket, not a TCP port: no other user can reach it (the
// stub reads and writes all of the guest's memory), and no port has to be
// picked free and kept free until QEMU binds it.
func (r *run) gdbSocket() string {
	if !r.opts.debugged() {
		return ""
	}
	p := filepath.Join(r.opts.ArtifactDir, layout.GDBSocket)
	if len(p) > maxSocketPath {
		p = filepath.Join(r.work.dir, layout.GDBSocket)
	}
	return p
}

// debugNames are the names of the run's modules, in load order, as
// /sys/module shows them: .modinfo's name, or the file's.
func (r *run) debugNames() []string {
	if !r.opts.debugged() {
		return nil
	}
	names := make([]string, len(r.kos))
	for i, ko := range r.kos {
		if info, err := modinfo.Read(ko); err == nil {
			if name, err := info.Name(); err == nil {
				names[i] = name
				continue
			}
		}
		names[i] = strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
	}
	return names
}

// prepareGDBScripts finds, or makes, the kernel's gdb scripts for a
// debugged run, before the guest runs: making them takes seconds, once.
// A kernel without them is debugged without them.
func (r *run) prepareGDBScripts(ctx context.Context) {
	if !r.opts.debugged() {
		return
	}
	py, err := kernel.GDBScripts(ctx, r.kernelEnv(nil), r.kernel)
	if err != nil {
		r.opts.Log.Warn("the kernel's gdb scripts (lx-symbols, lx-dmesg) could not be made; gdb goes without them", "err", err)
	}
	r.gdbScripts = py
}

// gdbCommand is the one command that attaches gdb to the guest.
func (r *run) gdbCommand() string {
	gdb := "gdb"
	if r.opts.Arch.GOARCH != runtime.GOARCH {
		gdb = "gdb-multiarch"
	}
	return gdb + " -x " + filepath.Join(r.opts.ArtifactDir, layout.GDBInit)
}

// writeGDBInit writes the run's gdbinit: the kernel, the modules at the
// addresses the guest reported, the author's paths and the kernel's gdb
// scripts, and the registers of a report when there was one.
func (r *run) writeGDBInit(modules []wire.ModuleSections, fault *gdbinit.Fault) error {
	if r.kernel == nil {
		return errors.New("no kernel to debug")
	}
	s := gdbinit.Script{Vmlinux: filepath.Join(r.kernel.BuildDir, "vmlinux"), Target: r.gdbSocket(), Fault: fault,
		Paths: r.debugPaths(), KernelScripts: r.gdbScripts}
	for i, m := range modules {
		if i < len(r.kos) {
			s.Modules = append(s.Modules, gdbinit.Module{KO: r.kos[i], Sections: fileSections(r.kos[i], m.Sections)})
		}
	}
	// Atomically: gdb may read it while it is rewritten at a crash.
	return atomicfile.WriteFile(filepath.Join(r.opts.ArtifactDir, layout.GDBInit), []byte(s.Render()), 0o644)
}

// debugPaths map the roots the module's debug info names its sources
// under to the author's tree and the kernel's source.
func (r *run) debugPaths() []gdbinit.PathMap {
	var paths []gdbinit.PathMap
	if spec, _, err := r.moduleSpec(); err == nil {
		paths = append(paths, gdbinit.PathMap{From: kernel.ModuleDebugRoot, To: spec.TreeRoot()})
	}
	src := r.kernel.BuildDir
	if s, err := filepath.EvalSymlinks(filepath.Join(src, "source")); err == nil {
		src = s
	}
	return append(paths, gdbinit.PathMap{From: kernel.KernelDebugRoot, To: src})
}

// fileSections are the sections of secs that the .ko has and loads:
// the kernel lists its own copies of the symbol and string tables too,
// which gdb would only warn about.
func fileSections(ko string, secs map[string]uint64) map[string]uint64 {
	f, err := elf.Open(ko)
	if err != nil {
		return secs
	}
	defer f.Close()
	out := map[string]uint64{}
	for name, addr := range secs {
		if s := f.Section(name); s != nil && s.Flags&elf.SHF_ALLOC != 0 {
			out[name] = addr
		}
	}
	return out
}

// onSections takes the modules' sections the guest reported after
// insmod: it writes the gdbinit, and for -gdb stops the guest, which
// waits for the rig's go, and says how to attach.
func (d *driver) onSections(ev wire.Event) {
	r := d.r
	d.sections = ev.Modules
	if !ev.OK {
		r.opts.Printer.Printf("  gdb        the guest could not read the module's sections (%s): gdb gets the kernel's symbols only", ev.Err)
	}
	if err := r.writeGDBInit(ev.Modules, nil); err != nil {
		r.opts.Log.Warn("write the gdbinit", "err", err)
	}
	if !d.spec.Hold {
		return
	}
	if err := d.vm.Pause(); err != nil {
		r.opts.Log.Warn("stop the guest for gdb; it runs on", "err", err)
		d.letGo()
		return
	}
	d.holding = true
	r.opts.Printer.Printf("  gdb        the guest is stopped after insmod; attach with:\n    %s\n  gdb        set breakpoints, then continue: the guest runs on (only -timeout bounds the run)",
		r.gdbCommand())
}

// onQMP acts on a QMP event: the guest that the rig held for gdb runs
// again (gdb's continue), so it gets its go.
func (d *driver) onQMP(event string) {
	if event == "RESUME" && d.holding {
		d.holding = false
		d.letGo()
	}
}

// letGo lets the held guest go on: the init, with a go request; or on the
// SSH channel, the rig's own steps.
func (d *driver) letGo() {
	if d.spec.Channel == wire.ChannelSSH {
		select {
		case d.release <- struct{}{}:
		default:
		}
		return
	}
	d.send(wire.Request{Go: true})
}

// pauseAtCrash keeps a guest that crashed stopped for gdb (-on-crash
// pause) until ctx ends (Ctrl-C, -timeout) or QEMU exits: the kernel
// panicked after its report and QEMU paused it (-action panic=pause), or
// the rig stops it now. The gdbinit gets the report's registers.
func (d *driver) pauseAtCrash(ctx context.Context, res verdict.Result) {
	r := d.r
	select {
	case <-d.vm.Exited():
		r.opts.Printer.Printf("  gdb        the guest ended before it could be stopped: nothing to attach to")
		return
	default:
	}
	state, err := d.vm.Status()
	if err == nil && state == "running" {
		if err := d.vm.Pause(); err != nil {
			r.opts.Log.Warn("stop the crashed guest", "err", err)
		}
		state, _ = d.vm.Status()
	}
	// No registers (a report that printed none): the gdbinit has no
	// mmaprig-fault, and bt starts in the panic.
	fault, _ := gdbinit.ParseFault(r.opts.Arch.GOARCH, reportLines(d.eng, res))
	if err := r.writeGDBInit(d.sections, fault); err != nil {
		r.opts.Log.Warn("write the gdbinit", "err", err)
	}
	r.opts.Printer.Printf("  gdb        the guest is stopped at the kernel's report (%s; QEMU is %s); attach with:\n    %s\n  gdb        Ctrl-C ends the run (or -timeout)",
		res.Title, state, r.gdbCommand())
	d.keepStopped(ctx)
}

// restopAfter is how long a crashed guest may run after gdb let it go
// before the rig stops it again: gdb's own steps stop it sooner.
const restopAfter = time.Second

// keepStopped waits until ctx ends or QEMU exits, and stops the guest
// again when it runs on its own: gdb resumes it when it detaches (quit),
// and a panicked guest can only spin in its panic.
func (d *driver) keepStopped(ctx context.Context) {
	events := d.vm.Events()
	var restop <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.vm.Exited():
			return
		case ev, ok := <-events:
			switch {
			case !ok:
				events = nil
			case ev.Event == "RESUME":
				restop = time.After(restopAfter)
			case ev.Event == "STOP":
				restop = nil
			}
		case <-restop:
			restop = nil
			if err := d.vm.Pause(); err != nil {
				d.r.opts.Log.Warn("stop the crashed guest again", "err", err)
				break
			}
			d.r.opts.Printer.Printf("  gdb        the guest ran on after gdb let it go (it can only spin in its panic): stopped it again")
		}
	}
}

// reportLines are the lines of the report the verdict is about: the
// console's from the report on, or the kernel log's the guest forwarded.
func reportLines(eng *verdict.Engine, res verdict.Result) []string {
	for _, lines := range [][]string{eng.Console(), eng.Kmsg()} {
		if rep, ok := kreport.Parse(lines); ok && res.Crash != nil && rep.Title == res.Crash.Title {
			return lines[rep.Start:]
		}
	}
	return eng.Console()
}
