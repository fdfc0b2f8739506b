package vm

import (
	"fmt"
	"strconv"
)

// Device is a piece of the guest machine. Each gives its QEMU arguments
// and the kernel arguments it needs, so devices compose without a central
// switch.
type Device interface {
	QEMUArgs() []string
	KernelArgs() []string
}

// SerialConsole is the kernel console on the first UART, piped to the rig.
// It carries the kernel's messages and the init's human log, never results.
type SerialConsole struct {
	// Device is the UART's name in the guest: ttyS0 (8250) or ttyAMA0
	// (PL011).
	Device string
}

// QEMUArgs implements Device.
func (SerialConsole) QEMUArgs() []string {
	return []string{"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"}
}

// KernelArgs implements Device.
func (c SerialConsole) KernelArgs() []string { return []string{"console=" + c.Device} }

// PVPanic reports a guest panic to QEMU, which sends QMP GUEST_PANICKED:
// the ISA device on x86, the PCI one elsewhere.
type PVPanic struct {
	PCI bool
}

// QEMUArgs implements Device.
func (p PVPanic) QEMUArgs() []string {
	if p.PCI {
		return []string{"-device", "pvpanic-pci"}
	}
	return []string{"-device", "pvpanic"}
}

// KernelArgs implements Device.
func (PVPanic) KernelArgs() []string { return nil }

// ResultsPort is a named virtio-serial port whose host end is a Unix
// socket that QEMU listens on. Only the guest process that opens the port
// can write to it; the kernel's console never does.
type ResultsPort struct {
	// Name is the port's name, as the guest sees it in sysfs.
	Name string
	// Socket is the host end's path; the VM connects to it before the
	// guest runs.
	Socket string
}

// QEMUArgs implements Device.
func (p ResultsPort) QEMUArgs() []string {
	return []string{
		"-device", "virtio-serial-device,max_ports=2",
		"-chardev", "socket,id=results,path=" + p.Socket + ",server=on,wait=off",
		"-device", "virtserialport,chardev=results,name=" + p.Name,
	}
}

// KernelArgs implements Device.
func (ResultsPort) KernelArgs() []string { return nil }

// UserNet is a virtio-net device on a restricted user network that
// forwards 127.0.0.1:<free port> to the guest's port. restrict=on keeps the
// guest from reaching the host's network; only the forward comes in. The
// kernel picks the host port (port 0), so parallel runs cannot collide;
// VM.HostForward reads which it picked.
type UserNet struct {
	GuestPort int
}

// netdevID is UserNet's netdev id, for QMP set_link.
const netdevID = "n0"

// QEMUArgs implements Device.
func (u UserNet) QEMUArgs() []string {
	return []string{
		"-netdev", fmt.Sprintf("user,id=%s,restrict=on,hostfwd=tcp:127.0.0.1:0-:%s", netdevID, strconv.Itoa(u.GuestPort)),
		"-device", "virtio-net-device,netdev=" + netdevID,
	}
}

// KernelArgs implements Device.
func (UserNet) KernelArgs() []string { return nil }
