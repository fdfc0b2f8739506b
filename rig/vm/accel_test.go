package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// fakeHost makes an x86_64 host with a /sys/module holding the given
// modules and a /dev/kvm that opens, or none.
func fakeHost(t *testing.T, kvm bool, modules ...string) Host {
	t.Helper()
	dir := t.TempDir()
	h := Host{SysModule: filepath.Join(dir, "module"), DevKVM: filepath.Join(dir, "kvm"), Arch: mustArch(t, "x86_64")}
	os.MkdirAll(h.SysModule, 0o755)
	for _, m := range modules {
		os.MkdirAll(filepath.Join(h.SysModule, m), 0o755)
	}
	if kvm {
		os.WriteFile(h.DevKVM, nil, 0o666)
	}
	return h
}

func mustArch(t *testing.T, name string) arch.Arch {
	t.Helper()
	a, err := arch.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// armHost is fakeHost on an arm64 machine.
func armHost(t *testing.T, kvm bool) Host {
	h := fakeHost(t, kvm)
	h.Arch = mustArch(t, "arm64")
	return h
}

func TestDetectAccel(t *testing.T) {
	x86, arm := mustArch(t, "x86_64"), mustArch(t, "arm64")
	for _, tc := range []struct {
		name    string
		host    Host
		mode    string
		guest   arch.Arch
		want    string
		because string
	}{
		{"intel", fakeHost(t, true, "kvm", "kvm_intel"), "auto", x86, "kvm", "kvm_intel"},
		{"amd", fakeHost(t, true, "kvm", "kvm_amd"), "auto", x86, "kvm", "kvm_amd"},
		{"pvm", fakeHost(t, true, "kvm", "kvm_pvm"), "auto", x86, "tcg", "paravirtual"},
		{"no module", fakeHost(t, true, "kvm"), "auto", x86, "tcg", "no hardware KVM"},
		{"no device", fakeHost(t, false, "kvm", "kvm_intel"), "auto", x86, "tcg", "not usable"},
		{"forced tcg", fakeHost(t, true, "kvm_intel"), "tcg", x86, "tcg", "-accel tcg"},
		{"forced kvm", fakeHost(t, false), "kvm", x86, "kvm", "-accel kvm"},
		{"no guest arch", fakeHost(t, true, "kvm", "kvm_intel"), "auto", arch.Arch{}, "kvm", "kvm_intel"},
		// A foreign guest never gets KVM, however good the host's.
		{"arm64 on intel", fakeHost(t, true, "kvm", "kvm_intel"), "auto", arm, "tcg", "an arm64 guest on an x86_64 host"},
		{"arm64 forced tcg", fakeHost(t, true, "kvm", "kvm_intel"), "tcg", arm, "tcg", "-accel tcg"},
		{"x86 on arm64", armHost(t, true), "auto", x86, "tcg", "an x86_64 guest on an arm64 host"},
		// On an arm64 host, KVM is built in: a /dev/kvm that opens will do.
		{"arm64 host", armHost(t, true), "auto", arm, "kvm", "arm64 host"},
		{"arm64 host without kvm", armHost(t, false), "auto", arm, "tcg", "not usable"},
	} {
		a, err := tc.host.DetectAccel(tc.mode, tc.guest)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.Name != tc.want || !strings.Contains(a.Reason, tc.because) {
			t.Errorf("%s: got %v; want %s because of %q", tc.name, a, tc.want, tc.because)
		}
	}
	if _, err := RealHost.DetectAccel("hvf", x86); err == nil {
		t.Error("DetectAccel(hvf) succeeded")
	}
	// -accel kvm for a foreign guest is an error that says what to do.
	_, err := fakeHost(t, true, "kvm", "kvm_intel").DetectAccel("kvm", arm)
	if err == nil || !strings.Contains(err.Error(), "-accel tcg") {
		t.Errorf("DetectAccel(kvm, arm64) on x86_64 = %v; want an error naming -accel tcg", err)
	}
}

func TestQuote(t *testing.T) {
	got := Quote("/usr/bin/qemu", []string{"-append", "console=ttyS0 panic=-1", "it's"})
	want := `/usr/bin/qemu -append 'console=ttyS0 panic=-1' 'it'\''s'`
	if got != want {
		t.Errorf("Quote = %s\nwant    %s", got, want)
	}
}

func TestParseHostForward(t *testing.T) {
	out := "Hub -1 (n0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n" +
		"  TCP[HOST_FORWARD]  12       127.0.0.1 38023       10.0.2.15    22     0     0\r\n"
	got, err := ParseHostForward(out, 22)
	if err != nil || got != "127.0.0.1:38023" {
		t.Errorf("ParseHostForward = %q, %v; want 127.0.0.1:38023", got, err)
	}
	if _, err := ParseHostForward(out, 23); err == nil {
		t.Error("found a forward to port 23")
	}
}

func TestTCGKernelArgs(t *testing.T) {
	info := "processor\t: 0\ncpu MHz\t\t: 2596.142\nflags\t\t: fpu tsc constant_tsc nonstop_tsc\n"
	if got := strings.Join(TCGKernelArgs(info), " "); got != "tsc_early_khz=2596142 tsc=reliable" {
		t.Errorf("TCGKernelArgs = %q", got)
	}
	if got := TCGKernelArgs("cpu MHz\t\t: 800.000\nflags\t\t: fpu tsc\n"); got != nil {
		t.Errorf("without constant_tsc: %q; want nothing", got)
	}
}
