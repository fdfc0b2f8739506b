package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// gitSource is a git source's name, as the kernel string says it.
const gitSource = "git file:///srv/linux.git master"

// cells are a pass on a cached Debian kernel, a failure on a git commit
// this run built, and a skipped cell.
func cells() []result.Cell {
	pass := result.Run{Class: verdict.Pass, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg",
		Origin: &result.Origin{Source: "Debian package linux-source-6.1", Kind: kernel.OriginDebianSource, Release: "6.1.192",
			How: result.HowCached, Time: result.Seconds(3 * time.Millisecond)},
		Stages: []result.Stage{{Stage: "kernel", Time: result.Seconds(3 * time.Millisecond), Cached: true}, {Stage: "boot", Time: result.Seconds(1700 * time.Millisecond)}},
		Cases:  []result.Case{{Name: "reader_output", Result: "pass"}, {Name: "user_kernel_agree", Result: "skip", Reason: "no read()"}}}
	failed := result.Run{Class: verdict.Contract, Kernel: gitSource, Arch: "aarch64", Accel: "kvm",
		Origin: &result.Origin{Source: gitSource, Kind: "git", Commit: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", Release: "6.19.0-rc1",
			Built: true, How: result.HowBuilt, Time: result.Seconds(692 * time.Second)},
		Stages:  []result.Stage{{Stage: "kernel", Time: result.Seconds(692 * time.Second)}},
		Message: "contract case(s) failed: refuses_bad_maps", Excerpt: "2 pages was mapped",
		ArtifactDir: "/tmp/art/6.12",
		Cases:       []result.Case{{Name: "refuses_bad_maps", Result: "fail", Diagnostics: []string{"2 pages was mapped"}}}}
	return []result.Cell{
		result.NewCell("6.1", verdict.Pass, pass, 2*time.Second),
		result.NewCell("6.12", verdict.Pass, failed, 3*time.Second),
		result.SkippedCell("6.6", verdict.Pass, "needs the internet"),
	}
}

// Each cell has its own row, and each row's columns hold where that
// cell's kernel came from, its architecture, stage times and verdict.
func TestTable(t *testing.T) {
	var b bytes.Buffer
	Table(&b, cells())
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		cols := strings.Split(strings.TrimRight(line, " "), "  ")
		var fields []string
		for _, c := range cols {
			if c = strings.TrimSpace(c); c != "" {
				fields = append(fields, c)
			}
		}
		rows[fields[0]] = fields
	}
	for cell, want := range map[string][]string{
		"CELL": {"CELL", "KERNEL", "ARCH", "ACCEL", "KERNEL", "MODULE", "INITRAMFS", "BOOT", "VERDICT"},
		"6.1":  {"6.1", "Debian linux-source-6.1 6.1.192, cached", "x86_64", "tcg", "3ms*", "-", "-", "1.70s", "pass"},
		"6.12": {"6.12", "git 1a2b3c4d5e6f 6.19.0-rc1, built in 11m32s", "aarch64", "kvm", "11m32s", "-", "-", "-", "contract (want pass) FAIL"},
		"6.6":  {"6.6", "-", "-", "-", "-", "-", "-", "-", "skipped: needs the internet"},
	} {
		if got := rows[cell]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s = %q\nwant       %q\n%s", cell, got, want, b.String())
		}
	}
	if len(rows) != 4 {
		t.Errorf("the table has %d rows, want a header and 3 cells:\n%s", len(rows), b.String())
	}
}

// The JUnit file is well-formed XML of the shape CI reporters read: a
// suite per cell, a case per contract case plus the verdict, and failures
// with their message and console excerpt.
func TestJUnit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := WriteJUnit(path, cells()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var doc junit.Testsuites
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the JUnit file does not parse: %v\n%s", err, raw)
	}
	if len(doc.Suites) != 3 || doc.Tests != 6 || doc.Failures != 2 || doc.Skipped != 2 {
		t.Fatalf("suites %d, tests %d, failures %d, skipped %d; want 3, 6, 2, 2\n%s",
			len(doc.Suites), doc.Tests, doc.Failures, doc.Skipped, raw)
	}
	fail := doc.Suites[1]
	if fail.Name != "mmaprig/6.12" || fail.Testcases[0].Failure == nil ||
		!strings.Contains(fail.Testcases[0].Failure.Message, "refuses_bad_maps") ||
		!strings.Contains(fail.Testcases[0].Failure.Data, "2 pages was mapped") ||
		!strings.Contains(fail.Testcases[0].Failure.Data, "/tmp/art/6.12") {
		t.Errorf("the failing cell's verdict case = %+v", fail.Testcases[0])
	}
	if c := fail.Testcases[1]; c.Name != "refuses_bad_maps" || c.Failure == nil {
		t.Errorf("the failed contract case = %+v", c)
	}
	if c := doc.Suites[0].Testcases[2]; c.Skipped == nil || c.Skipped.Message != "no read()" {
		t.Errorf("the skipped contract case = %+v", c)
	}
}

