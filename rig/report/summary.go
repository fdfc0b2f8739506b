package report

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"os"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/result"
)

// summaryExcerptLines bounds each failure's console excerpt in a
// summary, and the reader's output.
const summaryExcerptLines = 60

// mdCell escapes text for a cell of a GitHub-flavoured Markdown table, or
// a line of text: pipes and Markdown's inline syntax are escaped, HTML's
// specials become entities, and line breaks become <br>, so no value can
// end the cell, the row or the table, or start a link or emphasis.
var mdCell = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "`", "\\`", "*", `\*`, "_", `\_`, "~", `\~`,
	"[", `\[`, "]", `\]`, "&", "&amp;", "<", "&lt;", ">", "&gt;",
	"\r\n", "<br>", "\n", "<br>", "\r", "<br>",
)

// statusIcon marks a cell's status in the summary.
var statusIcon = map[string]string{"pass": "✅", "fail": "❌", "skip": "⏭️"}

// WriteSummary writes the cells as GitHub-flavoured Markdown, for a job
// summary: a heading with the totals, a table with one row per cell
// (where its kernel came from, architecture, accelerator, wall time, verdict, and the
// failure's title), then a section per cell: how the guest came up, the
// stages, the cases, coverage, warnings and the reader's output, and for
// a failure its message, and its crash, cases and console excerpt in
// collapsed blocks.
func WriteSummary(w io.Writer, cells []result.Cell) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "### mmaprig: %s\n\n", mdCell.Replace(totals(cells)))
	row(&b, []string{"Cell", "Kernel", "Arch", "Accel", "Wall", "Verdict", "Failure"})
	row(&b, []string{"---", "---", "---", "---", "---:", "---", "---"})
	for _, c := range cells {
		r := c.Result
		cols := []string{c.Name, cellOrigin(r), r.Arch, r.Accel, "", statusIcon[cellStatus(c)] + " " + cellVerdict(c), cellFailure(c)}
		if c.Wall > 0 {
			cols[4] = seconds(c.Wall.Seconds())
		}
		if c.Skipped != "" {
			cols[6] = c.Skipped
		}
		for i := range cols {
			cols[i] = mdCell.Replace(cols[i])
		}
		row(&b, cols)
	}
	b.WriteByte('\n')
	for _, c := range cells {
		mdSection(&b, c)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// mdSection writes one cell's section.
func mdSection(b *bytes.Buffer, c result.Cell) {
	r := c.Result
	fmt.Fprintf(b, "#### %s %s: %s\n\n", statusIcon[cellStatus(c)], mdCell.Replace(c.Name), mdCell.Replace(cellVerdict(c)))
	if c.Skipped != "" {
		fmt.Fprintf(b, "%s\n\n", mdCell.Replace(c.Skipped))
		return
	}
	if f := cellFailure(c); f != "" {
		fmt.Fprintf(b, "**%s**\n\n", mdCell.Replace(f))
	}
	if r.Message != "" {
		fmt.Fprintf(b, "%s\n\n", mdCell.Replace(r.Message))
	}
	if r.Cause != "" {
		fmt.Fprintf(b, "cause: %s\n\n", mdCell.Replace(r.Cause))
	}
	mdFacts(b, c)
	for _, s := range r.Stages {
		if len(s.Warnings) > 0 {
			fmt.Fprintf(b, "%s in stage %s:\n\n", plural(len(s.Warnings), "warning"), mdCell.Replace(s.Stage))
			fence(b, strings.Join(s.Warnings, "\n"))
		}
	}
	if len(r.Output) > 0 {
		b.WriteString("Reader output:\n\n")
		fence(b, lastLines(strings.Join(r.Output, "\n"), summaryExcerptLines))
	}
	if cellStatus(c) != "fail" {
		return
	}
	if r.Crash != nil {
		mdCrash(b, r)
	}
	if len(cellFailingCases(c)) > 0 {
		mdCases(b, c)
	}
	if r.Excerpt != "" {
		excerpt := lastLines(r.Excerpt, summaryExcerptLines)
		details(b, "Console excerpt ("+plural(strings.Count(excerpt, "\n")+1, "line")+")", func() { fence(b, excerpt) })
	}
}

// mdFacts writes a cell's guest, stages, cases, coverage and artifact
// directory as a list.
func mdFacts(b *bytes.Buffer, c result.Cell) {
	r := c.Result
	facts := guestFacts(r)
	var stages []string
	for _, s := range r.Stages {
		var notes []string
		if s.Cached {
			notes = append(notes, "cached")
		}
		if s.Failed {
			notes = append(notes, "failed")
		}
		if s.Summary != "" {
			notes = append(notes, s.Summary)
		}
		st := s.Stage + " " + seconds(s.Time.Seconds())
		if notes != nil {
			st += " (" + strings.Join(notes, ", ") + ")"
		}
		stages = append(stages, st)
	}
	if stages != nil {
		facts = append(facts, htmlFact{Label: "stages", Value: strings.Join(stages, " · ")})
	}
	if len(r.Cases) > 0 {
		facts = append(facts, htmlFact{Label: "cases", Value: caseCount(c)})
	}
	if r.Coverage != nil {
		for _, f := range coverageFacts(r, "") {
			facts = append(facts, htmlFact{Label: "coverage", Value: f.Value})
		}
	}
	if r.ArtifactDir != "" {
		facts = append(facts, htmlFact{Label: "artifacts", Value: r.ArtifactDir})
	}
	for _, f := range facts {
		fmt.Fprintf(b, "- **%s**: %s\n", mdCell.Replace(f.Label), mdCell.Replace(f.Value))
	}
	if facts != nil {
		b.WriteByte('\n')
	}
}

// mdCrash writes the kernel's report in a collapsed block: the guilty
// frame, where it is, and the call trace.
func mdCrash(b *bytes.Buffer, r result.Run) {
	details(b, "Crash: "+r.Crash.Title, func() {
		for _, f := range crashFacts(r) {
			fmt.Fprintf(b, "- **%s**: %s\n", mdCell.Replace(f.Label), mdCell.Replace(f.Value))
		}
		b.WriteByte('\n')
		if trace := r.Crash.Trace(); len(trace) > 0 {
			b.WriteString("Call trace:\n\n")
			fence(b, strings.Join(trace, "\n"))
		}
	})
}

// mdCases writes the cases in a collapsed block: a table of them all,
// then each failed case's diagnostics.
func mdCases(b *bytes.Buffer, c result.Cell) {
	details(b, "Cases: "+caseCount(c), func() {
		row(b, []string{"Result", "Suite", "Case", "Time", "Reason"})
		row(b, []string{"---", "---", "---", "---:", "---"})
		for _, k := range c.Result.Cases {
			cols := []string{k.Result, k.Suite, k.Name, seconds(k.Time.Seconds()), k.Reason}
			for i := range cols {
				cols[i] = mdCell.Replace(cols[i])
			}
			row(b, cols)
		}
		b.WriteByte('\n')
		for _, k := range c.Result.Cases {
			if (k.Result == string(wire.Fail) || k.Result == string(wire.Crashed)) && len(k.Diagnostics) > 0 {
				fmt.Fprintf(b, "%s:\n\n", mdCell.Replace(k.Name))
				fence(b, strings.Join(k.Diagnostics, "\n"))
			}
		}
	})
}

// details writes a collapsed block: its summary is HTML, its body
// Markdown, which GitHub reads after a blank line.
func details(b *bytes.Buffer, summary string, body func()) {
	fmt.Fprintf(b, "<details><summary>%s</summary>\n\n", html.EscapeString(summary))
	body()
	b.WriteString("</details>\n\n")
}

// plural counts things: "1 line", "4 lines".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// row writes one table row of already escaped columns.
func row(b *bytes.Buffer, cols []string) {
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
}

// fence writes text as a fenced code block, with a fence longer than any
// run of backticks in the text, so the text cannot close it.
func fence(b *bytes.Buffer, text string) {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	fmt.Fprintf(b, "%stext\n%s\n%s\n\n", f, strings.TrimRight(text, "\n"), f)
}

// AppendSummary appends the summary of the cells to the file at path,
// creating it if needed; it never truncates it. GitHub Actions names the
// file in GITHUB_STEP_SUMMARY, and other steps may have written to it.
func AppendSummary(path string, cells []result.Cell) error {
	var b bytes.Buffer
	b.WriteByte('\n') // a block of its own, whatever came before
	if err := WriteSummary(&b, cells); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("job summary: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("job summary %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("job summary %s: %w", path, err)
	}
	return nil
}
