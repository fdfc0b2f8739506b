package vm

import (
	"slices"
	"strings"
	"testing"
)

// The machine, the CPU and the devices each architecture's guest gets.
func TestMachineArgs(t *testing.T) {
	tcg, kvm := Accel{Name: "tcg"}, Accel{Name: "kvm"}
	x86, arm := mustArch(t, "x86_64"), mustArch(t, "arm64")
	for _, tc := range []struct {
		name  string
		cfg   Config
		want  []string // consecutive arguments that must appear
		never []string // arguments that must not
	}{
		{"x86 tcg", Config{Arch: x86, Accel: tcg, Devices: []Device{SerialConsole{Device: x86.Console}, PVPanic{}}},
			[]string{"-M", "microvm,accel=tcg", "-cpu", "max"}, []string{"pvpanic-pci"}},
		{"x86 kvm", Config{Arch: x86, Accel: kvm}, []string{"-M", "microvm,accel=kvm", "-cpu", "host"}, nil},
		{"arm64 tcg", Config{Arch: arm, Accel: tcg, Devices: []Device{SerialConsole{Device: arm.Console}, PVPanic{PCI: true}}},
			[]string{"-M", "virt,accel=tcg", "-cpu", "max,pauth-impdef=on"}, []string{"microvm,accel=tcg"}},
		{"arm64 kvm", Config{Arch: arm, Accel: kvm}, []string{"-M", "virt,gic-version=host,accel=kvm", "-cpu", "host"}, nil},
	} {
		args := tc.cfg.Args("/run/qmp.sock")
		if !containsRun(args, tc.want) {
			t.Errorf("%s: args %q lack %q", tc.name, args, tc.want)
		}
		for _, a := range tc.never {
			if slices.Contains(args, a) {
				t.Errorf("%s: args %q hold %q", tc.name, args, a)
			}
		}
	}

	args := Config{Arch: arm, Accel: tcg, Devices: []Device{
		SerialConsole{Device: arm.Console}, PVPanic{PCI: true}, ResultsPort{Name: "p", Socket: "/s"}, UserNet{GuestPort: 22},
	}}.Args("/q")
	for _, want := range [][]string{
		{"-device", "pvpanic-pci"},
		{"-device", "virtio-serial-device,max_ports=2"},
		{"-device", "virtio-net-device,netdev=n0"},
	} {
		if !containsRun(args, want) {
			t.Errorf("arm64: args %q lack %q", args, want)
		}
	}
	i := slices.Index(args, "-append")
	if i < 0 || !strings.Contains(args[i+1], "console=ttyAMA0") {
		t.Errorf("arm64: the kernel command line is not on ttyAMA0: %q", args)
	}
}

// containsRun reports whether want appears in args as consecutive elements.
func containsRun(args, want []string) bool {
	for i := 0; i+len(want) <= len(args); i++ {
		if slices.Equal(args[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
