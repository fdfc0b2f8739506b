package wire

// KTAP: the subset of the kernel's test output format
// (Documentation/dev-tools/ktap.rst) that the guest's checks print and the
// rig parses: a version line, a plan, one result line per case, and "#"
// diagnostic lines.
//
//	KTAP version 1
//	1..2
//	# reader_output: 0 1 2 3 4 5 6 7 8 9
//	ok 1 reader_output
//	not ok 2 refuses_bad_maps
//	ok 3 user_kernel_agree # SKIP no read(): the driver has no read() (...)
//	# case start kernel_clean
//
// A "# case start NAME" line before a case's lines says it started, so
// that a crash in its middle can be laid at its door: a KTAP result line
// comes only at a case's end.

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CaseResult is how a case ended.
type CaseResult string

// The results.
const (
	Pass CaseResult = "pass"
	Fail CaseResult = "fail"
	Skip CaseResult = "skip"
	// Crashed: the kernel crashed while the case ran, and it never ended.
	// The rig sets it; no program reports it.
	Crashed CaseResult = "crashed"
)

// SkipHeadline is a SKIP reason's headline, what a one-line report such
// as the PASS line shows: the text before the reason's first ": ", or the
// whole reason, at most 60 characters. The contract's reasons start with
// one: "no write(): the driver has no write() (...)". A Go test's reason
// starts with where it skipped ("x_test.go:12: "), which is left out.
func SkipHeadline(reason string) string {
	reason = strings.TrimSpace(reason)
	if m := goSkipRE.FindStringSubmatch(reason); m != nil {
		reason = m[1]
	}
	if head, _, ok := strings.Cut(reason, ": "); ok && head != "" {
		reason = head
	}
	if reason == "" {
		return "no reason given"
	}
	if r := []rune(reason); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return reason
}

// goSkipRE matches a Go test's skip message, after its file and line.
var goSkipRE = regexp.MustCompile(`^[\w./-]+\.go:\d+: (.*)$`)

// Case is one test case.
type Case struct {
	Number int
	Name   string
	Result CaseResult
	// Reason is the SKIP reason, or the failure's summary.
	Reason string
	// Diagnostics are the "#" lines printed before the result line.
	Diagnostics []string
	// Time is how long the case ran, from its "# time: DURATION" line.
	Time time.Duration
	// Suite is the program that ran the case, such as "contract"; set by
	// the rig, not by KTAP.
	Suite string
}

// KTAPWriter prints a KTAP document.
type KTAPWriter struct {
	w io.Writer
	n int
}

// NewKTAPWriter prints the header and the plan for n cases.
func NewKTAPWriter(w io.Writer, n int) *KTAPWriter {
	fmt.Fprintf(w, "KTAP version 1\n1..%d\n", n)
	return &KTAPWriter{w: w}
}

// Diag prints a diagnostic line.
func (k *KTAPWriter) Diag(format string, args ...any) {
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(k.w, "# %s\n", l)
	}
}

// Start says that a case starts, before its diagnostics and its result.
func (k *KTAPWriter) Start(name string) {
	fmt.Fprintf(k.w, "%s%s\n", caseStartPrefix, name)
}

// caseStartPrefix starts the diagnostic that says a case started.
const caseStartPrefix = "# case start "

// CaseStart returns the case a "# case start NAME" line names.
func CaseStart(line string) (string, bool) {
	name, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), caseStartPrefix)
	if name = strings.TrimSpace(name); !ok || name == "" {
		return "", false
	}
	return name, true
}

// Result prints the next case's result line.
func (k *KTAPWriter) Result(name string, r CaseResult, reason string) {
	k.result(name, r, reason)
}

// TimedResult prints how long the case ran, as a "# time:" diagnostic,
// then its result line.
func (k *KTAPWriter) TimedResult(name string, r CaseResult, reason string, d time.Duration) {
	fmt.Fprintf(k.w, "%s%s\n", timePrefix, d.Round(10*time.Microsecond))
	k.result(name, r, reason)
}

