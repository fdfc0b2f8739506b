package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// Boot modes.
const (
	// BootAuto restores the guest from a saved snapshot when there is one
	// for this machine, and saves one on a cold boot when there is not.
	BootAuto = "auto"
	// BootCold always boots, and neither uses nor saves a snapshot.
	BootCold = "cold"
)

// snapshotFile is the saved guest inside its cache entry.
const snapshotFile = "vm.state"

// snapshot is where a run's machine is saved: a guest parked in its init,
// waiting for work on the results port. Nothing of a run is in it.
type snapshot struct {
	key string
	// path is the saved state, if it exists.
	path string
}

// snapshotFor finds the snapshot of the machine cfg describes. Its key
// covers everything the saved state depends on: the kernel and the
// initramfs (by content), the QEMU binary and version, the whole machine
// command line (memory, CPUs and accelerator included), and for KVM the
// host's CPU.
func (r *run) snapshotFor(ctx context.Context, cfg vm.Config) (*snapshot, error) {
	var parts []string
	for _, f := range []string{cfg.Kernel, cfg.Initrd} {
		id, err := fileIdentity(f)
		if err != nil {
			return nil, err
		}
		parts = append(parts, id)
	}
	qemu, err := r.qemuIdentity(ctx, cfg.QEMU)
	if err != nil {
		return nil, err
	}
	parts = append([]string{"snapshot;v1", qemu}, parts...)
	parts = append(parts, machineArgs(cfg)...)
	if cfg.Accel.Name == "kvm" {
		cpu, _ := os.ReadFile("/proc/cpuinfo")
		parts = append(parts, hostCPU(string(cpu)))
	}
	s := &snapshot{key: cache.Key(parts...)}
	r.opts.Log.Debug("snapshot key", "key", s.key, "parts", parts)
	if dir, ok := r.opts.Cache.Lookup("snapshot", s.key); ok {
		s.path = filepath.Join(dir, snapshotFile)
	}
	return s, nil
}

// fileIdentity names a file by its path, size and time. The kernel and
// the initramfs live in cache entries, which no one writes once they are
// committed, but for a local tree's kernel, which make rebuilds in place
// (and so gives a new time).
func fileIdentity(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return strings.Join([]string{path, strconv.FormatInt(fi.Size(), 10), fi.ModTime().UTC().Format(time.RFC3339Nano)}, ";"), nil
}

// machineArgs are QEMU's arguments without what differs between runs of
// one machine: the run's socket paths and QEMU's -name, and what is no
// part of the saved state (the gdbstub, the action at a panic), so that a
// debugged run restores the same snapshot.
func machineArgs(cfg vm.Config) []string {
	cfg.Incoming, cfg.GDBSocket, cfg.PauseOnPanic = "", "", false
	args := cfg.Args(filepath.Join(cfg.RuntimeDir, "qmp.sock"))
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if args[i] == "-name" {
			i++
			continue
		}
		out = append(out, strings.ReplaceAll(args[i], cfg.RuntimeDir, "RUNTIME"))
	}
	return out
}

// qemuIdentity names the QEMU binary: its path, size, time and version.
// A saved machine restores only on the QEMU that saved it. The version is
// remembered in the cache for the binary, so a warm run does not start
// QEMU once more to ask.
func (r *run) qemuIdentity(ctx context.Context, bin string) (string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: %s", vm.ErrNoQEMU, bin)
	}
	id, err := fileIdentity(path)
	if err != nil {
		return "", err
	}
	memo := filepath.Join(r.opts.Cache.Root(), "qemu-versions", cache.Key(id))
	if b, err := os.ReadFile(memo); err == nil && len(b) > 0 {
		return id + ";" + string(b), nil
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	version, _, _ := strings.Cut(string(out), "\n")
	if err := os.MkdirAll(filepath.Dir(memo), 0o755); err == nil {
		tmp := memo + ".tmp-" + strconv.Itoa(os.Getpid())
		if os.WriteFile(tmp, []byte(version), 0o644) == nil {
			os.Rename(tmp, memo)
		}
	}
	return id + ";" + version, nil
}

// hostCPU is the host's CPU model and flags, which a KVM guest's saved
// state (-cpu host) depends on.
func hostCPU(cpuinfo string) string {
	var model, flags string
	for _, l := range strings.Split(cpuinfo, "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch strings.TrimSpace(k) {
		case "model name":
			model = strings.TrimSpace(v)
		case "flags":
			flags = strings.TrimSpace(v)
		}
		if model != "" && flags != "" {
			break
		}
	}
	return model + ";" + flags
}

