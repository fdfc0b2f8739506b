package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
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

// The summary opens with a table, a row per cell, in order, and each
// row holds its cell's kernel, platform, wall time, verdict and failure
// title, even when those hold pipes, newlines or HTML.
func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, matrix(t, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	head, rows, order := parseTable(t, md)
	wantHead := []string{"Cell", "Kernel", "Arch", "Accel", "Wall", "Verdict", "Failure"}
	if strings.Join(head, "|") != strings.Join(wantHead, "|") {
		t.Errorf("header = %q\nwant     %q", head, wantHead)
	}
	if got := strings.Join(order, "|"); got != allCells {
		t.Errorf("rows for cells %s, want %s\n%s", got, allCells, md)
	}
	for cell, want := range map[string][]string{
		"6.1":      {"6.1", "Debian linux-source-6.1 6.1.192, cached", "x86_64", "tcg", "2.60s", "✅ pass", ""},
		readerCell: {readerCell, "Debian package linux-source-6.1 6.1.192, cached", "x86_64", "tcg", "3.00s", "✅ pass", ""},
		"6.12": {"6.12", "Debian prebuilt 6.12.48+deb12-cloud-amd64, downloaded in 4.00s", "x86_64", "kvm", "8.00s",
			"❌ contract (expected pass)", "contract case refuses_bad_maps failed (step run:contract)"},
		"6.1-debug": {"6.1-debug", "linux-source-6.1", "x86_64", "tcg", "2.00s",
			"❌ guest-crash (expected pass)", crashTitle + " (step insmod)"},
		"6.6": {"6.6", "", "", "", "", "⏭️ skipped", "needs the internet to download linux-6.6.74.tar.xz"},
	} {
		if got := rows[cell]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s = %q\nwant     %q", cell, got, want)
		}
	}
}

// mdBlocks splits Markdown into its text lines and its fenced code
// blocks, following the fences as GitHub does: a fence closes at a line
// of the same backticks.
func mdBlocks(t *testing.T, md string) (text []string, code []string) {
	t.Helper()
	fence, body := "", []string{}
	for _, l := range strings.Split(md, "\n") {
		switch {
		case fence == "" && strings.HasPrefix(l, "```"):
			fence, body = strings.TrimRight(l, "abcdefghijklmnopqrstuvwxyz"), nil
		case fence != "" && l == fence:
			code, fence = append(code, strings.Join(body, "\n")), ""
		case fence != "":
			body = append(body, l)
		default:
			text = append(text, l)
		}
	}
	if fence != "" {
		t.Fatalf("a fence %s is never closed:\n%s", fence, md)
	}
	return text, code
}

// mdSections splits the text after the table at its cell headings.
func mdSections(md string) (order []string, sections map[string]string) {
	sections = map[string]string{}
	heading := regexp.MustCompile(`(?m)^#### \S+ (.+?): `)
	locs := heading.FindAllStringSubmatchIndex(md, -1)
	for i, l := range locs {
		end := len(md)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		name := mdUnescape.Replace(md[l[2]:l[3]])
		order = append(order, name)
		sections[name] = md[l[0]:end]
	}
	return order, sections
}