// Each suite's properties say where its kernel came from: the phrase,
// and its parts apart; a commit only for a git kernel, nothing for a
// cell that got no kernel.
func TestJUnitOrigin(t *testing.T) {
	doc := JUnit(cells())
	for i, want := range []map[string]string{
		{"kernel": "Debian package linux-source-6.1", "kernel_origin": "Debian linux-source-6.1 6.1.192, cached",
			"kernel_kind": "debian-source", "kernel_release": "6.1.192", "kernel_how": "cached", "kernel_seconds": "0.003"},
		{"kernel": gitSource, "kernel_origin": "git 1a2b3c4d5e6f 6.19.0-rc1, built in 11m32s", "kernel_kind": "git",
			"kernel_commit": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", "kernel_release": "6.19.0-rc1", "kernel_how": "built",
			"kernel_seconds": "692.000"},
		{"kernel": ""},
	} {
		got := map[string]string{}
		for _, p := range *doc.Suites[i].Properties {
			if p.Name == "kernel" || strings.HasPrefix(p.Name, "kernel_") {
				got[p.Name] = p.Value
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("suite %s: kernel properties %v\nwant %v", doc.Suites[i].Name, got, want)
		}
	}
}

// The kernel fact is the phrase, with what it leaves out: the whole
// source and commit, the config and the cache key.
func TestKernelFact(t *testing.T) {
	url := "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.tar.xz"
	for _, tc := range []struct {
		r    result.Run
		want string
	}{
		{cells()[1].Result, "git 1a2b3c4d5e6f 6.19.0-rc1, built in 11m32s; commit 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b of " + gitSource},
		{result.Run{Kernel: url, Origin: &result.Origin{Source: url, Kind: kernel.OriginURL, Release: "6.18.0", Key: "9f3e",
			Fragments: []string{"base", "debug"}, How: result.HowCached}},
			"tarball linux-6.18.tar.xz 6.18.0, cached; from " + url + "; config base+debug; key 9f3e"},
		{result.Run{Kernel: "tree /src/linux", Origin: &result.Origin{Source: "tree /src/linux", Kind: kernel.OriginTree,
			Release: "6.19.0", How: result.HowBuilt, Time: result.Seconds(3 * time.Second)}}, "tree /src/linux 6.19.0, built in 3.00s"},
		{result.Run{Kernel: "Debian package linux-source-6.1"}, "Debian package linux-source-6.1"},
	} {
		if got := kernelFact(tc.r); got != tc.want {
			t.Errorf("kernelFact:\n got %q\nwant %q", got, tc.want)
		}
	}
}

// crashedCell is a cell whose contract crashed in unload_reload, after a
// case passed, and whose Go test panicked.
func crashedCell() result.Cell {
	r := result.Run{Class: verdict.GuestCrash, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg",
		Message: "the kernel reported BUG: kernel NULL pointer dereference in exitoops_release (during contract case unload_reload)",
		Cases: []result.Case{
			{Suite: "contract", Name: "reader_output", Result: "pass"},
			{Suite: "contract", Name: "unload_reload", Result: "crashed", Reason: "the kernel reported BUG: kernel NULL pointer dereference in exitoops_release while it ran"},
			{Suite: "gt", Name: "TestPanics", Result: "fail", Reason: "panic: boom at example.com/gt/x_test.go:9", Diagnostics: []string{"panic: boom [recovered]"}},
		}}
	return result.NewCell("6.1", verdict.Pass, r, time.Second)
}

// A crashed case is a JUnit error, saying what the kernel reported; a
// failed one's message has its reason.
func TestJUnitCaseContext(t *testing.T) {
	doc := JUnit([]result.Cell{crashedCell()})
	if doc.Errors != 1 || doc.Failures != 2 {
		t.Errorf("errors %d, failures %d; want 1 (the crashed case), 2 (the verdict, the Go test)", doc.Errors, doc.Failures)
	}
	byName := map[string]junit.Testcase{}
	for _, c := range doc.Suites[0].Testcases {
		byName[c.Name] = c
	}
	if c := byName["unload_reload"]; c.Error == nil || c.Error.Type != "crashed" ||
		!strings.Contains(c.Error.Message, "contract case unload_reload crashed: the kernel reported BUG: kernel NULL pointer dereference") {
		t.Errorf("the crashed case = %+v", c)
	}
	if c := byName["TestPanics"]; c.Failure == nil || !strings.HasSuffix(c.Failure.Message, "gt case TestPanics failed: panic: boom at example.com/gt/x_test.go:9") ||
		c.Failure.Data != "panic: boom [recovered]" {
		t.Errorf("the panicked Go test = %+v", c.Failure)
	}
}
