// Package arch describes the guest architectures the rig builds kernels
// for and boots: how the kernel is built (ARCH=, the cross compiler, the
// image), how the guest programs are built (GOARCH), and which QEMU runs
// them. The machine each one boots on is rig/vm's business.
package arch

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
)

// Arch is one guest architecture.
type Arch struct {
	// Name is the rig's name for it, as -arch takes it.
	Name string
	// Uname is what uname -m says in the guest.
	Uname string
	// KernelArch is the kernel's ARCH=.
	KernelArch string
	// CrossCompile is the CROSS_COMPILE= prefix on a host of another
	// architecture.
	CrossCompile string
	// Image is the boot image inside a built tree.
	Image string
	// Target is make's target for Image.
	Target string
	// GOARCH builds the guest programs.
	GOARCH string
	// QEMU is the qemu-system binary.
	QEMU string
	// Fragment is the base config fragment for the architecture.
	Fragment string
	// Console is the kernel's console device.
	Console string
}

var known = map[string]Arch{
	"x86_64": {
		Name: "x86_64", Uname: "x86_64", KernelArch: "x86", CrossCompile: "x86_64-linux-gnu-",
		Image: "arch/x86/boot/bzImage", Target: "bzImage", GOARCH: "amd64",
		QEMU: "qemu-system-x86_64", Fragment: "base", Console: "ttyS0",
	},
	"arm64": {
		Name: "arm64", Uname: "aarch64", KernelArch: "arm64", CrossCompile: "aarch64-linux-gnu-",
		Image: "arch/arm64/boot/Image", Target: "Image", GOARCH: "arm64",
		QEMU: "qemu-system-aarch64", Fragment: "arm64", Console: "ttyAMA0",
	},
}

// Get returns the architecture called name; "aarch64" and "amd64" are
// taken too.
func Get(name string) (Arch, error) {
	switch name {
	case "aarch64":
		name = "arm64"
	case "amd64":
		name = "x86_64"
	}
	a, ok := known[name]
	if !ok {
		return Arch{}, fmt.Errorf("unknown architecture %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	return a, nil
}

// Names lists the known architectures.
func Names() []string {
	var names []string
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Host is the architecture the rig runs on.
func Host() Arch {
	a, err := Get(runtime.GOARCH)
	if err != nil {
		return known["x86_64"]
	}
	return a
}

// Native reports whether a runs on this host without a cross compiler.
func (a Arch) Native() bool { return a.GOARCH == runtime.GOARCH }

// MakeArgs are the make variables that build a kernel or a module for a.
func (a Arch) MakeArgs() []string {
	args := []string{"ARCH=" + a.KernelArch}
	if !a.Native() {
		args = append(args, "CROSS_COMPILE="+a.CrossCompile)
	}
	return args
}

// CC is the C compiler that builds for a.
func (a Arch) CC() string {
	if a.Native() {
		return "gcc"
	}
	return a.CrossCompile + "gcc"
}
