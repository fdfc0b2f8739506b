package main

// No skipped bug in the contract: an interface is judged absent only from
// its first call, so a read() that works at offset 0 and fails at 200 is a
// contract failure that names the call and the offset; and a PASS counts
// the cases it skipped, on the terminal, in -json and in JUnit.

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// The PASS line counts the skipped cases and says why each was skipped;
// with none skipped it says only how many cases ran.
func TestPassSummarySkips(t *testing.T) {
	opts := runner.Options{Checks: runner.ChecksContract, Devices: []wire.Device{{Path: wire.DefaultDevice}}, Expect: wire.DefaultExpect}
	cases := func(skip string) []wire.Case {
		var cs []wire.Case
		for _, n := range contractCases {
			c := wire.Case{Name: n, Result: wire.Pass, Suite: wire.CmdContract}
			if n == "user_kernel_agree" && skip != "" {
				c.Result, c.Reason = wire.Skip, skip
			}
			cs = append(cs, c)
		}
		return cs
	}
	for skip, want := range map[string]string{
		"": "/dev/mymap maps the expected 10 bytes and meets the contract (7 cases)",
		"no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument)); read() agrees with the mapping": "/dev/mymap maps the expected 10 bytes and meets the contract (7 cases, 1 skipped: user_kernel_agree (no write()))",
	} {
		if got := passSummary(result.Run{Cases: newCases(cases(skip))}, opts); got != want {
			t.Errorf("passSummary = %q\nwant %q", got, want)
		}
	}
	gt := append(cases(""), wire.Case{Name: "TestX", Result: wire.Skip, Reason: "x_test.go:4: needs two CPUs", Suite: "mytests"})
	want := "meets the contract (7 cases) and passes mytests (1 case, 1 skipped: TestX (needs two CPUs))"
	if got := passSummary(result.Run{Cases: newCases(gt)}, opts); !strings.HasSuffix(got, want) {
		t.Errorf("passSummary = %q\nwant it to end %q", got, want)
	}
}

// newCases records the cases as a run's result does.
func newCases(cs []wire.Case) []result.Case {
	var out []result.Case
	for _, c := range cs {
		out = append(out, result.NewCase(c))
	}
	return out
}

// skippedCases names a report's skipped cases with their headlines:
// "contract/user_kernel_agree: no write()".
func skippedCases(rep *result.Run) []string {
	var out []string
	for _, c := range rep.Cases {
		if c.Result == string(wire.Skip) {
			out = append(out, c.Suite+"/"+c.Name+": "+c.Why)
		}
	}
	return out
}

// caseByName finds a case in a report, failing the test without it.
func caseByName(t *testing.T, rep *result.Run, name string) result.Case {
	t.Helper()
	for _, c := range rep.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %s in %+v", name, rep.Cases)
	return result.Case{}
}

// A driver whose read() works at offset 0 and refuses offset 200 with
// EINVAL has a broken read(), not a missing one: the contract fails, and
// the verdict names the call, the offset and the errno.
func TestContractReadOffset(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-module", fixture("readoffset"))
	rep := mustFail(t, r)
	wantVerdict(t, r, verdict.Contract, "contract case(s) failed: user_kernel_agree")
	if !slices.Equal(rep.Output, tenBytes) {
		t.Errorf("the reader printed %q, want the ten bytes 0..9", rep.Output)
	}
	const says = "read() of 9 bytes at offset 200, after lseek(): EINVAL (invalid argument)"
	c := caseByName(t, rep, "user_kernel_agree")
	if c.Result != "fail" || !strings.Contains(strings.Join(c.Diagnostics, "\n"), says) {
		t.Errorf("user_kernel_agree: %s %q, diagnostics %q; want a failure that says %q", c.Result, c.Reason, c.Diagnostics, says)
	}
	if !strings.Contains(rep.Excerpt, says) || !strings.Contains(r.out, says) {
		t.Errorf("the verdict's excerpt or the terminal does not say %q:\n%s", says, rep.Excerpt)
	}
	for _, c := range rep.Cases {
		if c.Name != "user_kernel_agree" && c.Result != "pass" {
			t.Errorf("contract case %s: %s %s; only user_kernel_agree is broken", c.Name, c.Result, c.Reason)
		}
	}
	if rep.SkippedCount != 0 || strings.Contains(r.out, "SKIP") {
		t.Errorf("%d case(s) skipped: %+v", rep.SkippedCount, skippedCases(rep))
	}
}

// module/ has read(), write() and llseek: it meets the whole contract
// with nothing skipped, and its PASS line says "(7 cases)" alone. A driver
// with neither read() nor write() passes with that case skipped, counted
// on the PASS line, in -json and in JUnit.
func TestContractSkipCount(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t)
	rep := wantVerdict(t, r, verdict.Pass, "")
	assertContract(t, rep)
	if rep.SkippedCount != 0 || skippedCases(rep) != nil {
		t.Errorf("module/: skipped %d %+v; want none", rep.SkippedCount, skippedCases(rep))
	}
	wantTerminal(t, r, defaultOptions())

	junitPath := filepath.Join(t.TempDir(), "junit.xml")
	r = runRig(t, "-module", fixture("mmaponly"), "-junit", junitPath)
	rep = wantVerdict(t, r, verdict.Pass, "")
	const headline = "no read() or write()"
	if rep.SkippedCount != 1 {
		t.Errorf("skipped_count %d, want 1", rep.SkippedCount)
	}
	wantTerminal(t, r, defaultOptions())
	c := caseByName(t, rep, "user_kernel_agree")
	if c.Result != "skip" || !strings.HasPrefix(c.Reason, headline+": ") || !strings.Contains(c.Reason, "read() of 1 byte at offset 0 returned EINVAL") {
		t.Errorf("user_kernel_agree = %s %q; want a skip for %s from the first calls", c.Result, c.Reason, headline)
	}
	want := []string{wire.CmdContract + "/user_kernel_agree: " + headline}
	if rep.SkippedCount != 1 || !slices.Equal(skippedCases(rep), want) {
		t.Errorf("-json: skipped %d %q; want 1 %q", rep.SkippedCount, skippedCases(rep), want)
	}
	assertJUnitSkip(t, junitPath, "user_kernel_agree", c.Reason)
}

// assertJUnitSkip checks that the JUnit file holds exactly one skipped
// test case, name, with reason as its message.
func assertJUnitSkip(t *testing.T, path, name, reason string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("-junit: %v", err)
	}
	var doc junit.Testsuites
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the JUnit file does not parse: %v\n%s", err, raw)
	}
	var skipped []junit.Testcase
	for _, s := range doc.Suites {
		for _, c := range s.Testcases {
			if c.Skipped != nil {
				skipped = append(skipped, c)
			}
		}
	}
	if doc.Skipped != 1 || len(skipped) != 1 || skipped[0].Name != name || skipped[0].Skipped.Message != reason {
		t.Errorf("JUnit: %d skipped %+v; want %s skipped with %q\n%s", doc.Skipped, skipped, name, reason, raw)
	}
}
