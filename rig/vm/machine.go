package vm

import (
	"fmt"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// machineArgs are QEMU's machine and CPU for the architecture: the
// smallest machine that boots a kernel with the rig's devices.
//
//   - x86_64: microvm, which skips the PCI and firmware work of pc, with
//     its devices on virtio-mmio. Under KVM the host's CPU.
//   - arm64: virt, with the devices on its virtio-mmio transports (found
//     in the device tree QEMU generates) and pvpanic on its PCIe host.
//     Under TCG, -cpu max with pauth-impdef=on: pointer authentication
//     with QEMU's own cheap algorithm instead of the architected QARMA,
//     which is costly to emulate (reported to cut a defconfig boot from
//     10.4 s to 7.05 s). The rig's tinyconfig kernels leave
//     ARM64_PTR_AUTH off and Go emits no PAC instructions, so it measured
//     the same here; it is for fragments that turn it on. Under KVM (an
//     arm64 host only) the host's CPU and the host's GIC, since a GICv3
//     host may not emulate the GICv2 that virt picks by default.
func machineArgs(a arch.Arch, accel Accel) []string {
	kvm := accel.Name == "kvm"
	if a.Name == "arm64" {
		if kvm {
			return []string{"-M", "virt,gic-version=host,accel=kvm", "-cpu", "host"}
		}
		return []string{"-M", "virt,accel=" + accel.Name, "-cpu", "max,pauth-impdef=on"}
	}
	cpu := "max"
	if kvm {
		cpu = "host"
	}
	return []string{"-M", "microvm,accel=" + accel.Name, "-cpu", cpu}
}

// SkipsIdle reports whether the guest's clock jumps over its idle time:
// asked for, and possible, which only TCG's instruction counter makes it.
func (cfg Config) SkipsIdle() bool { return cfg.SkipIdle && cfg.Accel.Name == "tcg" }

// IdleShift is -icount's shift when the guest skips its idle time: each
// instruction counts 2^3 = 8 ns of the guest's time, a 125 MHz CPU of one
// instruction a cycle. Measured under TCG on a 2-core host (docs/
// performance.md), busy kernel code ran at 40-55 million instructions a
// second, so the guest's clock runs at about half the host's while it
// works: near enough that its busy-waits (udelay, mdelay) cost what they
// do without -icount, its stall detectors keep their sense, and the
// run's deadlines hold on the host's clock anyway (the guest's bounds
// end at whichever clock gets there first). A smaller shift made warm
// runs a little faster and busy-waits several times dearer; a larger one
// made every run slower (more timer interrupts for the same work).
const IdleShift = 3

// skipIdleArgs are QEMU's -icount with sleep=off, when the guest skips
// its idle time. The guest's clock then counts the instructions it runs,
// and when its CPU idles the clock jumps to the next timer due instead of
// waiting for it. A timer still fires in its order and at its guest time,
// and the guest sees no difference; only the host's wall clock stops
// paying for the guest's sleeps: the settle window, RCU grace periods,
// timer ticks a test waits on. A guest that waits on the host with a
// timeout of its own (the SSH channel's TCP) must not have it, since its
// timeout would come at once. (shift=auto is no good with sleep=off:
// QEMU counts each jump as time the guest ran ahead of the host, and
// slows its clock, for the rest of the run, to pay it back.)
func (cfg Config) skipIdleArgs() []string {
	if !cfg.SkipsIdle() {
		return nil
	}
	return []string{"-icount", fmt.Sprintf("shift=%d,sleep=off", IdleShift)}
}
