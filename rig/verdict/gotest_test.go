package verdict

import (
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// goPanicStderr is what a test binary built with -trimpath printed when
// TestPanics wrote to a nil map (Go 1.26).
const goPanicStderr = `panic: assignment to entry in nil map [recovered, repanicked]

goroutine 19 [running]:
testing.tRunner.func1.2({0x55a7a0, 0x6c8e20})
	testing/testing.go:1974 +0x232
testing.tRunner.func1()
	testing/testing.go:1977 +0x349
panic({0x55a7a0?, 0x6c8e20?})
	runtime/panic.go:860 +0x13a
example.com/gtx.TestPanics(0x307cdb8ec488?)
	example.com/gtx/x_test.go:12 +0x28
testing.tRunner(0x307cdb8ec488, 0x592e80)
	testing/testing.go:2036 +0xea
created by testing.(*T).Run in goroutine 1
	testing/testing.go:2101 +0x4c5
`

// A goroutine the test started panicked: no "--- FAIL" line, and the
// test's frame is a closure's.
const goGoroutinePanicStderr = `panic: boom

goroutine 7 [running]:
example.com/gtx.TestWrite.func1()
	example.com/gtx/x_test.go:30 +0x25
created by example.com/gtx.TestWrite in goroutine 6
	example.com/gtx/x_test.go:29 +0x4f
`

// A Go test that panicked or that its deadline cut short says why, in its
// case and in the verdict.
func TestGoTestReasons(t *testing.T) {
	prog := Program{Program: wire.Program{Argv: []string{"/mmaprig/tests/gtx.test", "-test.v"}}, Check: CheckGoTest, Name: "gtx"}
	for _, tc := range []struct {
		name       string
		ev         wire.Event
		test       string
		result     wire.CaseResult
		reason     string
		diagnostic string
		msg        string
	}{
		{"a panic", wire.Event{Exit: 2, Err: "exit status 2", Stderr: goPanicStderr,
			Stdout: []string{"=== RUN   TestOK", "--- PASS: TestOK (0.00s)", "=== RUN   TestPanics", "--- FAIL: TestPanics (0.00s)"}},
			"TestPanics", wire.Fail, "panic: assignment to entry in nil map at example.com/gtx/x_test.go:12",
			"at example.com/gtx/x_test.go:12", "failed: TestPanics (panic: assignment to entry in nil map at example.com/gtx/x_test.go:12)"},
		{"a panic in a test's goroutine", wire.Event{Exit: 2, Err: "exit status 2", Stderr: goGoroutinePanicStderr,
			Stdout: []string{"=== RUN   TestWrite"}},
			"TestWrite", wire.Fail, neverEnded + ": panic: boom at example.com/gtx/x_test.go:30", "panic: boom", "failed: TestWrite"},
		{"a panic the stacks place in no test", wire.Event{Exit: 2, Err: "exit status 2",
			Stderr: "panic: boom\n\ngoroutine 9 [running]:\nexample.com/gtx.helper()\n\texample.com/gtx/h.go:5 +0x1\n",
			Stdout: []string{"=== RUN   TestA", "    x_test.go:3: wrong", "--- FAIL: TestA (0.00s)", "=== RUN   TestB"}},
			"TestB", wire.Fail, neverEnded + ": panic: boom", "panic: boom", "failed: TestA, TestB (it never ended: panic: boom)"},
		{"the deadline", wire.Event{Exit: -1, Signal: "killed", Err: "/mmaprig/tests/gtx.test did not finish within 30s",
			Stdout: []string{"=== RUN   TestOK", "--- PASS: TestOK (0.00s)", "=== RUN   TestReadEmptyPipeBlocks"}},
			"TestReadEmptyPipeBlocks", wire.Fail, neverEnded + ": /mmaprig/tests/gtx.test did not finish within 30s", "",
			"failed: TestReadEmptyPipeBlocks (it never ended: /mmaprig/tests/gtx.test did not finish within 30s)"},
		{"its deadline over SSH", wire.Event{Exit: 124, Err: "some stderr of the test\nmodctl: /mmaprig/tests/gtx.test did not finish within 8s",
			Stdout: []string{"=== RUN   TestHangs"}},
			"TestHangs", wire.Fail, neverEnded + ": modctl: /mmaprig/tests/gtx.test did not finish within 8s", "", "failed: TestHangs (it never ended: modctl: "},
		{"killed over SSH", wire.Event{Exit: -1, Signal: "KILL", Stdout: []string{"=== RUN   TestHangs"}},
			"TestHangs", wire.Fail, neverEnded + ": killed by KILL", "", "failed: TestHangs (it never ended: killed by KILL)"},
		{"a plain failure", wire.Event{Exit: 1, Err: "exit status 1",
			Stdout: []string{"=== RUN   TestX", "    x_test.go:3: wrong", "--- FAIL: TestX (0.00s)"}},
			"TestX", wire.Fail, "", "x_test.go:3: wrong", "guest test gtx failed: TestX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res Result
			tc.ev.Name, tc.ev.Cmd = wire.EvRun, prog.Cmd()
			r := judgeGoTest(&res, prog, tc.ev, false)
			if r == nil || r.Class != Contract || !strings.Contains(r.Msg, tc.msg) {
				t.Fatalf("verdict %+v; want contract with %q", r, tc.msg)
			}
			var c *wire.Case
			for i := range res.Cases {
				if res.Cases[i].Name == tc.test {
					c = &res.Cases[i]
				}
			}
			if c == nil {
				t.Fatalf("no case %s in %+v", tc.test, res.Cases)
			}
			if c.Result != tc.result || c.Reason != tc.reason {
				t.Errorf("case %s: %s %q; want %s %q", c.Name, c.Result, c.Reason, tc.result, tc.reason)
			}
			if d := strings.Join(c.Diagnostics, "\n"); !strings.Contains(d, tc.diagnostic) {
				t.Errorf("diagnostics %q lack %q", d, tc.diagnostic)
			}
		})
	}
}