// After the table, each cell has a section, in order: its guest, stages
// and cases in a list, the reader's output (of a pass and of a failure),
// warnings, and for a failure its message, and its crash, cases and
// console excerpt in collapsed blocks, in fences they cannot close. No
// value becomes HTML outside a fence.
func TestSummarySections(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, matrix(t, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	order, sections := mdSections(md)
	if got := strings.Join(order, "|"); got != allCells {
		t.Fatalf("sections for cells %q, want %s\n%s", got, allCells, md)
	}
	for _, tc := range []struct {
		cell    string
		texts   []string
		details []string
		code    []string
	}{
		{"6.1", []string{"#### ✅ 6.1: pass", "- **kernel**: Debian linux-source-6.1 6.1.192, cached; key 0d97f5f33fbb\n", "- **stages**: setup 1ms · kernel 5ms (cached, cached 6.1.192) · initramfs 3ms (cached)",
			"- **cases**: 4 cases, 1 skipped: user\\_kernel\\_agree (no read())"}, nil, nil},
		{readerCell, []string{"- **boot**: cold boot, ready in 1.20s", "config base+debug", "not hit: lines 40-42, 57, 90-91",
			"1 warning in stage module:", "Reader output:"}, nil,
			[]string{longPath + ":3:1: warning", "|mymap hello.....|\n" + longHex}},
		{"6.12", []string{"#### ❌ 6.12: contract (expected pass)",
			"- **kernel**: Debian prebuilt 6.12.48+deb12-cloud-amd64, downloaded in 4.00s; key 5c1e0f7a9b2d\n", "**contract case refuses\\_bad\\_maps failed (step run:contract)**",
			"| fail | contract | refuses\\_bad\\_maps | 200ms | 2 pages mapped |", "boot 3.00s (failed)"},
			[]string{"Cases: 4 cases, 1 failed, 1 skipped: user_kernel_agree (no read())", "Console excerpt (1 line)"},
			[]string{"the reader read 8192 bytes", "mmap(2 pages) = 0x7f00, want EINVAL\nthe page read back as " + longHex, "mymap: mapped 2 pages"}},
		{"6.1-debug", []string{"the kernel reported a BUG<br>see \\| the log", "cause: exit status 1",
			"- **frame**: null\\_mmap", "- **boot**: restored from a snapshot, ready in 120ms"},
			[]string{"Crash: BUG: kernel NULL pointer dereference in null_mmap | &lt;b&gt;x&lt;/b&gt;", "Console excerpt (4 lines)"},
			[]string{longFrame + "\nmmap_region+0x59e/0x7c0\n<script>alert(2)</script>", "```\n<script>alert(1)</script>"}},
		{"6.6", []string{"#### ⏭️ 6.6: skipped\n\nneeds the internet to download linux-6.6.74.tar.xz\n"}, nil, nil},
	} {
		sec := sections[tc.cell]
		for _, want := range tc.texts {
			if !strings.Contains(sec, want) {
				t.Errorf("section %s does not say %q:\n%s", tc.cell, want, sec)
			}
		}
		var details []string
		for _, m := range regexp.MustCompile(`<details><summary>(.*)</summary>\n\n`).FindAllStringSubmatch(sec, -1) {
			details = append(details, m[1])
		}
		if strings.Join(details, "|") != strings.Join(tc.details, "|") || strings.Count(sec, "</details>") != len(tc.details) {
			t.Errorf("section %s has collapsed blocks %q, want %q", tc.cell, details, tc.details)
		}
		_, code := mdBlocks(t, sec)
		for _, want := range tc.code {
			if !strings.Contains(strings.Join(code, "\n"), want) {
				t.Errorf("section %s: no code block holds %q:\n%s", tc.cell, want, sec)
			}
		}
	}
	text, _ := mdBlocks(t, md)
	allowed := strings.NewReplacer("<details>", "", "</details>", "", "<summary>", "", "</summary>", "", "<br>", "")
	for _, l := range text {
		if strings.Contains(allowed.Replace(l), "<") {
			t.Errorf("HTML from a value reached the summary outside a code block: %s", l)
		}
	}
}

// A single run is a table of one row, and one section.
func TestSummaryOneRun(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, matrix(t, t.TempDir())[:1]); err != nil {
		t.Fatal(err)
	}
	_, rows, order := parseTable(t, b.String())
	if len(order) != 1 || rows["6.1"][5] != "✅ pass" {
		t.Errorf("rows %q:\n%s", order, b.String())
	}
	if !strings.HasPrefix(b.String(), "### mmaprig: 1 passed (1 cell)\n") {
		t.Errorf("heading: %q", strings.SplitN(b.String(), "\n", 2)[0])
	}
	if sections, _ := mdSections(b.String()); len(sections) != 1 {
		t.Errorf("%d sections, want 1:\n%s", len(sections), b.String())
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
	if !strings.HasPrefix(s, "earlier step's summary\n") || strings.Count(s, "### mmaprig: 2 passed, 2 failed, 1 skipped (5 cells)") != 2 {
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
