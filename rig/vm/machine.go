package vm

import "github.com/mmaprig/mmaprig/internal/arch"

// machineArgs are QEMU's machine and CPU for the architecture: the
// smallest machine that boots a kernel with the rig's devices.
//
//   - x86_64: microvm, which skips the PCI and firmware work of pc, with
//     its devices on virtio-mmio. Under KVM the host's CPU.
//   - arm64: virt, with the devices on virtio-mmio too. -cpu max under
//     TCG, the host's CPU under KVM (on an arm64 host).
func machineArgs(a arch.Arch, accel Accel) []string {
	cpu := "max"
	if accel.Name == "kvm" {
		cpu = "host"
	}
	machine := "microvm"
	if a.Name == "arm64" {
		machine = "virt"
	}
	return []string{"-M", machine + ",accel=" + accel.Name, "-cpu", cpu}
}
