package verdict

import (
	"regexp"
	"slices"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// progress follows a guest program while it runs, from the output lines
// it streams (wire.EvProgress): which case (KTAP) or test (Go) is running
// now, so that a crash in its middle names it, and what it printed so
// far, so that the cases that finished are kept when the program's own
// event never comes.
type progress struct {
	prog  Program
	lines []string
	// size counts the bytes kept; past wire.MaxOutput lines are dropped,
	// as the init drops a program's output.
	size int
	// running is the case or test that started and has not ended.
	running string
}

func newProgress(p Program) *progress { return &progress{prog: p} }

// add takes the lines the program printed since the last progress event.
func (p *progress) add(lines []string) {
	for _, l := range lines {
		if p.size+len(l)+1 > wire.MaxOutput {
			return
		}
		p.size += len(l) + 1
		p.lines = append(p.lines, l)
		p.follow(l)
	}
}

var (
	// goRunRE is a Go test's start in -test.v output, or its resumption
	// (a parallel one's CONT, a NAME line when its output follows
	// another's); goEndRE its end.
	goRunRE = regexp.MustCompile(`^=== (?:RUN|CONT|NAME)\s+(\S+)`)
	goEndRE = regexp.MustCompile(`^\s*--- (?:PASS|FAIL|SKIP): (\S+) `)
	// ktapEndRE is a KTAP case's result line.
	ktapEndRE = regexp.MustCompile(`^(?:not )?ok \d+\b`)
)

// follow updates the running case from one line.
func (p *progress) follow(l string) {
	if p.prog.Check == CheckGoTest {
		if m := goRunRE.FindStringSubmatch(l); m != nil {
			p.running = m[1]
		} else if m := goEndRE.FindStringSubmatch(l); m != nil && m[1] == p.running {
			// A subtest's end: its parent runs on.
			p.running, _, _ = strings.Cut(p.running, "/")
			if p.running == m[1] {
				p.running = ""
			}
		}
		return
	}
	if name, ok := wire.CaseStart(l); ok {
		p.running = name
	} else if ktapEndRE.MatchString(l) {
		p.running = ""
	}
}

// during names what runs now, as a verdict says it: "contract case
// unload_reload", "guesttest TestWrite"; empty when no case runs.
func (p *progress) during() string {
	switch {
	case p == nil || p.running == "":
		return ""
	case p.prog.Check == CheckGoTest:
		return p.prog.Suite() + " " + p.running
	}
	return p.prog.Suite() + " case " + p.running
}

// cases are the program's cases as its output so far shows them, judged
// as its own event would be; the running one, if its output lists it, as
// a failure.
func (p *progress) cases(spec Spec) []wire.Case {
	switch p.prog.Check {
	case CheckKTAP, CheckGoTest, CheckProgram:
	default:
		return nil
	}
	if p.prog.Check == CheckProgram && !looksLikeKTAP(p.lines) {
		return nil
	}
	var res Result
	judgeRun(&res, p.prog, wire.Event{Name: wire.EvRun, Cmd: p.prog.Cmd(), Exit: -1, Stdout: p.lines}, spec)
	return res.Cases
}

// cases are the run's cases at its verdict r: those of the programs that
// reported, then those the running program had finished, when its own
// event never came. The case during which the kernel reported is crashed,
// even if it went on to end (its own failure, such as an rmmod that never
// returned, follows from the report, and a guest that skips its idle time
// reaches such a timeout at once); one that another failure cut short
// (the guest froze) failed, with the verdict as its reason. Any other
// case that ended keeps its own result.
func (e *Engine) cases(r Result) []wire.Case {
	cases := slices.Clone(e.res.Cases)
	p := e.progress
	if p != nil {
		cases = append(cases, p.cases(e.spec)...)
	}
	var suite, name, reason string
	result := wire.Crashed
	switch {
	case r.Class == GuestCrash && e.crash != nil && e.crash.name != "":
		suite, name, reason = e.crash.suite, e.crash.name, "the kernel reported "+r.Title+" while it ran"
	case r.Class != Pass && p != nil && p.running != "":
		suite, name, reason, result = p.prog.Suite(), p.running, "it never ended: "+r.Msg, wire.Fail
	default:
		return cases
	}
	i := slices.IndexFunc(cases, func(c wire.Case) bool { return c.Suite == suite && c.Name == name })
	if i < 0 {
		n := 1
		for _, c := range cases {
			if c.Suite == suite {
				n++
			}
		}
		cases = append(cases, wire.Case{Number: n, Name: name, Suite: suite})
		i = len(cases) - 1
	} else if result != wire.Crashed && !strings.HasPrefix(cases[i].Reason, neverEnded) {
		return cases
	}
	cases[i].Result, cases[i].Reason = result, reason
	return cases
}

// CaseList renders cases in a line, "name result, ...", as recordings
// state them (the CASES header).
func CaseList(cases []wire.Case) string {
	s := make([]string, len(cases))
	for i, c := range cases {
		s[i] = c.Name + " " + string(c.Result)
	}
	return strings.Join(s, ", ")
}
