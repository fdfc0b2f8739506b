package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// status is how a cell ended, for the reports that group or colour
// cells: "skip" (it did not run), "pass" (it ended in the class it must,
// even a failure class), or "fail".
func cellStatus(c result.Cell) string {
	switch {
	case c.Skipped != "":
		return "skip"
	case c.OK:
		return "pass"
	}
	return "fail"
}

// verdict is the cell's class, with the class it must end in when the
// two differ: "contract (expected pass)".
func cellVerdict(c result.Cell) string {
	if c.Skipped != "" {
		return "skipped"
	}
	v := string(c.Result.Class)
	if v == "" {
		v = "unknown"
	}
	if c.Expect != "" && c.Expect != c.Result.Class {
		v += " (expected " + string(c.Expect) + ")"
	}
	return v
}

// cellOrigin says in a phrase where the cell's kernel came from, its
// version, and how the run got it: "Debian linux-source-6.1 6.1.192,
// cached". A run that got no kernel says only its source.
func cellOrigin(r result.Run) string {
	if r.Origin == nil {
		return short(r.Kernel)
	}
	return r.Origin.String()
}

// failingCases are the names of the contract cases that failed, or that
// a crash interrupted.
func cellFailingCases(c result.Cell) []string {
	var names []string
	for _, k := range c.Result.Cases {
		if k.Result == string(wire.Fail) || k.Result == string(wire.Crashed) {
			names = append(names, k.Name)
		}
	}
	return names
}

// failure names what went wrong in a line: the crash or failure title,
// or the first line of the message when there is no title, with the
// plan step it is about. It is empty for a cell that passed.
func cellFailure(c result.Cell) string {
	r := c.Result
	if c.Skipped != "" || (r.Class == verdict.Pass && r.Title == "") {
		return ""
	}
	s := r.Title
	if s == "" {
		s, _, _ = strings.Cut(r.Verdict(), "\n")
		s = truncate(s, 200)
	}
	if r.Step != "" {
		if s == "" {
			return "at step " + r.Step
		}
		s += " (step " + r.Step + ")"
	}
	return s
}

// stageNames lists the stages any cell went through, in run order.
func stageNames(cells []result.Cell) []string {
	var seen []string
	for _, c := range cells {
		for _, s := range c.Result.Stages {
			if !slices.Contains(seen, s.Stage) {
				seen = append(seen, s.Stage)
			}
		}
	}
	var names []string
	// Stages in the order a run takes them; any other follows in the
	// order it first appears.
	for _, s := range layout.Stages() {
		if slices.Contains(seen, s) {
			names = append(names, s)
		}
	}
	for _, s := range seen {
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	return names
}

// stage finds a stage's time in a report.
func stage(r result.Run, name string) (result.Stage, bool) {
	for _, s := range r.Stages {
		if s.Stage == name {
			return s, true
		}
	}
	return result.Stage{}, false
}

// seconds formats seconds as the terminal report does: 5ms, 3.62s, 4m12s.
func seconds(s float64) string {
	return progress.FormatDuration(time.Duration(s * float64(time.Second)))
}

// totals counts the cells by how they ended: "2 passed, 1 failed, 1 skipped".
func totals(cells []result.Cell) string {
	n := map[string]int{}
	for _, c := range cells {
		n[cellStatus(c)]++
	}
	parts := []string{fmt.Sprintf("%d passed", n["pass"])}
	if n["fail"] > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", n["fail"]))
	}
	if n["skip"] > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", n["skip"]))
	}
	cellWord := "cells"
	if len(cells) == 1 {
		cellWord = "cell"
	}
	return fmt.Sprintf("%s (%d %s)", strings.Join(parts, ", "), len(cells), cellWord)
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// lastLines keeps the last n lines of s, saying how many it left out.
func lastLines(s string, n int) string {
	kept, left := tail.Text(s, n)
	if left == 0 {
		return kept
	}
	return fmt.Sprintf("[%d earlier lines left out]\n", left) + kept
}
