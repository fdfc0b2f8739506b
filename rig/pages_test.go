package main

// Page sizes. Every x86_64 kernel has 4K pages; arm64 kernels may have 16K
// or 64K (kernel/configs/64k.config, the 6.1-arm64-64k cell), which is
// where a driver that assumes a page is 4096 bytes breaks. The fixture
// page4k is such a driver: correct on 4K pages, refused on 64K.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// page4k passes the whole contract where a page is 4096 bytes, so its
// failure on 64K pages (TestArm64Pages) is the page size's doing alone.
func TestPage4KOn4K(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots a VM")
	}
	r := runRig(t, "-module", fixture("page4k"))
	rep := wantVerdict(t, r, verdict.Pass, "")
	assertContract(t, rep)
	wantNoWarnings(t, rep, "page4k")
	wantPageSize(t, r, 4096)
}

// On arm64 with 64K pages the driver passes the whole contract, built
// warning-free, and page4k, whose mmap wants 4096 bytes, fails as
// contract: the reader's one-page mapping is 65536 bytes. The kernel is
// a cross build of its own (the 6.1-arm64-64k cell's), so the test is
// nightly only.
func TestArm64Pages(t *testing.T) {
	needArm64(t)
	nightlyKernel(t, "arm64 64K-page")
	for _, tc := range []struct {
		name   string
		module string
		class  verdict.Class
		says   string
	}{
		{"module", "../module", verdict.Pass, ""},
		{"page4k", fixture("page4k"), verdict.Contract, "mmap /dev/mymap: 65536 bytes, MAP_SHARED: invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, "-arch", "arm64", "-config", "64k", "-module", tc.module)
			rep := wantVerdict(t, r, tc.class, tc.says)
			if rep.Arch != "aarch64" {
				t.Errorf("the report's arch is %q, want aarch64", rep.Arch)
			}
			cfg, _ := os.ReadFile(filepath.Join(r.artifacts, "kernel.config"))
			if !regexp.MustCompile(`(?m)^CONFIG_ARM64_64K_PAGES=y$`).Match(cfg) {
				t.Error("the kernel's config (kernel.config) does not have CONFIG_ARM64_64K_PAGES=y")
			}
			if tc.class == verdict.Pass {
				assertContract(t, rep)
				wantNoWarnings(t, rep, "the 64K-page arm64 tree")
				wantPageSize(t, r, 65536)
			}
		})
	}
}

// wantPageSize checks the page size the contract found in the guest, from
// its KTAP output.
func wantPageSize(t *testing.T, r rigRun, size int) {
	t.Helper()
	ktap, err := os.ReadFile(filepath.Join(r.artifacts, "ktap.txt"))
	if err != nil {
		t.Fatalf("the contract's KTAP output: %v", err)
	}
	want := "# page size: " + strconv.Itoa(size) + " bytes"
	if !strings.Contains(string(ktap), want) {
		t.Errorf("the contract's KTAP output does not say %q:\n%s", want, ktap)
	}
}
