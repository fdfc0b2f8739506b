package verdict

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/gtr"
	"github.com/jstemmer/go-junit-report/v2/parser/gotest"

	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// neverEnded starts the reason of a Go test that started and never
// ended: the binary died in its middle (a panic, its deadline, a crash).
const neverEnded = "it never ended"

// judgeGoTest turns a Go test binary's -test.v output into one case per
// test (go-junit-report's parser), and fails the run if one failed, or if
// the binary did not end well (a panic, a timeout) though none failed. A
// test that panicked, or that the binary's end cut short, says why: the
// panic's first lines and where in the test it came from, or the
// deadline. One that ran no test fails too, unless -run selected
// (selected): then it is the run's end that judges whether -run matched
// any case at all.
func judgeGoTest(res *Result, p Program, ev wire.Event, selected bool) *Result {
	name := p.Suite()
	report, err := gotest.NewParser(gotest.PackageName(name)).Parse(strings.NewReader(strings.Join(ev.Stdout, "\n") + "\n"))
	pan := parseGoPanic(ev.Stderr)
	var tests []gtr.Test
	if err == nil {
		for _, pkg := range report.Packages {
			tests = append(tests, pkg.Tests...)
		}
	}
	pan.blame(tests)
	var names, failed, details []string
	for i, t := range tests {
		c := goCase(t, i+1, name, ev, pan)
		if c.Result == wire.Fail {
			what := t.Name
			if c.Reason != "" {
				what += " (" + c.Reason + ")"
			}
			names, failed = append(names, t.Name), append(failed, what)
			details = append(details, c.Diagnostics...)
		}
		res.Cases = append(res.Cases, c)
	}
	switch {
	case failed != nil:
		return &Result{Class: Contract, Title: "guest test " + name + " failed: " + strings.Join(names, ", "),
			Msg: fmt.Sprintf("guest test %s failed: %s", name, strings.Join(failed, ", ")), Excerpt: strings.Join(details, "\n")}
	case !ev.OK || len(tests) == 0 && !selected:
		why := "no test ran"
		if !ev.OK {
			why = how(ev)
		}
		return &Result{Class: Contract, Title: "guest test " + name + " failed",
			Msg:     fmt.Sprintf("guest test %s failed (%s): %s", name, why, firstNonEmpty(pan.summary(), strings.TrimSpace(ev.Stderr), ev.Err)),
			Excerpt: strings.Join(tail.Lines(ev.Stdout, 20), "\n")}
	}
	return nil
}

// goCase is one test's case. A failed test that the panic names, or the
// last one when the panic names none, has the panic as its reason; a test
// that never ended has why the binary ended.
func goCase(t gtr.Test, n int, suite string, ev wire.Event, pan goPanic) wire.Case {
	c := wire.Case{Number: n, Name: t.Name, Result: wire.Pass, Time: t.Duration, Suite: suite}
	switch t.Result {
	case gtr.Skip:
		c.Result = wire.Skip
		c.Reason = strings.TrimSpace(strings.Join(t.Output, " "))
		return c
	case gtr.Pass:
		return c
	}
	c.Result, c.Diagnostics = wire.Fail, trimOutput(t.Output)
	blamed := pan.found() && (pan.test == t.Name || strings.HasPrefix(t.Name, pan.test+"/"))
	switch {
	case blamed:
		c.Reason = pan.summary()
		c.Diagnostics = append(c.Diagnostics, pan.lines...)
		if pan.at != "" {
			c.Diagnostics = append(c.Diagnostics, "at "+pan.at)
		}
	case t.Result == gtr.Unknown:
		// The error's last line says how the binary ended; over SSH it
		// is the end of the program's stderr, where modctl says it.
		c.Reason = neverEnded + ": " + tail.Lines(strings.Split(firstNonEmpty(strings.TrimSpace(ev.Err), how(ev)), "\n"), 1)[0]
	}
	if t.Result == gtr.Unknown && blamed {
		c.Reason = neverEnded + ": " + c.Reason
	}
	return c
}

// goPanic is how a Go program panicked, from its stderr.
type goPanic struct {
	// lines are the panic's message: its first line ("panic: ..." or
	// "fatal error: ...") up to the blank line before the stacks, at most
	// maxPanicLines.
	lines []string
	// test is the test function whose frame the stacks show, and at its
	// file and line.
	test, at string
}

const maxPanicLines = 6

var (
	panicStartRE = regexp.MustCompile(`^(?:panic: |fatal error: )`)
	// testFrameRE is a test function's frame, or a closure's in it;
	// frameAtRE the line under a frame that says where it is.
	testFrameRE = regexp.MustCompile(`^\S+\.(Test\w*)(?:\.func[\d.]+)*\(`)
	frameAtRE   = regexp.MustCompile(`^\s+(\S+\.go:\d+)`)
)

// parseGoPanic finds a panic in a Go program's stderr.
func parseGoPanic(stderr string) goPanic {
	var p goPanic
	lines := strings.Split(stderr, "\n")
	start := -1
	for i, l := range lines {
		if start < 0 && panicStartRE.MatchString(l) {
			start = i
		}
		if start < 0 {
			continue
		}
		if i-start < maxPanicLines && strings.TrimSpace(l) != "" && len(p.lines) == i-start {
			p.lines = append(p.lines, strings.TrimRight(l, " \t"))
		}
		if m := testFrameRE.FindStringSubmatch(l); m != nil && p.test == "" && i+1 < len(lines) {
			if at := frameAtRE.FindStringSubmatch(lines[i+1]); at != nil {
				p.test, p.at = m[1], at[1]
			}
		}
	}
	return p
}

func (p goPanic) found() bool { return len(p.lines) > 0 }

// blame picks the test a panic whose stacks name none is laid at: the
// last one that did not pass or skip, which is where the binary died.
func (p *goPanic) blame(tests []gtr.Test) {
	if !p.found() || p.test != "" {
		return
	}
	for _, t := range tests {
		if t.Result != gtr.Pass && t.Result != gtr.Skip {
			p.test = t.Name
		}
	}
}

// summary is the panic's first line without the testing package's
// "[recovered]" notes, and where in the test it came from.
func (p goPanic) summary() string {
	if !p.found() {
		return ""
	}
	s := strings.TrimSpace(p.lines[0])
	if i := strings.LastIndex(s, " [recovered"); i > 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	if p.at != "" {
		s += " at " + p.at
	}
	return s
}

// goLineRE matches where a failed Go test's output locates the failure:
// a t.Error's or t.Fatal's line ("x_test.go:12: message", which testing
// names by the file's base name) or the "at" line of a panic in the test
// ("at example.com/x/x_test.go:12").
var goLineRE = regexp.MustCompile(`^(?:at )?(\S+\.go):(\d+)(?::|$)`)

// GoFailureAt is where a failed Go test's diagnostics (a Case's) locate
// the failure first: the file's base name, and the line; "" and 0 when
// they do not.
func GoFailureAt(diagnostics []string) (string, int) {
	for _, d := range diagnostics {
		if m := goLineRE.FindStringSubmatch(d); m != nil {
			n, _ := strconv.Atoi(m[2])
			return path.Base(m[1]), n
		}
	}
	return "", 0
}
