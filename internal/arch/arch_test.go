package arch_test

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/kernel"
)

func TestGet(t *testing.T) {
	for name, want := range map[string]string{
		"x86_64": "x86_64", "amd64": "x86_64", "arm64": "arm64", "aarch64": "arm64",
	} {
		a, err := arch.Get(name)
		if err != nil || a.Name != want {
			t.Errorf("Get(%q) = %q, %v; want %q", name, a.Name, err, want)
		}
	}
	if _, err := arch.Get("riscv64"); err == nil || !strings.Contains(err.Error(), "arm64, x86_64") {
		t.Errorf("Get(riscv64) = %v; want an error listing the architectures", err)
	}
	if h := arch.Host(); h.GOARCH != runtime.GOARCH || !h.Native() {
		t.Errorf("Host() = %+v on GOARCH %s", h, runtime.GOARCH)
	}
}

// A guest of another architecture is cross-built: make gets ARCH= and
// CROSS_COMPILE=, and the compiler is the cross compiler.
func TestMakeArgs(t *testing.T) {
	for _, name := range arch.Names() {
		a, _ := arch.Get(name)
		args := a.MakeArgs()
		if !slices.Contains(args, "ARCH="+a.KernelArch) {
			t.Errorf("%s: MakeArgs() = %q; want ARCH=%s", name, args, a.KernelArch)
		}
		cross := slices.Contains(args, "CROSS_COMPILE="+a.CrossCompile)
		if cross == a.Native() {
			t.Errorf("%s: MakeArgs() = %q with Native() = %v", name, args, a.Native())
		}
		if want := a.CrossCompile + "gcc"; !a.Native() && a.CC() != want {
			t.Errorf("%s: CC() = %q; want %q", name, a.CC(), want)
		}
	}
	arm, _ := arch.Get("arm64")
	if runtime.GOARCH == "amd64" {
		if want := []string{"ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"}; !slices.Equal(arm.MakeArgs(), want) {
			t.Errorf("arm64 on amd64: MakeArgs() = %q; want %q", arm.MakeArgs(), want)
		}
	}
}

// Each architecture's base fragment is built in, and the arm64 one has
// what the virt machine and the rig's devices need.
func TestFragments(t *testing.T) {
	for _, name := range arch.Names() {
		a, _ := arch.Get(name)
		if _, err := kernel.LoadFragments(a.Fragment); err != nil {
			t.Errorf("%s: base fragment %q: %v", name, a.Fragment, err)
		}
	}
	arm, _ := arch.Get("arm64")
	frags, err := kernel.LoadFragments(arm.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, s := range frags[0].Symbols {
		have[s.Name] = s.Value
	}
	for _, need := range []string{
		"CONFIG_SERIAL_AMBA_PL011_CONSOLE", // ttyAMA0
		"CONFIG_VIRTIO_MMIO",               // virt's virtio transports
		"CONFIG_VIRTIO_CONSOLE",            // the results port
		"CONFIG_VIRTIO_NET",                // the SSH channel
		"CONFIG_ARM_PSCI_FW",               // power-off
		"CONFIG_PCI_HOST_GENERIC",          // virt's PCIe host, for pvpanic-pci
		"CONFIG_PVPANIC_PCI",
		"CONFIG_BLK_DEV_INITRD", "CONFIG_MODULE_UNLOAD", "CONFIG_DEVTMPFS", "CONFIG_FUTEX",
	} {
		if have[need] != "y" {
			t.Errorf("the arm64 fragment does not set %s=y", need)
		}
	}
	if arm.Console != "ttyAMA0" || arm.Uname != "aarch64" || arm.Image != "arch/arm64/boot/Image" {
		t.Errorf("arm64 = %+v", arm)
	}
}
