package report

import (
	"bytes"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unescapedPipe splits a Markdown table row at the pipes that are not
// escaped.
var unescapedPipe = regexp.MustCompile(`(^|[^\\])\|`)

// mdUnescape undoes the escapes a table cell may hold.
var mdUnescape = strings.NewReplacer(`\\`, `\`, `\|`, "|", "\\`", "`", `\*`, "*", `\_`, "_", `\~`, "~",
	`\[`, "[", `\]`, "]", "&lt;", "<", "&gt;", ">", "&amp;", "&", "<br>", "\n")

// parseTable reads the first Markdown table in md: its header and its
// rows, as unescaped text. Every line of the table must have as many
// columns as the header.
func parseTable(t *testing.T, md string) (head []string, rows map[string][]string, order []string) {
	t.Helper()
	rows = map[string][]string{}
	var lines []string
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "|") {
			lines = append(lines, l)
		} else if len(lines) > 0 {
			break
		}
	}
	if len(lines) < 2 {
		t.Fatalf("no table in the summary:\n%s", md)
	}
	split := func(l string) []string {
		l = strings.TrimSuffix(strings.TrimPrefix(l, "| "), " |")
		marked := unescapedPipe.ReplaceAllString(l, "$1\x00")
		cols := strings.Split(marked, "\x00")
		for i, c := range cols {
			cols[i] = mdUnescape.Replace(strings.TrimSpace(c))
		}
		return cols
	}
	head = split(lines[0])
	for _, l := range lines[1:] {
		cols := split(l)
		if len(cols) != len(head) {
			t.Fatalf("row %q has %d columns, the header %d:\n%s", l, len(cols), len(head), md)
		}
		if strings.Trim(cols[0], "-") == "" {
			continue // the rule under the header
		}
		rows[cols[0]] = cols
		order = append(order, cols[0])
	}
	return head, rows, order
}

// The summary has a row per cell, in order, and each row holds its cell's
// kernel, platform, stage times (cached marked), verdict, failing cases
// and failure title, even when those hold pipes, newlines or HTML.
func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, matrix(t, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	head, rows, order := parseTable(t, md)
	wantHead := []string{"Cell", "Kernel", "Arch", "Accel", "⏱ setup", "⏱ kernel", "⏱ module", "⏱ initramfs", "⏱ boot", "Verdict", "Failing cases", "Failure"}
	if strings.Join(head, "|") != strings.Join(wantHead, "|") {
		t.Errorf("header = %q\nwant     %q", head, wantHead)
	}
	if got := strings.Join(order, " "); got != "6.1 6.12 6.1-debug 6.6" {
		t.Errorf("rows for cells %s, want 6.1 6.12 6.1-debug 6.6\n%s", got, md)
	}
	for cell, want := range map[string][]string{
		"6.1": {"6.1", "linux-source-6.1", "x86_64", "tcg", "1ms", "5ms (cached)", "500ms", "3ms (cached)", "2.00s",
			"✅ pass", "", ""},
		"6.12": {"6.12", "linux-source-6.12", "x86_64", "kvm", "", "4.00s", "1.00s", "", "3.00s",
			"❌ contract (expected pass)", "refuses_bad_maps", "contract case refuses_bad_maps failed (step run:contract)"},
		"6.1-debug": {"6.1-debug", "linux-source-6.1", "x86_64", "tcg", "", "6ms (cached)", "", "", "1.50s",
			"❌ guest-crash (expected pass)", "", crashTitle + " (step insmod)"},
		"6.6": {"6.6", "", "", "", "", "", "", "", "", "⏭️ skipped", "", "needs the internet to download linux-6.6.74.tar.xz"},
	} {
		if got := rows[cell]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s = %q\nwant     %q", cell, got, want)
		}
	}
	// No value in the table became HTML (the excerpt, in a code block
	// below it, is shown as it is).
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "|") && strings.Contains(strings.ReplaceAll(l, "<br>", ""), "<") {
			t.Errorf("HTML from a value reached the table unescaped: %s", l)
		}
	}
	// Each failing cell's excerpt follows, in a fence it cannot close.
	if !strings.Contains(md, "<details><summary>6.1-debug: guest-crash (expected pass)</summary>") ||
		!strings.Contains(md, "````text\n[    1.2] BUG: kernel NULL pointer dereference\n```\n") {
		t.Errorf("the crash's excerpt is not in a collapsed block with a long enough fence:\n%s", md)
	}
	if strings.Contains(md, "<summary>6.1:") || strings.Contains(md, "<summary>6.6:") {
		t.Errorf("a passing or skipped cell has a failure block:\n%s", md)
	}
}

// A single run is a table of one row.
func TestSummaryOneRun(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, matrix(t, t.TempDir())[:1]); err != nil {
		t.Fatal(err)
	}
	_, rows, order := parseTable(t, b.String())
	if len(order) != 1 || rows["6.1"][9] != "✅ pass" {
		t.Errorf("rows %q:\n%s", order, b.String())
	}
	if !strings.HasPrefix(b.String(), "### mmaprig: 1 passed (1 cell)\n") {
		t.Errorf("heading: %q", strings.SplitN(b.String(), "\n", 2)[0])
	}
}

// AppendSummary adds to what other steps wrote; it never truncates.
func TestAppendSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "step_summary.md")
	if err := os.WriteFile(path, []byte("earlier step's summary"), 0o644); err != nil {
		t.Fatal(err)
	}
	cells := matrix(t, t.TempDir())
	for range 2 {
		if err := AppendSummary(path, cells); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	if !strings.HasPrefix(s, "earlier step's summary\n") || strings.Count(s, "### mmaprig: 1 passed, 2 failed, 1 skipped (4 cells)") != 2 {
		t.Errorf("the summary file after two appends:\n%s", s)
	}
	if err := AppendSummary(filepath.Join(t.TempDir(), "no", "such", "dir"), cells); err == nil {
		t.Error("AppendSummary to a missing directory did not fail")
	}
}

// A value with line breaks, pipes and Markdown syntax stays in its cell,
// and reads back as it was.
func TestSummaryEscapes(t *testing.T) {
	why := "line one | `two`\r\nline *three* [x](y) _u_ ~s~ \\ <i>&amp;"
	var b bytes.Buffer
	if err := WriteSummary(&b, []result.Cell{result.SkippedCell("a|b", verdict.Pass, why)}); err != nil {
		t.Fatal(err)
	}
	_, rows, _ := parseTable(t, b.String())
	got := rows["a|b"]
	if len(got) == 0 {
		t.Fatalf("no row for cell a|b:\n%s", b.String())
	}
	if want := strings.ReplaceAll(why, "\r\n", "\n"); got[len(got)-1] != want {
		t.Errorf("the reason reads back as %q, want %q\n%s", got[len(got)-1], want, b.String())
	}
}