// saveSnapshot saves the guest, parked in its init before any work, for
// later runs of this machine to restore, and resumes it. A failure costs
// this run nothing. It returns how it went, for the boot stage's line, and
// why it failed.
func (r *run) saveSnapshot(ctx context.Context, v machineVM, s *snapshot) (string, string) {
	start := time.Now()
	err := r.save(ctx, v, s)
	if rerr := v.Resume(); err == nil {
		err = rerr
	}
	if err != nil {
		r.opts.Log.Warn("save a snapshot", "err", err)
		return "no snapshot saved (" + err.Error() + ")", err.Error()
	}
	return "snapshot saved in " + progress.FormatDuration(time.Since(start)), ""
}

// save writes the parked guest into the cache, under the snapshot's key.
func (r *run) save(ctx context.Context, v machineVM, s *snapshot) error {
	// The guest waits, paused, while this runs: bound the wait for the
	// entry's lock too, which another rig saving the same machine holds.
	ctx, cancel := context.WithTimeout(ctx, vm.SaveTimeout)
	defer cancel()
	_, _, err := r.opts.Cache.Get(ctx, "snapshot", s.key, func(_ context.Context, dir string) error {
		// The state and its checksum record are committed together, when
		// the cache renames the entry into place.
		return v.Save(ctx, filepath.Join(dir, snapshotFile))
	})
	return err
}

// dropSnapshot removes a snapshot that did not restore, so the run after
// saves a fresh one.
func (r *run) dropSnapshot(s *snapshot) {
	if err := r.opts.Cache.Remove(context.Background(), "snapshot", s.key); err != nil {
		r.opts.Log.Warn("remove a snapshot that did not restore", "key", s.key, "err", err)
	}
	s.path = ""
}

// earlyVM is a guest being restored from a snapshot, paused, while the
// run does other work; bootVM resumes it.
type earlyVM struct {
	cfg  vm.Config
	snap *snapshot
	done chan struct{}
	v    machineVM
	err  error
	took time.Duration
	// taken: bootVM owns the VM now.
	taken bool
}

// restore starts restoring snap in the background. The snapshot's
// checksum is checked first, before QEMU reads the file: QEMU would load a
// flipped byte of guest RAM without a word. A mismatch is a restore that
// failed, and the run boots cold.
func (r *run) restore(ctx context.Context, cfg vm.Config, snap *snapshot) *earlyVM {
	cfg.Incoming, cfg.Paused = snap.path, true
	e := &earlyVM{cfg: cfg, snap: snap, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		start := time.Now()
		if err := vm.CheckSnapshot(ctx, snap.path); err != nil {
			e.err = fmt.Errorf("%w: %w", errRestore, err)
			return
		}
		r.opts.Log.Debug("snapshot checksum matches", "path", snap.path, "took", time.Since(start))
		e.v, e.err = r.vms.start(ctx, cfg)
		e.took = time.Since(start)
		if e.err != nil {
			e.err = fmt.Errorf("%w: %w", errRestore, e.err)
		}
	}()
	return e
}

// startRestore restores the machine's snapshot while the module builds,
// if it has one and the run may use it.
func (r *run) startRestore(ctx context.Context) {
	if r.opts.Boot != BootAuto {
		return
	}
	cfg := r.vmConfig()
	snap, err := r.snapshotFor(ctx, cfg)
	if err != nil || snap.path == "" {
		return
	}
	r.early = r.restore(ctx, cfg, snap)
}

// take hands the early VM to the boot stage; nil if there is none.
func (e *earlyVM) take() *earlyVM {
	if e == nil {
		return nil
	}
	<-e.done
	e.taken = true
	return e
}

// stop kills an early VM that the run never took (the module did not
// build, or the run was interrupted).
func (e *earlyVM) stop() {
	if e == nil || e.taken {
		return
	}
	<-e.done
	if e.v != nil {
		e.v.Kill()
	}
	// The guest never ran: its logs would only mislead.
	for _, f := range []string{layout.ConsoleLog, layout.QEMULog, layout.QEMUCmdline, layout.QEMUArgv} {
		os.Remove(filepath.Join(e.cfg.ArtifactDir, f))
	}
}
