package main

// arm64 guests: kernels cross-built with aarch64-linux-gnu-, booted on
// QEMU's virt machine, under TCG on an x86 host. They cost two more kernel
// builds, which would push `make test` past its hour on 2 cores, so they
// run only with MMAPRIG_ARM64=1: `make test-nightly`, which the nightly
// workflow runs.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// arm64Env turns the arm64 end-to-end tests on.
const arm64Env = "MMAPRIG_ARM64"

func needArm64(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds an arm64 kernel and boots it")
	}
	if os.Getenv(arm64Env) == "" {
		t.Skip(arm64Env + " is not set: `make test-nightly` builds the arm64 kernels and boots them")
	}
}

// The driver passes the whole contract on an arm64 guest, built warning-free
// against the cross-built tree; the guest is really aarch64, and the
// reports say so. This run boots cold, so its console has the whole boot;
// the runs after it restore the saved guest, where there is one.
func TestArm64(t *testing.T) {
	needArm64(t)
	r := runRig(t, "-arch", "arm64", "-boot", "cold")
	rep := wantVerdict(t, r, verdict.Pass, "")
	assertContract(t, rep)
	if rep.Arch != "aarch64" {
		t.Errorf("the report's arch is %q, want aarch64", rep.Arch)
	}
	wantNoWarnings(t, rep, "the arm64 tree")
	if runtime.GOARCH != "arm64" && rep.Accel != "tcg" {
		t.Errorf("an arm64 guest on %s ran under %s, want tcg", runtime.GOARCH, rep.Accel)
	}
	cmdline, _ := os.ReadFile(filepath.Join(r.artifacts, "qemu.cmdline"))
	for _, want := range []string{"qemu-system-aarch64", "-M virt,", "console=ttyAMA0", "pvpanic-pci"} {
		if !strings.Contains(string(cmdline), want) {
			t.Errorf("qemu.cmdline lacks %q: %s", want, cmdline)
		}
	}
	con, _ := os.ReadFile(filepath.Join(r.artifacts, "console.log"))
	if !regexp.MustCompile(`Booting Linux on physical CPU|Machine model: linux,dummy-virt`).Match(con) {
		t.Error("the console does not show an arm64 kernel booting on virt")
	}

	// What the guest itself says it is. u-root has no uname; the kernel's
	// own answer is the same string.
	t.Run("uname", func(t *testing.T) {
		r := runRig(t, "exec", "-arch", "arm64", "--", "cat", "/proc/sys/kernel/arch")
		if r.code != 0 || !regexp.MustCompile(`(?m)^aarch64\r?$`).MatchString(r.out) {
			t.Errorf("the guest's uname -m (/proc/sys/kernel/arch): exit %d; want a line aarch64", r.code)
		}
	})

	// The broken fixtures fail as on x86, with the same classes.
	for _, tc := range []struct {
		fixture string
		class   verdict.Class
		says    string
		title   string
	}{
		{"wrongbytes", verdict.Contract, "wrong bytes in the mapped page: got [9 8 7 6 5 4 3 2 1 0], want [0 1 2 3 4 5 6 7 8 9]", ""},
		// arm64 says "Unable to handle kernel NULL pointer dereference"
		// and "pc : nullmmap_mmap+0x...": the same title as on x86.
		{"nullmmap", verdict.GuestCrash, "BUG: kernel NULL pointer dereference", "nullmmap_mmap"},
		{"twopages", verdict.Contract, "contract case(s) failed: refuses_bad_maps", ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			r := runRig(t, "-arch", "arm64", "-module", fixture(tc.fixture))
			rep := wantVerdict(t, r, tc.class, tc.says)
			if !strings.Contains(rep.Title, tc.title) {
				t.Errorf("title %q does not name %q", rep.Title, tc.title)
			}
			if rep.Arch != "aarch64" {
				t.Errorf("the report's arch is %q, want aarch64", rep.Arch)
			}
		})
	}
}

// The matrix's arm64 cells pass, each on its own cross-built kernel, and
// the table and the JSON say which architecture each cell ran.
func TestArm64Cells(t *testing.T) {
	needArm64(t)
	js := filepath.Join(t.TempDir(), "cells.json")
	r := runRig(t, "-cell", "6.1-arm64,6.12-arm64", "-jobs", "1", "-json", js)
	if r.code != 0 {
		t.Fatalf("-cell 6.1-arm64,6.12-arm64: exit %d; want 0", r.code)
	}
	cells := readDoc(t, js).Cells
	if len(cells) != 2 {
		t.Fatalf("%d cells in the report, want 2", len(cells))
	}
	for _, c := range cells {
		if !c.OK || c.Result.Class != "pass" || len(c.Result.Cases) != len(contractCases) || c.Result.Arch != "aarch64" {
			t.Errorf("cell %s: %s on %q, %d cases; want pass on aarch64 with %d",
				c.Name, c.Result.Class, c.Result.Arch, len(c.Result.Cases), len(contractCases))
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.Name) + ` .*\baarch64\b`).MatchString(r.out) {
			t.Errorf("the table's row for %s does not say aarch64", c.Name)
		}
		wantNoWarnings(t, &c.Result, "cell "+c.Name)
	}
}

// KVM runs only the host's architecture: -accel kvm for a foreign guest is
// a setup error, found before anything is built.
func TestArm64KVMRefused(t *testing.T) {
	if runtime.GOARCH == "arm64" {
		t.Skip("on an arm64 host, an arm64 guest may use KVM")
	}
	for _, tool := range []string{"qemu-system-aarch64", "aarch64-linux-gnu-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps)", tool)
		}
	}
	r := runRig(t, "-arch", "arm64", "-accel", "kvm")
	wantVerdict(t, r, verdict.Setup, "KVM runs only guests of the host's architecture")
	for _, s := range r.report(t).Stages {
		if s.Stage != "setup" {
			t.Errorf("stage %s ran after a setup error", s.Stage)
		}
	}
}
