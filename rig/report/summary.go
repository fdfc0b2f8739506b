package report

import (
	"bytes"
	"fmt"
	"github.com/mmaprig/mmaprig/rig/result"
	"html"
	"io"
	"os"
	"strings"
)

// summaryExcerptLines bounds each failure's console excerpt in a summary.
const summaryExcerptLines = 60

// mdCell escapes text for a cell of a GitHub-flavoured Markdown table:
// pipes and Markdown's inline syntax are escaped, HTML's specials become
// entities, and line breaks become <br>, so no value can end the cell,
// the row or the table, or start a link or emphasis.
var mdCell = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "`", "\\`", "*", `\*`, "_", `\_`, "~", `\~`,
	"[", `\[`, "]", `\]`, "&", "&amp;", "<", "&lt;", ">", "&gt;",
	"\r\n", "<br>", "\n", "<br>", "\r", "<br>",
)

// WriteSummary writes the cells as GitHub-flavoured Markdown, for a job
// summary: a heading with the totals, then a table with one row per
// cell (kernel, architecture, accelerator, each stage's time, the
// verdict, the contract cases that failed, and the crash or failure
// title), then each failing cell's message and console excerpt in a
// collapsed block.
func WriteSummary(w io.Writer, cells []result.Cell) error {
	var b bytes.Buffer
	stages := stageNames(cells)
	fmt.Fprintf(&b, "### mmaprig: %s\n\n", mdCell.Replace(totals(cells)))

	head := []string{"Cell", "Kernel", "Arch", "Accel"}
	for _, s := range stages {
		head = append(head, "⏱ "+s)
	}
	head = append(head, "Verdict", "Failing cases", "Failure")
	row(&b, head)
	rule := make([]string, len(head))
	for i := range rule {
		rule[i] = "---"
	}
	row(&b, rule)

	for _, c := range cells {
		r := c.Result
		cols := []string{c.Name, short(r.Kernel), r.Arch, r.Accel}
		if c.Skipped != "" {
			cols = []string{c.Name, "", "", ""}
		}
		for _, s := range stages {
			t := ""
			if st, ok := stage(r, s); ok {
				t = seconds(st.Time.Seconds())
				if st.Cached {
					t += " (cached)"
				}
			}
			cols = append(cols, t)
		}
		verdict := map[string]string{"pass": "✅ ", "fail": "❌ ", "skip": "⏭️ "}[cellStatus(c)] + cellVerdict(c)
		failure := cellFailure(c)
		if c.Skipped != "" {
			failure = c.Skipped
		}
		cols = append(cols, verdict, strings.Join(cellFailingCases(c), ", "), failure)
		for i := range cols {
			cols[i] = mdCell.Replace(cols[i])
		}
		row(&b, cols)
	}

	for _, c := range cells {
		if cellStatus(c) != "fail" || (c.Result.Verdict() == "" && c.Result.Excerpt == "") {
			continue
		}
		// An HTML block: its text is HTML, not Markdown.
		fmt.Fprintf(&b, "\n<details><summary>%s: %s</summary>\n\n", html.EscapeString(c.Name), html.EscapeString(cellVerdict(c)))
		if c.Result.Verdict() != "" {
			fmt.Fprintf(&b, "%s\n\n", mdCell.Replace(c.Result.Verdict()))
		}
		if c.Result.Excerpt != "" {
			fence(&b, lastLines(c.Result.Excerpt, summaryExcerptLines))
		}
		b.WriteString("</details>\n")
	}
	_, err := w.Write(b.Bytes())
	return err
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