// timePrefix starts the diagnostic that gives a case's time.
const timePrefix = "# time: "

func (k *KTAPWriter) result(name string, r CaseResult, reason string) {
	k.n++
	switch r {
	case Pass:
		fmt.Fprintf(k.w, "ok %d %s\n", k.n, name)
	case Skip:
		fmt.Fprintf(k.w, "ok %d %s # SKIP %s\n", k.n, name, reason)
	default:
		fmt.Fprintf(k.w, "not ok %d %s\n", k.n, name)
	}
}

var (
	versionRE = regexp.MustCompile(`^(?:KTAP|TAP) version (\d+)$`)
	planRE    = regexp.MustCompile(`^1\.\.(\d+)$`)
	resultRE  = regexp.MustCompile(`^(ok|not ok) (\d+)(?: (?:- )?([^#]*?))?\s*(?:#\s*(\S+)\s*(.*))?$`)
)

// ResultLine reads one KTAP result line, "ok 3 name", "not ok 4 name",
// "ok 5 name # SKIP why", as it comes: for progress, before the document
// is whole (ParseKTAP judges the document).
func ResultLine(line string) (Case, bool) {
	m := resultRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
	if m == nil {
		return Case{}, false
	}
	num, _ := strconv.Atoi(m[2])
	c := Case{Number: num, Name: m[3], Result: Pass}
	if m[1] == "not ok" {
		c.Result = Fail
	}
	if strings.EqualFold(m[4], "SKIP") {
		c.Result, c.Reason = Skip, m[5]
	}
	return c, true
}

// KTAP is a parsed KTAP document.
type KTAP struct {
	Version int
	Plan    int
	Cases   []Case
}

// ParseKTAP reads a flat KTAP document. It fails on a missing version line,
// a missing plan, or results that do not match the plan, since a truncated
// run must not look like a pass.
func ParseKTAP(r io.Reader) (KTAP, error) {
	var doc KTAP
	var diags []string
	var caseTime time.Duration
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case doc.Version == 0:
			m := versionRE.FindStringSubmatch(line)
			if m == nil {
				return doc, fmt.Errorf("ktap line %d: want a version line, got %q", n, line)
			}
			doc.Version, _ = strconv.Atoi(m[1])
		case planRE.MatchString(line):
			doc.Plan, _ = strconv.Atoi(planRE.FindStringSubmatch(line)[1])
		case strings.HasPrefix(line, caseStartPrefix):
			// Progress, not a diagnostic of the case.
		case strings.HasPrefix(line, timePrefix):
			caseTime, _ = time.ParseDuration(strings.TrimPrefix(line, timePrefix))
		case strings.HasPrefix(line, "#"):
			diags = append(diags, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case resultRE.MatchString(line):
			m := resultRE.FindStringSubmatch(line)
			num, _ := strconv.Atoi(m[2])
			c := Case{Number: num, Name: m[3], Result: Pass, Diagnostics: diags, Time: caseTime}
			diags, caseTime = nil, 0
			if m[1] == "not ok" {
				c.Result = Fail
			}
			if strings.EqualFold(m[4], "SKIP") {
				c.Result, c.Reason = Skip, m[5]
			}
			if want := len(doc.Cases) + 1; num != want {
				return doc, fmt.Errorf("ktap line %d: case %d out of order; want %d", n, num, want)
			}
			doc.Cases = append(doc.Cases, c)
		case strings.TrimSpace(line) == "":
		default:
			// Unknown lines are allowed by KTAP; keep them as diagnostics.
			diags = append(diags, line)
		}
	}
	if err := sc.Err(); err != nil {
		return doc, err
	}
	if doc.Version == 0 {
		return doc, fmt.Errorf("ktap: empty output")
	}
	if doc.Plan == 0 {
		return doc, fmt.Errorf("ktap: no plan line")
	}
	if len(doc.Cases) != doc.Plan {
		return doc, fmt.Errorf("ktap: the plan says %d cases, the output has %d; the run was cut short", doc.Plan, len(doc.Cases))
	}
	return doc, nil
}
