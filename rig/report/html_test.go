package report

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
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

// writeHTML writes the matrix's report to dir/report.html, and parses it.
func writeHTML(t *testing.T) (dir string, raw string, doc *html.Node, rows map[string]*html.Node, order []string) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := WriteHTML(path, matrix(t, dir)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err = html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("the report does not parse: %v", err)
	}
	rows = map[string]*html.Node{}
	for _, tr := range find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Tr && hasClass(n, "cell") }) {
		name := attr(tr, "data-cell")
		rows[name] = tr
		order = append(order, name)
	}
	return dir, string(b), doc, rows, order
}

// The report parses, has one row per cell in order, and each row holds
// its cell's verdict, expected class, failure title, contract cases and
// platform; a skipped cell says why.
func TestHTMLRows(t *testing.T) {
	_, _, _, rows, order := writeHTML(t)
	if got := strings.Join(order, " "); got != "6.1 6.12 6.1-debug 6.6" {
		t.Fatalf("rows for cells %q, want 6.1 6.12 6.1-debug 6.6", got)
	}
	for cell, want := range map[string]struct {
		status string
		texts  []string
	}{
		"6.1": {"pass", []string{"pass", "linux-source-6.1", "x86_64", "tcg", "wall 2.60s",
			"pass reader_output 100ms", "pass refuses_bad_maps 200ms", "skip user_kernel_agree 0ms no read()"}},
		"6.12": {"fail", []string{"contract (expected pass)", "contract case refuses_bad_maps failed (step run:contract)",
			"fail refuses_bad_maps 200ms 2 pages mapped mmap(2 pages) = 0x7f00, want EINVAL",
			"contract case(s) failed: refuses_bad_maps", "console excerpt mymap: mapped 2 pages"}},
		"6.1-debug": {"fail", []string{"guest-crash (expected pass)", crashTitle + " (step insmod)",
			"<script>alert(1)</script>", "RIP: null_mmap+0x5"}},
		"6.6": {"skip", []string{"skipped", "needs the internet to download linux-6.6.74.tar.xz"}},
	} {
		row := rows[cell]
		if row == nil {
			t.Errorf("no row for cell %s", cell)
			continue
		}
		if !hasClass(row, want.status) {
			t.Errorf("cell %s: row class %q, want %s", cell, attr(row, "class"), want.status)
		}
		got := text(row)
		for _, s := range want.texts {
			if !strings.Contains(got, s) {
				t.Errorf("cell %s: the row does not say %q:\n%s", cell, s, got)
			}
		}
		verdicts := find(row, func(n *html.Node) bool { return hasClass(n, "verdict") })
		if len(verdicts) != 1 || !strings.HasPrefix(want.texts[0], text(verdicts[0])) {
			t.Errorf("cell %s: verdict element %v", cell, verdicts)
		}
	}
	// Text that looks like markup stays text.
	crash := rows["6.1-debug"]
	if len(find(crash, func(n *html.Node) bool { return n.DataAtom == atom.B || n.DataAtom == atom.Script })) != 0 {
		t.Error("markup from the title or the excerpt became elements")
	}
	if len(find(crash, func(n *html.Node) bool { return n.DataAtom == atom.Details })) != 1 {
		t.Error("the crash's console excerpt is not in a <details>")
	}
}

var width = regexp.MustCompile(`^width: ([0-9.]+)%$`)

// Each stage has a bar whose width is its time over the longest stage's,
// the same scale for every cell; cached stages' bars say so.
func TestHTMLStageBars(t *testing.T) {
	_, _, _, rows, _ := writeHTML(t)
	longest := 4.0 // 6.12's kernel stage
	for cell, want := range map[string][]struct {
		stage   string
		seconds float64
		cached  bool
	}{
		"6.1":       {{"setup", 0.001, false}, {"kernel", 0.005, true}, {"initramfs", 0.003, true}, {"module", 0.5, false}, {"boot", 2, false}},
		"6.12":      {{"kernel", 4, false}, {"module", 1, false}, {"boot", 3, false}},
		"6.1-debug": {{"kernel", 0.006, true}, {"boot", 1.5, false}},
		"6.6":       {},
	} {
		bars := find(rows[cell], func(n *html.Node) bool { return hasClass(n, "bar") })
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

// Links go to the artifacts the run left, relative to the report, and
// to nothing that is not there.
func TestHTMLLinks(t *testing.T) {
	dir, _, _, rows, _ := writeHTML(t)
	for cell, want := range map[string][]string{
		"6.1":       {"artifacts/6.1/", "artifacts/6.1/console.log", "artifacts/6.1/engine.log", "artifacts/6.1/run.json", "artifacts/6.1/ktap.txt"},
		"6.12":      {"artifacts/6.12/", "artifacts/6.12/console.log", "artifacts/6.12/engine.log", "artifacts/6.12/run.json"},
		"6.1-debug": {"artifacts/6.1-debug/", "artifacts/6.1-debug/console.log", "artifacts/6.1-debug/dmesg.txt"},
		"6.6":       nil,
	} {
		var got []string
		for _, a := range find(rows[cell], func(n *html.Node) bool { return n.DataAtom == atom.A }) {
			href := attr(a, "href")
			got = append(got, href)
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(href))); err != nil {
				t.Errorf("cell %s: link %s leads nowhere: %v", cell, href, err)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("cell %s links to %q\nwant             %q", cell, got, want)
		}
	}
}

// The page stands alone: no script at all, nothing loaded from a network,
// and its style inline.
func TestHTMLSelfContained(t *testing.T) {
	_, raw, doc, _, _ := writeHTML(t)
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
