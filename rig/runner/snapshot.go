package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
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
	kernelSum, err := cache.HashFile(cfg.Kernel)
	if err != nil {
		return nil, err
	}
	initrdSum, err := cache.HashFile(cfg.Initrd)
	if err != nil {
		return nil, err
	}
	qemu, err := qemuIdentity(ctx, cfg.QEMU)
	if err != nil {
		return nil, err
	}
	parts := []string{"snapshot;v1", kernelSum, initrdSum, qemu}
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

// machineArgs are QEMU's arguments without what differs between runs of
// one machine: the run's socket paths and QEMU's -name.
func machineArgs(cfg vm.Config) []string {
	cfg.Incoming = ""
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

// qemuIdentity names the QEMU binary: its path, size, time and version. A
// saved machine restores only on the QEMU that saved it.
func qemuIdentity(ctx context.Context, bin string) (string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: %s", vm.ErrNoQEMU, bin)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	first, _, _ := bytes.Cut(out, []byte("\n"))
	return strings.Join([]string{path, strconv.FormatInt(fi.Size(), 10), fi.ModTime().UTC().Format(time.RFC3339Nano), string(first)}, ";"), nil
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

// save writes the parked guest into the cache, under the snapshot's key.
func (r *run) save(ctx context.Context, v *vm.VM, s *snapshot) error {
	_, _, err := r.opts.Cache.Get(ctx, "snapshot", s.key, func(_ context.Context, dir string) error {
		return v.Save(filepath.Join(dir, snapshotFile))
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
