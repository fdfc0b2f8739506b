// Package report renders the results of a run or of matrix cells: a
// terminal table, JSON, JUnit XML for CI test reporters, a Markdown job
// summary for GitHub Actions, and a self-contained HTML page.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/mmaprig/mmaprig/internal/atomicfile"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
)

var stages = []string{"kernel", "module", "initramfs", "boot"}

// Table writes one row per cell: where the kernel came from,
// architecture, accelerator, stage times, verdict.
func Table(w io.Writer, cells []result.Cell) {
	cov := false
	for _, c := range cells {
		cov = cov || c.Result.Coverage != nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "CELL\tKERNEL\tARCH\tACCEL\tKERNEL\tMODULE\tINITRAMFS\tBOOT\tVERDICT\t"
	if cov {
		head += "COVERAGE\t"
	}
	fmt.Fprintln(tw, head)
	for _, c := range cells {
		if c.Skipped != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\tskipped: %s\t\n", c.Name, c.Skipped)
			continue
		}
		row := []string{c.Name, cellOrigin(c.Result), c.Result.Arch, c.Result.Accel}
		for _, s := range stages {
			row = append(row, stageTime(c.Result, s))
		}
		verdict := string(c.Result.Class)
		if !c.OK {
			verdict += fmt.Sprintf(" (want %s) FAIL", c.Expect)
		}
		row = append(row, verdict)
		if cov {
			row = append(row, coverage(c.Result))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// coverage is a cell's line coverage, file by file.
func coverage(r result.Run) string {
	if r.Coverage == nil {
		return "-"
	}
	var s []string
	for _, f := range r.Coverage.Files {
		s = append(s, fmt.Sprintf("%s %.1f%%", filepath.Base(f.File), f.LinePercent))
	}
	return strings.Join(s, ", ")
}

func short(kernel string) string {
	return strings.TrimPrefix(strings.TrimPrefix(kernel, "Debian package "), "Debian prebuilt ")
}

func stageTime(r result.Run, stage string) string {
	for _, s := range r.Stages {
		if s.Stage == stage {
			out := progress.FormatDuration(time.Duration(s.Time.Seconds() * float64(time.Second)))
			if s.Cached {
				out += "*"
			}
			return out
		}
	}
	return "-"
}

// WriteJSON writes the cells as the result document, the schema of
// docs/result.md.
func WriteJSON(path string, cells []result.Cell) error {
	b, err := json.MarshalIndent(result.NewDocument(cells), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// JUnit builds the XML document: a test suite per cell, a test case per
// contract case, and one for the run's own verdict, so a failure before
// the contract (a crash, a build error) shows too.
func JUnit(cells []result.Cell) junit.Testsuites {
	var doc junit.Testsuites
	doc.Name = "mmaprig"
	for _, c := range cells {
		suite := junit.Testsuite{Name: "mmaprig/" + c.Name, Time: secs(c.Wall.D())}
		suite.AddProperty("kernel", c.Result.Kernel)
		originProperties(&suite, c.Result.Origin)
		suite.AddProperty("accel", c.Result.Accel)
		suite.AddProperty("artifacts", c.Result.ArtifactDir)
		if c.Skipped != "" {
			suite.AddTestcase(junit.Testcase{Name: "verdict", Classname: c.Name,
				Skipped: &junit.Result{Message: c.Skipped}})
			doc.AddSuite(suite)
			continue
		}
		verdict := junit.Testcase{Name: "verdict", Classname: c.Name, Time: secs(c.Wall.D())}
		if !c.OK {
			verdict.Failure = &junit.Result{
				Message: fmt.Sprintf("%s: %s (expected %s)", c.Result.Class, c.Result.Verdict(), c.Expect),
				Type:    string(c.Result.Class),
				Data:    excerpt(c.Result),
			}
		}
		suite.AddTestcase(verdict)
		for _, k := range c.Result.Cases {
			suiteName := k.Suite
			if suiteName == "" {
				suiteName = "contract"
			}
			tc := junit.Testcase{Name: k.Name, Classname: c.Name + "." + suiteName, Time: secs(k.Time.D())}
			switch wire.CaseResult(k.Result) {
			case wire.Skip:
				tc.Skipped = &junit.Result{Message: k.Reason}
			case wire.Fail:
				tc.Failure = &junit.Result{Message: caseMessage(c.Name+": "+suiteName+" case "+k.Name+" failed", k.Reason),
					Type: "contract", Data: strings.Join(k.Diagnostics, "\n")}
			case wire.Crashed:
				tc.Error = &junit.Result{Message: caseMessage(c.Name+": "+suiteName+" case "+k.Name+" crashed", k.Reason),
					Type: string(wire.Crashed), Data: strings.Join(k.Diagnostics, "\n")}
			}
			suite.AddTestcase(tc)
		}
		doc.AddSuite(suite)
	}
	return doc
}

// originProperties say where the kernel came from, for a CI test
// reporter: the phrase, then each part of it apart.
func originProperties(suite *junit.Testsuite, o *result.Origin) {
	if o == nil {
		return
	}
	suite.AddProperty("kernel_origin", o.String())
	for _, p := range []struct{ name, value string }{
		{"kernel_kind", o.Kind}, {"kernel_commit", o.Commit}, {"kernel_release", o.Release}, {"kernel_how", o.How},
	} {
		if p.value != "" {
			suite.AddProperty(p.name, p.value)
		}
	}
	suite.AddProperty("kernel_seconds", fmt.Sprintf("%.3f", o.Time.Seconds()))
}

// caseMessage is a case's failure message, with its reason when it has
// one: a Go test's panic, or the deadline it did not end by.
func caseMessage(msg, reason string) string {
	if reason == "" {
		return msg
	}
	return msg + ": " + reason
}

func excerpt(r result.Run) string {
	s := r.Excerpt
	if s != "" {
		s += "\n"
	}
	return s + "serial log: " + r.ConsoleLog + "\nartifacts: " + r.ArtifactDir
}

// WriteJUnit writes the JUnit XML to path.
func WriteJUnit(path string, cells []result.Cell) error {
	doc := JUnit(cells)
	var b strings.Builder
	if err := doc.WriteXML(&b); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, []byte(b.String()), 0o644)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
