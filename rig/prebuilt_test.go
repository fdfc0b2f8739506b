package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// Debian's own kernels, which the rig does not build: the module builds
// against their headers, and the guest loads the image's virtio, console,
// network and pvpanic modules before it can talk to the rig. Each passes
// the whole contract on both channels, and broken fixtures fail with the
// class they get on the rig's own kernels.
func TestPrebuiltKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: downloads Debian's kernels and boots VMs")
	}
	for _, k := range []string{"debian:6.12-cloud", "debian:6.1-cloud", "debian:6.12"} {
		t.Run(strings.TrimPrefix(k, "debian:"), func(t *testing.T) {
			// The first run fetches the packages; the others share them.
			// It boots cold, so that its console shows the boot.
			r := runRig(t, "-kernel", k, "-boot", "cold")
			rep := wantPrebuilt(t, r, verdict.Pass, "meets the contract (7 cases)")
			if o := rep.Origin; o == nil || o.Kind != kernel.OriginDebianPrebuilt || o.Release == "" {
				t.Errorf("kernel_origin = %+v, want a Debian prebuilt kernel with its release", o)
			}
			console, err := os.ReadFile(rep.ConsoleLog)
			if err != nil || !strings.Contains(string(console), "mmaprig-init: loaded the kernel's") {
				t.Errorf("the console does not show the boot modules loaded (%v)", err)
			}
			prebuiltBroken(t, k)
		})
	}
}

// prebuiltBroken runs the SSH channel (the network driver is a boot
// module), a Go guest test and broken fixtures on a prebuilt kernel.
func prebuiltBroken(t *testing.T, k string) {
	for _, tc := range []struct {
		name  string
		args  []string
		class verdict.Class
		says  string
	}{
		{"ssh", []string{"-channel", "ssh"}, verdict.Pass, "meets the contract"},
		{"guesttest", exampleArgs(), verdict.Pass, "passes guesttest (3 cases)"},
		{"wrongbytes", []string{"-module", fixture("wrongbytes")}, verdict.Contract, "wrong bytes in the mapped page"},
		{"nullmmap", []string{"-module", fixture("nullmmap")}, verdict.GuestCrash, "BUG: kernel NULL pointer dereference"},
		{"twopages", []string{"-module", fixture("twopages")}, verdict.Contract, "refuses_bad_maps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, append([]string{"-kernel", k}, tc.args...)...)
			rep := wantPrebuilt(t, r, tc.class, tc.says)
			if c := rep.Crash; tc.class == verdict.GuestCrash && (c == nil || !strings.Contains(rep.Title, "nullmmap_mmap") || filepath.Base(c.File) != "nullmmap.c" || c.Line != 12) {
				t.Errorf("title %q, crash %+v: want nullmmap_mmap at nullmmap.c:12", rep.Title, rep.Crash)
			}
		})
	}
}

// wantPrebuilt checks a run's class and exit code, and that its verdict
// (for a failure) or its PASS line says says.
func wantPrebuilt(t *testing.T, r rigRun, class verdict.Class, says string) *result.Run {
	t.Helper()
	if class != verdict.Pass {
		return wantVerdict(t, r, class, says)
	}
	rep := wantVerdict(t, r, class, "")
	if !strings.Contains(r.out, "PASS: ") || !strings.Contains(r.out, says) {
		t.Errorf("the PASS line does not say %q", says)
	}
	return rep
}
