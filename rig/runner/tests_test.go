package runner

import (
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/guesttest"
	"github.com/mmaprig/mmaprig/rig/result"
)

// -run must select something among the contract's cases and the Go guest
// tests' names, or the run stops before anything is built, listing them.
func TestCheckRun(t *testing.T) {
	goTest := guesttest.Test{Name: "guesttest.test", Kind: guesttest.GoTest, Tests: []string{"TestSeed", "TestEnv"}}
	program := guesttest.Test{Name: "probe", Kind: guesttest.GoMain}
	contract := strings.Join(wire.ContractCases, ", ")
	for _, tc := range []struct {
		run    string
		checks string
		tests  []guesttest.Test
		err    string
	}{
		{run: "", checks: ChecksNone},
		{run: "refuses", checks: ChecksContract},
		{run: "Seed", checks: ChecksContract, tests: []guesttest.Test{goTest}},
		{run: "Seed/sub", checks: ChecksNone, tests: []guesttest.Test{program, goTest}},
		{run: "refuses", checks: ChecksReader, tests: []guesttest.Test{goTest},
			err: `-run "refuses" matches no case; the cases are guesttest's TestSeed, TestEnv`},
		{run: "Nothing", checks: ChecksContract, tests: []guesttest.Test{program, goTest},
			err: `-run "Nothing" matches no case; the cases are the contract's ` + contract + `; guesttest's TestSeed, TestEnv`},
		{run: "probe", checks: ChecksNone, tests: []guesttest.Test{program},
			err: `-run "probe" has nothing to select: it selects contract cases and Go guest tests, and this run has neither`},
	} {
		err := CheckRun(Options{Run: tc.run, Checks: tc.checks}, tc.tests)
		if got := errString(err); got != tc.err {
			t.Errorf("CheckRun(-run %q, -checks %s) = %q; want %q", tc.run, tc.checks, got, tc.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A failed case of a Go guest test is put on the file and line its output
// names, in the test's package directory; a passed case, a contract case
// and a failure that names no line stay unplaced.
func TestLocate(t *testing.T) {
	r := &run{tests: []builtTest{
		{Test: guesttest.Test{Name: "pages.test", Kind: guesttest.GoTest, Dir: "/src/drv/guesttest"}},
		{Test: guesttest.Test{Name: "tool", Kind: guesttest.Executable, Dir: "/src/drv/tool"}},
	}}
	for _, tc := range []struct {
		c    result.Case
		file string
		line int
	}{
		{result.Case{Suite: "pages", Name: "TestX", Result: "fail", Diagnostics: []string{"pages_test.go:63: byte 0 = 1"}}, "/src/drv/guesttest/pages_test.go", 63},
		{result.Case{Suite: "pages", Name: "TestX", Result: "pass", Diagnostics: []string{"pages_test.go:63: log"}}, "", 0},
		{result.Case{Suite: "pages", Name: "TestX", Result: "fail", Diagnostics: []string{"no line"}}, "", 0},
		{result.Case{Suite: "tool", Name: "tool", Result: "fail", Diagnostics: []string{"main.go:3: x"}}, "", 0},
		{result.Case{Suite: "contract", Name: "reader_output", Result: "fail", Diagnostics: []string{"x.go:3: x"}}, "", 0},
	} {
		if got := r.locate(tc.c); got.File != tc.file || got.Line != tc.line {
			t.Errorf("locate(%+v) at %s:%d, want %s:%d", tc.c, got.File, got.Line, tc.file, tc.line)
		}
	}
}
