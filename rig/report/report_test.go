package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/mmaprig/mmaprig/guest/ktap"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/vm"
)

func cells() []Cell {
	pass := runner.Result{Class: runner.Pass, Kernel: "Debian package linux-source-6.1", Accel: vm.Accel{Name: "tcg"},
		Stages: []runner.StageTime{{Stage: "kernel", Duration: 3 * time.Millisecond, Cached: true}, {Stage: "boot", Duration: 1700 * time.Millisecond}},
		Cases:  []ktap.Case{{Name: "reader_output", Result: ktap.Pass}, {Name: "user_kernel_agree", Result: ktap.Skip, Reason: "no read()"}}}
	failed := runner.Result{Class: runner.Contract, Kernel: "Debian package linux-source-6.12", Accel: vm.Accel{Name: "kvm"},
		Err:         &runner.Error{Class: runner.Contract, Msg: "contract case(s) failed: refuses_bad_maps", Excerpt: "2 pages was mapped"},
		ArtifactDir: "/tmp/art/6.12",
		Cases:       []ktap.Case{{Name: "refuses_bad_maps", Result: ktap.Fail, Diagnostics: []string{"2 pages was mapped"}}}}
	return []Cell{
		NewCell("6.1", "pass", pass, 2*time.Second),
		NewCell("6.12", "pass", failed, 3*time.Second),
		SkippedCell("6.6", "pass", "needs the internet"),
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	Table(&b, cells())
	out := b.String()
	for _, want := range []string{"CELL", "6.1 ", "linux-source-6.1", "3ms*", "1.70s", "pass", "contract (want pass) FAIL", "skipped: needs the internet"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
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
