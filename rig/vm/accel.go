package vm

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// Accel is the accelerator a VM runs under, and why it was chosen.
type Accel struct {
	Name   string // "kvm" or "tcg"
	Reason string
}

func (a Accel) String() string { return a.Name + " (" + a.Reason + ")" }

// Host describes what the accelerator probe looks at; Detect uses the real
// host, tests use fakes.
type Host struct {
	// SysModule is /sys/module.
	SysModule string
	// DevKVM is /dev/kvm.
	DevKVM string
	// Arch is the host's architecture.
	Arch arch.Arch
}

// RealHost is this machine.
var RealHost = Host{SysModule: "/sys/module", DevKVM: "/dev/kvm", Arch: arch.Host()}

// DetectAccel picks the accelerator for mode "auto", "kvm" or "tcg", for
// a guest of architecture guest.
//
// KVM runs only guests of the host's own architecture: a foreign guest
// (arm64 on x86_64) always runs under TCG, and -accel kvm for one is an
// error. Otherwise KVM is used only where it really works: /dev/kvm must
// open read-write and, on x86, a hardware KVM module (kvm_intel or
// kvm_amd) must be loaded. A paravirtual /dev/kvm (kvm_pvm) crashes stock
// kernels, so it means TCG. On an arm64 host, KVM is the CPU's own
// virtualization, built into the kernel: a /dev/kvm that opens is enough.
func (h Host) DetectAccel(mode string, guest arch.Arch) (Accel, error) {
	foreign := guest.Name != "" && guest.Name != h.Arch.Name
	switch mode {
	case "tcg":
		return Accel{"tcg", "chosen with -accel tcg"}, nil
	case "kvm":
		if foreign {
			return Accel{}, fmt.Errorf("-accel kvm: KVM runs only guests of the host's architecture (%s), not %s; an %s guest runs under TCG (-accel tcg or auto)",
				h.Arch.Name, guest.Name, guest.Name)
		}
		return Accel{"kvm", "chosen with -accel kvm"}, nil
	case "auto", "":
	default:
		return Accel{}, fmt.Errorf("-accel %q: want auto, kvm or tcg", mode)
	}
	if foreign {
		return Accel{"tcg", fmt.Sprintf("an %s guest on an %s host: KVM runs only the host's architecture", guest.Name, h.Arch.Name)}, nil
	}
	if f, err := os.OpenFile(h.DevKVM, os.O_RDWR, 0); err != nil {
		return Accel{"tcg", fmt.Sprintf("%s is not usable: %v", h.DevKVM, err)}, nil
	} else {
		f.Close()
	}
	if h.Arch.Name == "arm64" {
		return Accel{"kvm", h.DevKVM + " opens on an arm64 host"}, nil
	}
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if h.loaded(m) {
			return Accel{"kvm", m + " is loaded and " + h.DevKVM + " opens"}, nil
		}
	}
	if h.loaded("kvm_pvm") {
		return Accel{"tcg", h.DevKVM + " is paravirtual (kvm_pvm), which crashes stock kernels"}, nil
	}
	return Accel{"tcg", "no hardware KVM module (kvm_intel, kvm_amd) is loaded"}, nil
}

func (h Host) loaded(module string) bool {
	_, err := os.Stat(h.SysModule + "/" + module)
	return err == nil
}

// TCGKernelArgs are kernel arguments a guest needs under TCG. A TCG guest's
// TSC runs at the host's rate, but the kernel calibrates it against the
// emulated PIT, and on a loaded host that fails ("Marking TSC unstable due
// to could not calculate TSC khz"); microvm has no HPET or PM timer to fall
// back on, and the boot stalls. Telling the kernel the rate skips that.
//
// The clocksource watchdog then checks that TSC against jiffies, the only
// other clock microvm has, and under TCG jiffies are what lag: a busy
// vCPU takes its timer interrupts late. The watchdog calls the TSC
// unstable ("timekeeping watchdog ... skew is too large") a second or a
// few into a run, cold or restored, and switches to jiffies. The TSC is
// the host's constant TSC, so tsc=reliable keeps it and skips the check.
func TCGKernelArgs(cpuinfo string) []string {
	khz := hostTSCkHz(cpuinfo)
	if khz <= 0 {
		return nil
	}
	return []string{"tsc_early_khz=" + strconv.Itoa(khz), "tsc=reliable"}
}

var cpuMHzRE = regexp.MustCompile(`(?m)^cpu MHz\s*:\s*([0-9.]+)$`)

// hostTSCkHz reads the TSC rate from /proc/cpuinfo text; it is the "cpu
// MHz" line only where the TSC is constant.
func hostTSCkHz(cpuinfo string) int {
	if !strings.Contains(cpuinfo, "constant_tsc") {
		return 0
	}
	m := cpuMHzRE.FindStringSubmatch(cpuinfo)
	if m == nil {
		return 0
	}
	mhz, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	return int(mhz * 1000)
}
