package runner

import (
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/guesttest"
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
