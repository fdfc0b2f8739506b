package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHost makes a /sys/module with the given modules and a /dev/kvm that
// opens, or none.
func fakeHost(t *testing.T, kvm bool, modules ...string) Host {
	t.Helper()
	dir := t.TempDir()
	h := Host{SysModule: filepath.Join(dir, "module"), DevKVM: filepath.Join(dir, "kvm")}
	os.MkdirAll(h.SysModule, 0o755)
	for _, m := range modules {
		os.MkdirAll(filepath.Join(h.SysModule, m), 0o755)
	}
	if kvm {
		os.WriteFile(h.DevKVM, nil, 0o666)
	}
	return h
}

func TestDetectAccel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		host    Host
		mode    string
		want    string
		because string
	}{
		{"intel", fakeHost(t, true, "kvm", "kvm_intel"), "auto", "kvm", "kvm_intel"},
		{"amd", fakeHost(t, true, "kvm", "kvm_amd"), "auto", "kvm", "kvm_amd"},
		{"pvm", fakeHost(t, true, "kvm", "kvm_pvm"), "auto", "tcg", "paravirtual"},
		{"no module", fakeHost(t, true, "kvm"), "auto", "tcg", "no hardware KVM"},
		{"no device", fakeHost(t, false, "kvm", "kvm_intel"), "auto", "tcg", "not usable"},
		{"forced tcg", fakeHost(t, true, "kvm_intel"), "tcg", "tcg", "-accel tcg"},
		{"forced kvm", fakeHost(t, false), "kvm", "kvm", "-accel kvm"},
	} {
		a, err := tc.host.DetectAccel(tc.mode)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.Name != tc.want || !strings.Contains(a.Reason, tc.because) {
			t.Errorf("%s: got %v; want %s because of %q", tc.name, a, tc.want, tc.because)
		}
	}
	if _, err := RealHost.DetectAccel("hvf"); err == nil {
		t.Error("DetectAccel(hvf) succeeded")
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
	if got := strings.Join(TCGKernelArgs(info), " "); got != "tsc_early_khz=2596142" {
		t.Errorf("TCGKernelArgs = %q", got)
	}
	if got := TCGKernelArgs("cpu MHz\t\t: 800.000\nflags\t\t: fpu tsc\n"); got != nil {
		t.Errorf("without constant_tsc: %q; want nothing", got)
	}
}