// parseGoPanic finds the panic, its first lines, and the test's frame;
// output without a panic has none.
func TestParseGoPanic(t *testing.T) {
	p := parseGoPanic("some log line\n" + goPanicStderr)
	if len(p.lines) != 1 || p.test != "TestPanics" || p.at != "example.com/gtx/x_test.go:12" {
		t.Errorf("parseGoPanic = %+v", p)
	}
	timeout := "panic: test timed out after 2s\n\trunning tests:\n\t\tTestHangs (2s)\n\ngoroutine 1 [running]:\n"
	if p := parseGoPanic(timeout); len(p.lines) != 3 || p.summary() != "panic: test timed out after 2s" {
		t.Errorf("the test binary's own timeout: %+v, %q", p, p.summary())
	}
	if p := parseGoPanic("exit status 1\n"); p.found() || p.summary() != "" {
		t.Errorf("no panic: %+v", p)
	}
}

// A failed Go test's output locates the failure at its first t.Error or
// t.Fatal, or at the panic's line in the test; other output does not.
func TestGoFailureAt(t *testing.T) {
	for _, tc := range []struct {
		diags []string
		file  string
		line  int
	}{
		{[]string{"pages_test.go:63: page 0 byte 0 = 1, want 0", "pages_test.go:70: again"}, "pages_test.go", 63},
		{[]string{"=== RUN x", "x_test.go:9: got\nmore"}, "x_test.go", 9},
		{[]string{"panic: assignment to entry in nil map", "at example.com/gtx/x_test.go:12"}, "x_test.go", 12},
		{[]string{"it failed", "see main.go"}, "", 0},
		{nil, "", 0},
	} {
		if file, line := GoFailureAt(tc.diags); file != tc.file || line != tc.line {
			t.Errorf("GoFailureAt(%q) = %s:%d, want %s:%d", tc.diags, file, line, tc.file, tc.line)
		}
	}
}
