package vm

import "github.com/mmaprig/mmaprig/internal/arch"

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
