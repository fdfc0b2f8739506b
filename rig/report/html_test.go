package report

import (
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/mmaprig/mmaprig/rig/result"
)

// attr returns an attribute of n.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// hasClass reports whether n has the CSS class c.
func hasClass(n *html.Node, c string) bool {
	return strings.Contains(" "+attr(n, "class")+" ", " "+c+" ")
}

// find returns the nodes under n (n included) for which match is true,
// in document order.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if match(d) {
			out = append(out, d)
		}
	}
	if match(n) {
		out = append([]*html.Node{n}, out...)
	}
	return out
}

// text is the text under n, its runs of white space made one space.
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// htmlReport is the matrix's report, written to dir/report.html and
// parsed: its summary rows and its sections, by cell.
type parsedReport struct {
	dir, raw string
	doc      *html.Node
	rows     map[string]*html.Node // the summary table's, by data-row
	sections map[string]*html.Node // by data-cell
	order    []string              // the sections' cells, in order
	rowOrder []string
}

// writeHTML writes the matrix's report to a new directory, and parses it.
func writeHTML(t *testing.T) parsedReport {
	t.Helper()
	p := parsedReport{dir: t.TempDir(), rows: map[string]*html.Node{}, sections: map[string]*html.Node{}}
	path := filepath.Join(p.dir, "report.html")
	if err := WriteHTML(path, matrix(t, p.dir)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p.raw = string(b)
	if p.doc, err = html.Parse(strings.NewReader(p.raw)); err != nil {
		t.Fatalf("the report does not parse: %v", err)
	}
	for _, tr := range find(p.doc, func(n *html.Node) bool { return n.DataAtom == atom.Tr && hasClass(n, "row") }) {
		p.rows[attr(tr, "data-row")] = tr
		p.rowOrder = append(p.rowOrder, attr(tr, "data-row"))
	}
	for _, s := range find(p.doc, func(n *html.Node) bool { return n.DataAtom == atom.Section && hasClass(n, "cell") }) {
		p.sections[attr(s, "data-cell")] = s
		p.order = append(p.order, attr(s, "data-cell"))
	}
	return p
}

// classed returns the elements under n with the CSS class c.
func classed(n *html.Node, c string) []*html.Node {
	return find(n, func(d *html.Node) bool { return d.Type == html.ElementNode && hasClass(d, c) })
}

// preText is the text of a <pre> as it is, white space and all.
func preText(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// allCells are the matrix's cells, in order, joined by "|".
const allCells = "6.1|" + readerCell + "|6.12|6.1-debug|6.6"

// The summary comes first: a row per cell, in order, with its kernel,
// platform, wall time, class, the class it had to end in, and the
// failure's title or why it was skipped, and a link to its section.
func TestHTMLSummaryRows(t *testing.T) {
	p := writeHTML(t)
	if got := strings.Join(p.rowOrder, "|"); got != allCells {
		t.Fatalf("summary rows for cells %q, want %s", got, allCells)
	}
	summary := find(p.doc, func(n *html.Node) bool { return n.DataAtom == atom.Table && hasClass(n, "summary") })
	sections := find(p.doc, func(n *html.Node) bool { return n.DataAtom == atom.Section })
	if len(summary) != 1 || len(sections) == 0 || !precedes(summary[0], sections[0]) {
		t.Fatal("the page does not open with one summary table before the cells' sections")
	}
	for cell, want := range map[string]struct{ status, text string }{
		"6.1":       {"pass", "6.1 Debian linux-source-6.1 6.1.192, cached x86_64 tcg 2.60s pass"},
		readerCell:  {"pass", readerCell + " Debian package linux-source-6.1 6.1.192, cached x86_64 tcg 3.00s pass"},
		"6.12":      {"fail", "6.12 Debian prebuilt 6.12.48+deb12-cloud-amd64, downloaded in 4.00s x86_64 kvm 8.00s contract expected pass contract case refuses_bad_maps failed (step run:contract)"},
		"6.1-debug": {"fail", "6.1-debug linux-source-6.1 x86_64 tcg 2.00s guest-crash expected pass " + crashTitle + " (step insmod)"},
		"6.6":       {"skip", "6.6 skipped needs the internet to download linux-6.6.74.tar.xz"},
	} {
		row := p.rows[cell]
		if got := text(row); got != want.text || !hasClass(row, want.status) {
			t.Errorf("summary row %s (class %q):\n%s\nwant (class %s)\n%s", cell, attr(row, "class"), got, want.status, want.text)
		}
		links := find(row, func(n *html.Node) bool { return n.DataAtom == atom.A })
		id := attr(p.sections[cell], "id")
		if len(links) != 1 || id == "" || strings.ContainsAny(id, " \t\n") || attr(links[0], "href") != "#"+id {
			t.Errorf("summary row %s does not link to its section (id %q)", cell, id)
		}
	}
}

// A section's id is the cell's name, with no space in it, and unique.
func TestAnchor(t *testing.T) {
	taken := map[string]bool{}
	for _, tc := range []struct{ name, want string }{
		{"6.1", "cell-6.1"},
		{"6.1-debug", "cell-6.1-debug"},
		{"Debian package linux-source-6.1, base", "cell-Debian-package-linux-source-6.1--base"},
		{"a b", "cell-a-b"},
		{"a/b", "cell-a-b-2"},
		{"a\"b", "cell-a-b-3"},
	} {
		if got := anchor(tc.name, taken); got != tc.want {
			t.Errorf("anchor(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// precedes reports whether a comes before b in the document.
func precedes(a, b *html.Node) bool {
	root := a
	for root.Parent != nil {
		root = root.Parent
	}
	for d := range root.Descendants() {
		switch d {
		case a:
			return true
		case b:
			return false
		}
	}
	return false
}

// Each cell has a section, in order, that says what a reader needs to
// know of it: the verdict, the failure's message and cause, the crash
// with its frame, place and stack, how the guest came up, the stages'
// summaries and warnings, the bytes the reader saw (of a pass and of a
// failure), the cases with their diagnostics, and the coverage.
func TestHTMLSections(t *testing.T) {
	p := writeHTML(t)
	if got := strings.Join(p.order, "|"); got != allCells {
		t.Fatalf("sections for cells %q, want %s", got, allCells)
	}
	for _, tc := range []struct {
		cell, status string
		texts        []string
		pre          map[string][]string // text in the <pre class=...>
	}{
		{"6.1", "pass", []string{"6.1 pass", "Debian linux-source-6.1 6.1.192, cached · x86_64",
			"kernel Debian linux-source-6.1 6.1.192, cached; key 0d97f5f33fbb", "4 cases, 1 skipped: user_kernel_agree (no read())",
			"pass contract reader_output 100ms", "skip contract user_kernel_agree 0ms no read()", "kernel 5ms cached cached 6.1.192"}, nil},
		{readerCell, "pass", []string{"Debian package linux-source-6.1 6.1.192, cached; config base+debug; key b87f752e87f2",
			"cold boot, ready in 1.20s, after a snapshot did not restore: the snapshot's QEMU differs; snapshot saved for later runs",
			"init 1.00s · verdict 1.50s", "module 1.50s", "mymap.ko, 1 warning", "1 warning in stage module",
			"mymap.c 94.2% lines (113/120), 100% functions; not hit: lines 40-42, 57, 90-91"},
			map[string][]string{"output": {"|mymap hello.....|\n" + longHex}, "warning-lines": {longPath + ":3:1: warning"}}},
		{"6.12", "fail", []string{"6.12 contract expected pass",
			"kernel Debian prebuilt 6.12.48+deb12-cloud-amd64, downloaded in 4.00s; key 5c1e0f7a9b2d", "contract case refuses_bad_maps failed (step run:contract)",
			"contract case(s) failed: refuses_bad_maps", "boot 3.00s failed", "fail contract refuses_bad_maps 200ms 2 pages mapped"},
			map[string][]string{"output": {"the reader read 8192 bytes"},
				"diagnostics": {"mmap(2 pages) = 0x7f00, want EINVAL\nthe page read back as " + longHex + "\nthe mapping came from " + longPath}}},
		{"6.1-debug", "fail", []string{"6.1-debug guest-crash expected pass", crashTitle + " (step insmod)",
			"the kernel reported a BUG see | the log", "cause: exit status 1", "kind BUG frame null_mmap at " + longPath + ":42",
			"restored from a snapshot, ready in 120ms", "kernel Debian package linux-source-6.1 platform"},
			map[string][]string{"stack": {"null_mmap+0x1c/0x40 [null]\n" + longFrame + "\nmmap_region+0x59e/0x7c0\n<script>alert(2)</script>"}}},
		{"6.6", "skip", []string{"6.6 skipped needs the internet to download linux-6.6.74.tar.xz"}, nil},
	} {
		s := p.sections[tc.cell]
		if !hasClass(s, tc.status) {
			t.Errorf("section %s: class %q, want %s", tc.cell, attr(s, "class"), tc.status)
		}
		got := text(s)
		for _, want := range tc.texts {
			if !strings.Contains(got, want) {
				t.Errorf("section %s does not say %q:\n%s", tc.cell, want, got)
			}
		}
		for class, wants := range tc.pre {
			pres := find(s, func(n *html.Node) bool { return n.DataAtom == atom.Pre && hasClass(n, class) })
			if len(pres) != 1 {
				t.Errorf("section %s has %d <pre class=%s>, want 1", tc.cell, len(pres), class)
				continue
			}
			for _, want := range wants {
				if !strings.Contains(preText(pres[0]), want) {
					t.Errorf("section %s: <pre class=%s> does not hold %q:\n%s", tc.cell, class, want, preText(pres[0]))
				}
			}
		}
	}
}

// A failed case's diagnostics have a row of their own, right under the
// case, as wide as the table but for the result column.
func TestHTMLDiagnosticsRow(t *testing.T) {
	p := writeHTML(t)
	cases := find(p.sections["6.12"], func(n *html.Node) bool { return n.DataAtom == atom.Tr && attr(n, "data-case") == "refuses_bad_maps" })
	if len(cases) != 1 {
		t.Fatalf("%d rows for case refuses_bad_maps", len(cases))
	}
	next := cases[0].NextSibling
	for next != nil && next.Type != html.ElementNode {
		next = next.NextSibling
	}
	if next == nil || !hasClass(next, "diagnostics") {
		t.Fatal("no diagnostics row after the failed case")
	}
	tds := find(next, func(n *html.Node) bool { return n.DataAtom == atom.Td })
	if len(tds) != 2 || attr(tds[1], "colspan") != "4" {
		t.Errorf("the diagnostics row's cells: %d, the second spans %q columns; want 2, spanning 4", len(tds), attr(tds[1], "colspan"))
	}
	for _, cell := range []string{"6.1", readerCell} {
		if d := classed(p.sections[cell], "diagnostics"); len(d) != 0 {
			t.Errorf("cell %s, which passed, has %d diagnostics", cell, len(d))
		}
	}
}

// Text that looks like markup stays text, everywhere; a failure's
// console excerpt is in a <details> open from the start.
func TestHTMLEscapes(t *testing.T) {
	p := writeHTML(t)
	body := find(p.doc, func(n *html.Node) bool { return n.DataAtom == atom.Body })[0]
	if n := find(body, func(n *html.Node) bool { return n.DataAtom == atom.B || n.DataAtom == atom.Script }); len(n) != 0 {
		t.Errorf("markup from a title, the stack or the excerpt became %d elements", len(n))
	}
	for cell, wantOpen := range map[string]bool{"6.12": true, "6.1-debug": true} {
		d := find(p.sections[cell], func(n *html.Node) bool { return n.DataAtom == atom.Details })
		if len(d) != 1 {
			t.Errorf("cell %s: %d <details>, want the excerpt's", cell, len(d))
			continue
		}
		if _, open := attrOK(d[0], "open"); open != wantOpen {
			t.Errorf("cell %s: the excerpt open %v, want %v", cell, open, wantOpen)
		}
		if cell == "6.1-debug" && !strings.Contains(text(d[0]), "<script>alert(1)</script>") {
			t.Errorf("cell %s: the excerpt does not show the script as text: %s", cell, text(d[0]))
		}
	}
}

// attrOK returns an attribute of n, and whether n has it.
func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

var width = regexp.MustCompile(`^width: ([0-9.]+)%$`)

// Each stage has a bar whose width is its time over the longest stage's,
// the same scale for every cell; cached stages' bars say so.
func TestHTMLStageBars(t *testing.T) {
	p := writeHTML(t)
	longest := 4.0 // 6.12's kernel stage
	for cell, want := range map[string][]struct {
		stage   string
		seconds float64
		cached  bool
	}{
		"6.1":       {{"setup", 0.001, false}, {"kernel", 0.005, true}, {"initramfs", 0.003, true}, {"module", 0.5, false}, {"boot", 2, false}},
		readerCell:  {{"kernel", 0.013, true}, {"module", 1.5, false}, {"boot", 1.3, false}},
		"6.12":      {{"kernel", 4, false}, {"module", 1, false}, {"boot", 3, false}},
		"6.1-debug": {{"kernel", 0.006, true}, {"boot", 1.5, false}},
		"6.6":       {},
	} {
		bars := classed(p.sections[cell], "bar")
		if len(bars) != len(want) {
			t.Errorf("cell %s has %d bars, want %d", cell, len(bars), len(want))
			continue
		}
		for i, bar := range bars {
			w := want[i]
			m := width.FindStringSubmatch(attr(bar, "style"))
			if m == nil {
				t.Errorf("cell %s, stage %s: style %q", cell, w.stage, attr(bar, "style"))
				continue
			}
			pct, _ := strconv.ParseFloat(m[1], 64)
			if attr(bar, "data-stage") != w.stage || math.Abs(pct-100*w.seconds/longest) > 0.01 || hasClass(bar, "cached") != w.cached {
				t.Errorf("cell %s, bar %d: stage %s, width %.2f%%, cached %v; want %s, %.2f%%, %v",
					cell, i, attr(bar, "data-stage"), pct, hasClass(bar, "cached"), w.stage, 100*w.seconds/longest, w.cached)
			}
		}
	}
}

// Links go to the artifacts the run left, relative to the report and
// escaped (a single run's directory has spaces), and to nothing that is
// not there.
func TestHTMLLinks(t *testing.T) {
	p := writeHTML(t)
	r := "artifacts/" + readerCell
	for cell, want := range map[string][]string{
		"6.1": {"artifacts/6.1/", "artifacts/6.1/console.log", "artifacts/6.1/engine.log", "artifacts/6.1/ktap.txt", "artifacts/6.1/run.json"},
		readerCell: {r + "/coverage/index.html", r + "/coverage/lcov.info", r + "/", r + "/console.log", r + "/qemu.log", r + "/kmsg.txt",
			r + "/restore-qemu.log", r + "/coverage/"},
		"6.12":      {"artifacts/6.12/", "artifacts/6.12/console.log", "artifacts/6.12/engine.log", "artifacts/6.12/run.json"},
		"6.1-debug": {"artifacts/6.1-debug/", "artifacts/6.1-debug/console.log", "artifacts/6.1-debug/dmesg.txt"},
		"6.6":       nil,
	} {
		var got []string
		for _, a := range find(p.sections[cell], func(n *html.Node) bool { return n.DataAtom == atom.A }) {
			href := attr(a, "href")
			u, err := url.Parse(href)
			if err != nil || u.Scheme != "" || u.Host != "" || strings.Contains(href, " ") {
				t.Errorf("cell %s: link %q is not an escaped relative URL (%v)", cell, href, err)
				continue
			}
			got = append(got, u.Path)
			if _, err := os.Stat(filepath.Join(p.dir, filepath.FromSlash(u.Path))); err != nil {
				t.Errorf("cell %s: link %s leads nowhere: %v", cell, href, err)
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("cell %s links to %q\nwant             %q", cell, got, want)
		}
	}
}

// The page stands alone: no script at all, nothing loaded from a network,
// and its style inline.
func TestHTMLSelfContained(t *testing.T) {
	p := writeHTML(t)
	raw, doc := p.raw, p.doc
	if regexp.MustCompile(`(?i)https?:`).MatchString(raw) {
		t.Errorf("the report holds an http(s) URL:\n%s", raw)
	}
	for _, n := range find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode }) {
		if n.DataAtom == atom.Script || n.DataAtom == atom.Link || n.DataAtom == atom.Iframe || n.DataAtom == atom.Img {
			t.Errorf("the report has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "src" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has a %s attribute", n.Data, a.Key)
			}
		}
	}
	styles := find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Style })
	if len(styles) != 1 || strings.Contains(text(styles[0]), "@import") || strings.Contains(text(styles[0]), "url(") {
		t.Errorf("want one inline <style> that loads nothing, got %d", len(styles))
	}
}

// The report is written whole, over an older one, and leaves no
// temporary file behind; a failed write leaves the older one alone.
func TestHTMLAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	cells := matrix(t, t.TempDir())
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(path, cells); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the report's directory holds %d entries, want only report.html", len(entries))
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Errorf("the report was not replaced: %.40q", b)
	}
	if err := WriteHTML(filepath.Join(dir, "missing", "report.html"), cells); err == nil {
		t.Error("WriteHTML into a missing directory did not fail")
	}
}

// A crashed case's row says crashed, in the failing colour, with what the
// kernel reported; the cell counts it as failing.
func TestHTMLCrashedCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.html")
	if err := WriteHTML(path, []result.Cell{crashedCell()}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	rows := find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Tr && attr(n, "data-case") == "unload_reload" })
	if len(rows) != 1 || !hasClass(rows[0], "case-crashed") {
		t.Fatalf("%d rows for unload_reload, or not case-crashed", len(rows))
	}
	if why := text(classed(rows[0], "case-why")[0]); !strings.Contains(why, "the kernel reported BUG") {
		t.Errorf("the crashed case's reason: %q", why)
	}
	if !strings.Contains(string(b), ".case-crashed .case-result") {
		t.Error("the style does not colour a crashed case")
	}
	if !strings.Contains(string(b), "3 cases, 2 failed") {
		t.Error("the cell does not count the crashed case as failed")
	}
}
