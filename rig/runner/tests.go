package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/guesttest"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// builtTest is an author's guest test, built for the guest.
type builtTest struct {
	guesttest.Test
	bin string
}

// ResolveTests finds what each -guest-test names, before anything is
// built: a bad one is bad input, found at once.
func ResolveTests(ctx context.Context, opts Options) ([]guesttest.Test, error) {
	var tests []guesttest.Test
	taken := map[string]bool{}
	for _, spec := range opts.GuestTests {
		t, err := guesttest.Resolve(ctx, spec, opts.ModuleDir, opts.Root)
		if err != nil {
			return nil, err
		}
		t.Name = uniqueName(t.Name, taken)
		tests = append(tests, t)
	}
	return tests, nil
}

// CheckRun refuses, before anything is built, a -run that selects no case
// at all: none of the contract's (when it runs) and no top-level test of
// a Go guest test package, whose names its sources give. Other guest
// tests are single cases that -run does not select.
func CheckRun(opts Options, tests []guesttest.Test) error {
	if opts.Run == "" || opts.Checks == ChecksContract && len(ContractSelected(opts.Run)) > 0 {
		return nil
	}
	re, err := regexp.Compile(wire.RunTopLevel(opts.Run))
	if err != nil {
		return err
	}
	var names []string
	if opts.Checks == ChecksContract {
		names = append(names, "the contract's "+strings.Join(wire.ContractCases, ", "))
	}
	for _, t := range tests {
		if t.Kind != guesttest.GoTest {
			continue
		}
		if slices.ContainsFunc(t.Tests, re.MatchString) {
			return nil
		}
		names = append(names, fmt.Sprintf("%s's %s", strings.TrimSuffix(t.Name, ".test"), strings.Join(t.Tests, ", ")))
	}
	if names == nil {
		return fmt.Errorf("-run %q has nothing to select: it selects contract cases and Go guest tests, and this run has neither", opts.Run)
	}
	return fmt.Errorf("-run %q matches no case; the cases are %s", opts.Run, strings.Join(names, "; "))
}

// uniqueName gives a test a name no earlier test has, so that two tests
// named alike (./a/guesttest and ./b/guesttest) neither overwrite each
// other's binary in the guest nor mix their cases: the second is
// guesttest-2.
func uniqueName(name string, taken map[string]bool) string {
	base, ext := strings.CutSuffix(name, ".test")
	for i := 2; taken[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
		if ext {
			name += ".test"
		}
	}
	taken[name] = true
	return name
}

// buildTests builds the -guest-test programs for the guest's architecture,
// or finds them in the cache.
func (r *run) buildTests(ctx context.Context, _ *progress.Stage) (string, bool, error) {
	logPath := filepath.Join(r.opts.ArtifactDir, "guest-tests-build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return "", false, err
	}
	defer logf.Close()
	tests, err := ResolveTests(ctx, r.opts)
	if err != nil {
		return "", false, fail(verdict.Setup, err, "-guest-test")
	}
	var names []string
	for _, t := range tests {
		spec := t.Spec
		bin, err := guesttest.Build(ctx, r.opts.Cache, t, r.opts.Arch.GOARCH, logf)
		switch {
		case errors.Is(err, guesttest.ErrBuild):
			return "", false, &Error{Class: verdict.ModuleBuild, Title: "guest test " + t.Name + " did not build",
				Msg: fmt.Sprintf("guest test %s did not build; see %s", spec, logPath), Err: err}
		case err != nil:
			return "", false, fail(verdict.Setup, err, "-guest-test %s", spec)
		}
		r.tests = append(r.tests, builtTest{Test: t, bin: bin})
		names = append(names, fmt.Sprintf("%s (%s)", t.Name, t.Kind))
	}
	return strings.Join(names, ", "), false, nil
}

// guestPath is where the test's binary goes in the guest.
func (t builtTest) guestPath() string { return wire.TestsDir + "/" + t.Name }

// argv runs the test: a Go test binary verbosely, so that each test
// reports, and with -test.run for -run's regexp (run). Other tests are
// single cases that -run does not select.
func (t builtTest) argv(run string) []string {
	switch {
	case t.Kind == guesttest.GoTest && run != "":
		return []string{t.guestPath(), "-test.v", "-test.run", run}
	case t.Kind == guesttest.GoTest:
		return []string{t.guestPath(), "-test.v"}
	}
	return []string{t.guestPath()}
}

func (t builtTest) check() verdict.Check {
	if t.Kind == guesttest.GoTest {
		return verdict.CheckGoTest
	}
	return verdict.CheckProgram
}

// suite names the test's cases.
func (t builtTest) suite() string { return strings.TrimSuffix(t.Name, ".test") }

// locate puts a failed case of a Go guest test on the file and line its
// output names, in the test's package directory.
func (r *run) locate(c result.Case) result.Case {
	if c.Result != string(wire.Fail) {
		return c
	}
	for _, t := range r.tests {
		if t.Kind != guesttest.GoTest || t.suite() != c.Suite {
			continue
		}
		if file, line := verdict.GoFailureAt(c.Diagnostics); file != "" {
			c.File, c.Line = filepath.Join(t.Dir, file), line
		}
	}
	return c
}
