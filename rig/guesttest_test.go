package main

// The author's own guest tests, module parameters, and build errors a
// person can act on.

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// example is the example driver with its own Go guest test.
var example = filepath.Join("..", "testdata", "examples", "pages")

func exampleArgs(extra ...string) []string {
	return append([]string{"-module", example, "-device", "/dev/pages", "-checks", "none", "-guest-test", "guesttest"}, extra...)
}

// The example driver passes its own Go test, one case per test, in -json
// and in the JUnit file; -module-params reaches the module.
func TestGuestTestExample(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	xmlPath := filepath.Join(t.TempDir(), "junit.xml")
	r := runRig(t, exampleArgs("-module-params", "npages=3", "-junit", xmlPath)...)
	rep := wantVerdict(t, r, verdict.Pass, "")
	var names []string
	for _, c := range rep.Cases {
		names = append(names, c.Suite+"/"+c.Name)
		if c.Result != "pass" {
			t.Errorf("case %s/%s: %s", c.Suite, c.Name, c.Result)
		}
	}
	want := []string{"guesttest/TestPagesHoldTheirIndex", "guesttest/TestRefusesMoreThanNpages", "guesttest/TestRefusesPrivateMaps"}
	if !slices.Equal(names, want) {
		t.Errorf("cases %q, want %q", names, want)
	}
	raw, _ := os.ReadFile(xmlPath)
	var doc junit.Testsuites
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the JUnit file: %v", err)
	}
	var junitCases []string
	for _, s := range doc.Suites {
		for _, c := range s.Testcases {
			if strings.HasSuffix(c.Classname, ".guesttest") {
				junitCases = append(junitCases, c.Name)
			}
		}
	}
	if len(junitCases) != 3 {
		t.Errorf("the JUnit file has the guest test's cases %q, want 3", junitCases)
	}

	// The parameter reached the module: its sysfs value is what was asked.
	r = runRig(t, "exec", "-module", example, "-device", "/dev/pages", "-module-params", "npages=5",
		"--", "cat", "/sys/module/pages/parameters/npages")
	if r.code != 0 || !strings.Contains(r.out, "\n5\n") {
		t.Errorf("npages in the guest: exit %d; want 5", r.code)
	}
}

// A broken copy of the example fails as contract, naming the test.
func TestGuestTestNamesTheFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	broken := filepath.Join(t.TempDir(), "pages")
	if out, err := exec.Command("cp", "-r", example, broken).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v: %s", err, out)
	}
	src := filepath.Join(broken, "pages.c")
	b, _ := os.ReadFile(src)
	wrong := strings.Replace(string(b), "memset(page_address(pages_pages[i]), i, PAGE_SIZE);", "memset(page_address(pages_pages[i]), i + 1, PAGE_SIZE);", 1)
	if wrong == string(b) {
		t.Fatal("pages.c changed; update the test")
	}
	os.WriteFile(src, []byte(wrong), 0o644)
	// The Go test package is the example's, by its path.
	abs, _ := filepath.Abs(filepath.Join(example, "guesttest"))
	r := runRig(t, "-module", broken, "-device", "/dev/pages", "-checks", "none", "-guest-test", abs)
	rep := wantVerdict(t, r, verdict.Contract, "guest test guesttest failed: TestPagesHoldTheirIndex")
	if !strings.Contains(rep.Title, "TestPagesHoldTheirIndex") {
		t.Errorf("title %q does not name the test", rep.Title)
	}
}

// A compile error reaches the screen as the compiler said it, with the
// author's own path, and the source line under it.
func TestBuildErrorsNameTheAuthorsFile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the built kernel")
	}
	dir := filepath.Join(t.TempDir(), "mydriver")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Kbuild"), []byte("obj-m := mmap.o\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mmap.c"), []byte(`#include <linux/module.h>
#include <linux/mm.h>
static char *buf;
static int mm(struct vm_area_struct *vma)
{
	return remap_pfn_range(vma, vma->vm_start, virt_to_phys(buf) >> PAGE_SHIFT, PAGE_SIZE, vma->vm_page_prot);
}
MODULE_LICENSE("GPL");
`), 0o644)
	r := runRig(t, "-module", dir)
	rep := wantVerdict(t, r, verdict.ModuleBuild, filepath.Join(dir, "mmap.c")+":6:52: error: implicit declaration of function")
	if !strings.Contains(rep.Excerpt, "    6 | ") || strings.Contains(rep.Excerpt, ".tmp-") {
		t.Errorf("the excerpt lacks the source line, or names the cache's copy:\n%s", rep.Excerpt)
	}
}

// -coverage on module/: lcov.info names mymap.c, the terminal prints the
// percentage, and the contract covers at least 90% of the driver's lines.
// It is nightly only (make test-nightly): its kernel is a third 6.1 build,
// which would push make test past its hour from an empty cache.
func TestCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the coverage kernel and boots VMs")
	}
	nightlyKernel(t, "coverage")
	r := runRig(t, "-coverage")
	rep := wantVerdict(t, r, verdict.Pass, "")
	if rep.Coverage == nil || len(rep.Coverage.Files) != 1 {
		t.Fatalf("-json coverage = %+v; want one file", rep.Coverage)
	}
	f := rep.Coverage.Files[0]
	if filepath.Base(f.File) != "mymap.c" || f.LinePercent < 90 || f.FunctionsHit != f.FunctionsFound {
		t.Errorf("coverage of %s: %.1f%% lines, %d/%d functions; want mymap.c, at least 90%%, every function", f.File, f.LinePercent, f.FunctionsHit, f.FunctionsFound)
	}
	lcov, err := os.ReadFile(rep.Coverage.LCOV)
	if err != nil || !strings.Contains(string(lcov), "SF:") || !strings.Contains(string(lcov), "/module/mymap.c") {
		t.Errorf("lcov.info lacks SF: for mymap.c: %v", err)
	}
	if _, err := os.Stat(rep.Coverage.HTML); err != nil {
		t.Errorf("the HTML report: %v", err)
	}
	if !strings.Contains(r.out, "coverage: mymap.c ") || !strings.Contains(r.out, "% lines (") {
		t.Error("the terminal has no coverage line")
	}
	t.Logf("%s; never ran: lines %v", f.Summary, f.Uncovered)
}
