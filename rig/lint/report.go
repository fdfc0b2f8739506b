package lint

import (
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Severity says how much a finding matters. See the README for how each
// tool's levels map to these.
type Severity string

const (
	// SevError is a bug, or what checkpatch and sparse call an error.
	SevError Severity = "error"
	// SevWarning is what a tool warns about: likely wrong, worth a look.
	SevWarning Severity = "warning"
	// SevStyle is layout and taste: checkpatch's CHECKs (-strict) and the
	// Coccinelle scripts that only suggest a shorter spelling.
	SevStyle Severity = "style"
)

// ToolError is a checker that could not run, or could not finish: its
// checks did not happen, so the module is not known to be clean.
type ToolError struct {
	Tool string `json:"tool"`
	// Script is the Coccinelle script that failed, when one did.
	Script string `json:"script,omitempty"`
	// Headline is the tool's own first words about the failure.
	Headline string `json:"headline"`
	// Detail is the end of what the tool printed.
	Detail string `json:"detail,omitempty"`
}

func (e ToolError) Error() string {
	if e.Script != "" {
		return fmt.Sprintf("%s %s: %s", e.Tool, e.Script, e.Headline)
	}
	return e.Tool + ": " + e.Headline
}

// LeftOut is a checkpatch check that lint leaves out of out-of-tree mode.
type LeftOut struct {
	Type string `json:"type"`
	Why  string `json:"why"`
}

// Result is what Run found: every finding of every severity, the checkers
// that failed, and the checks left out.
type Result struct {
	Module     string      `json:"module"`
	Tools      []string    `json:"tools"`
	Findings   []Finding   `json:"findings"`
	ToolErrors []ToolError `json:"tool_errors"`
	LeftOut    []LeftOut   `json:"left_out,omitempty"`
}

// Count returns the number of findings of severity s.
func (r *Result) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Exit codes of rig lint, the rig's own: 0 clean, 1 the module's fault,
// 3 no verdict (exit 2, bad input, never comes from a Result).
const (
	ExitClean     = 0
	ExitFindings  = 1
	ExitNoVerdict = 3
)

// ExitCode is 1 when there is an error or a warning (style findings alone
// do not fail), else 3 when a checker failed, since the module is then not
// known to be clean, else 0.
func (r *Result) ExitCode() int {
	switch {
	case r.Count(SevError)+r.Count(SevWarning) > 0:
		return ExitFindings
	case len(r.ToolErrors) > 0:
		return ExitNoVerdict
	}
	return ExitClean
}

// Write prints the findings (style ones only when style is set), the tool
// errors, and a summary line. verbose also lists the checks left out.
func (r *Result) Write(w io.Writer, style, verbose bool) {
	for _, f := range r.Findings {
		if style || f.Severity != SevStyle {
			fmt.Fprintln(w, f)
		}
	}
	for _, e := range r.ToolErrors {
		fmt.Fprintf(w, "lint: tool error: %v\n", e)
	}
	if verbose {
		for _, l := range r.LeftOut {
			fmt.Fprintf(w, "lint: checkpatch leaves out %s: %s (-in-tree checks it)\n", l.Type, l.Why)
		}
	}
	fmt.Fprintln(w, r.summary(style))
}

func (r *Result) summary(style bool) string {
	errs, warns, styles := r.Count(SevError), r.Count(SevWarning), r.Count(SevStyle)
	var parts []string
	if errs+warns > 0 {
		parts = append(parts, fmt.Sprintf("%d error(s), %d warning(s)", errs, warns))
	}
	if n := len(r.ToolErrors); n > 0 {
		parts = append(parts, fmt.Sprintf("%d tool error(s), so not known to be clean", n))
	}
	if styles > 0 && !style {
		parts = append(parts, fmt.Sprintf("%d style finding(s) not shown (-style shows them)", styles))
	} else if styles > 0 {
		parts = append(parts, fmt.Sprintf("%d style finding(s)", styles))
	}
	head := fmt.Sprintf("lint: %s", r.Module)
	if errs+warns == 0 && len(r.ToolErrors) == 0 {
		head += " is clean"
	}
	if len(parts) > 0 {
		head += ": " + strings.Join(parts, "; ")
	}
	tail := strings.Join(r.Tools, ", ")
	if len(r.LeftOut) > 0 {
		var types []string
		for _, l := range r.LeftOut {
			types = append(types, l.Type)
		}
		tail += "; out of tree, checkpatch leaves out " + strings.Join(types, ", ") + ": -in-tree checks them"
	}
	return head + " (" + tail + ")"
}

// errorLineRE finds the line of a tool's output that says what went wrong.
var errorLineRE = regexp.MustCompile(`(?i)error|\*\*\*|not found|cannot|no such|timed out`)

// headline picks the line of a failed tool's output that names the
// failure: the first that says error (make's *** too), else the first
// non-empty one. A line that ends in a colon is joined with the next.
func headline(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	i := 0
	for j, l := range lines {
		if errorLineRE.MatchString(l) {
			i = j
			break
		}
	}
	h := lines[i]
	if strings.HasSuffix(h, ":") && i+1 < len(lines) {
		h += " " + lines[i+1]
	}
	return h
}
