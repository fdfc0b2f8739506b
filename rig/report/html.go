package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/mmaprig/mmaprig/internal/atomicfile"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/rig/result"
)

// htmlExcerptLines bounds each cell's console excerpt in the HTML report,
// and htmlOutputLines the reader's output.
const (
	htmlExcerptLines = 200
	htmlOutputLines  = 200
)

// artifactFiles are the files of a cell's artifact directory that the
// HTML report links to, when the run left them, in the order a reader
// wants them: the console first, the build logs last.
var artifactFiles = []string{
	layout.ConsoleLog, layout.EngineLog, layout.QEMULog, layout.Dmesg, layout.Kmsg, layout.KTAP,
	layout.RunSpec, layout.QEMUCmdline, layout.QEMUArgv, layout.KernelConfig,
	layout.ModuleLog, layout.KernelLog,
}

// artifactDirs are the directories of an artifact directory the report
// links to when they exist.
var artifactDirs = []string{layout.CoverageDir, layout.WorkDir}

// htmlPage is what the HTML template renders.
type htmlPage struct {
	Totals    string
	Generated string
	Cells     []htmlCell
}

// htmlCell is one cell: its summary row and its section.
type htmlCell struct {
	Name, Status, Failure, Skipped string
	// Anchor is the section's id, which the summary links to.
	Anchor string
	// Class is how the cell ended ("skipped" if it did not run), and
	// Expected the class it had to end in, when the two differ.
	Class, Expected string
	Kernel, Wall    string
	R               result.Run
	Guest           []htmlFact
	Crash           []htmlFact
	Stages          []htmlStage
	Cases           []htmlCase
	CaseCount       string
	Output, Excerpt string
	ExcerptLines    int
	Coverage        []htmlFact
	Dir             htmlLink
	Links           []htmlLink
}

// htmlFact is a line of a definition list: "boot: cold, 1.20s".
type htmlFact struct {
	Label, Value string
	Link         *htmlLink
}

// htmlStage is one stage, its time and its bar's width in percent of
// the longest stage in the report.
type htmlStage struct {
	result.Stage
	Time, Width string
}

// htmlCase is one case of the contract or of a guest test.
type htmlCase struct {
	result.Case
	Time, Why, Diagnostics string
}

// htmlLink is a link to an artifact, relative to the report.
type htmlLink struct {
	Name string
	Href template.URL
}

// WriteHTML writes one self-contained HTML page for the cells to path,
// atomically: a summary table of the cells first, then a section per
// cell with its verdict, crash, guest, stages (a bar each, to one scale
// across cells), reader output, cases, coverage, console excerpt and
// links to its artifacts, relative to path's directory. The page loads
// nothing: no script, no font, no stylesheet from elsewhere.
func WriteHTML(path string, cells []result.Cell) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	page := htmlPage{Totals: totals(cells), Generated: time.Now().UTC().Format("2006-01-02 15:04:05 UTC")}
	longest := 0.0
	for _, c := range cells {
		for _, s := range c.Result.Stages {
			longest = max(longest, s.Time.Seconds())
		}
	}
	ids := map[string]bool{}
	for _, c := range cells {
		h := newHTMLCell(c, filepath.Dir(abs), longest)
		h.Anchor = anchor(c.Name, ids)
		page.Cells = append(page.Cells, h)
	}
	var b bytes.Buffer
	if err := htmlReport.Execute(&b, page); err != nil {
		return fmt.Errorf("HTML report: %w", err)
	}
	if err := atomicfile.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("HTML report: %w", err)
	}
	return nil
}

// newHTMLCell turns a cell into what the page shows of it; dir is the
// report's directory, which links are relative to, and longest the
// longest stage's seconds.
func newHTMLCell(c result.Cell, dir string, longest float64) htmlCell {
	r := c.Result
	h := htmlCell{
		Name: c.Name, Status: cellStatus(c), Class: cellVerdict(c), Failure: cellFailure(c), Skipped: c.Skipped,
		Kernel: cellOrigin(r), R: r, Excerpt: lastLines(r.Excerpt, htmlExcerptLines),
		Output: lastLines(strings.Join(r.Output, "\n"), htmlOutputLines),
	}
	if c.Skipped == "" && c.Expect != "" && c.Expect != r.Class {
		// The class alone: cellVerdict of a cell that expects nothing.
		h.Class, h.Expected = cellVerdict(result.Cell{Result: r}), "expected "+string(c.Expect)
	}
	h.ExcerptLines = strings.Count(h.Excerpt, "\n") + 1
	if c.Skipped != "" {
		return h
	}
	if c.Wall > 0 {
		h.Wall = seconds(c.Wall.Seconds())
	}
	h.Guest = guestFacts(r)
	h.Crash = crashFacts(r)
	h.Coverage = coverageFacts(r, dir)
	for _, s := range r.Stages {
		width := 0.0
		if longest > 0 {
			width = 100 * s.Time.Seconds() / longest
		}
		h.Stages = append(h.Stages, htmlStage{Stage: s, Time: seconds(s.Time.Seconds()), Width: fmt.Sprintf("%.2f", width)})
	}
	for _, k := range r.Cases {
		hc := htmlCase{Case: k, Time: seconds(k.Time.Seconds()), Why: k.Reason, Diagnostics: strings.Join(k.Diagnostics, "\n")}
		if k.Why != "" && k.Why != k.Reason {
			hc.Why = k.Why + ": " + strings.TrimPrefix(k.Reason, k.Why+": ")
		}
		h.Cases = append(h.Cases, hc)
	}
	if len(r.Cases) > 0 {
		h.CaseCount = caseCount(c)
	}
	if r.ArtifactDir != "" {
		h.Dir = htmlLink{Name: r.ArtifactDir, Href: relHref(dir, r.ArtifactDir, true)}
		h.Links = artifactLinks(dir, r.ArtifactDir)
	}
	return h
}

// caseCount is result.CaseCount with the failed cases counted too: "7
// cases, 1 failed, 1 skipped: kernel_clean (no log)".
func caseCount(c result.Cell) string {
	failed := len(cellFailingCases(c))
	s := result.CaseCount(c.Result.Cases)
	if failed == 0 {
		return s
	}
	head, tail, _ := strings.Cut(s, ", ")
	s = fmt.Sprintf("%s, %d failed", head, failed)
	if tail != "" {
		s += ", " + tail
	}
	return s
}

// artifactLinks links to the files and directories of an artifact
// directory that exist: the known files, the logs of a restore that
// failed, and the coverage and work directories.
func artifactLinks(dir, art string) []htmlLink {
	var links []htmlLink
	regular := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular()
	}
	for _, f := range artifactFiles {
		if p := filepath.Join(art, f); regular(p) {
			links = append(links, htmlLink{Name: f, Href: relHref(dir, p, false)})
		}
	}
	restores, _ := filepath.Glob(filepath.Join(art, layout.RestorePrefix+"*"))
	for _, p := range restores {
		if regular(p) {
			links = append(links, htmlLink{Name: filepath.Base(p), Href: relHref(dir, p, false)})
		}
	}
	for _, d := range artifactDirs {
		p := filepath.Join(art, d)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			links = append(links, htmlLink{Name: d + "/", Href: relHref(dir, p, true)})
		}
	}
	return links
}

// anchor is an id for a cell's section: "cell-" and its name, with
// anything but letters, digits, dots and dashes made a dash (an id
// holds no space), numbered when another cell took it already.
func anchor(name string, taken map[string]bool) string {
	slug := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '-'
	}, name)
	id := "cell-" + slug
	for n := 2; taken[id]; n++ {
		id = fmt.Sprintf("cell-%s-%d", slug, n)
	}
	taken[id] = true
	return id
}

// relHref is the link from a page in dir to target: a relative URL when
// the two paths allow one, else the absolute path (which a browser
// reading the page from disk resolves on the same disk).
func relHref(dir, target string, isDir bool) template.URL {
	p, err := filepath.Abs(target)
	if err == nil {
		if rel, err := filepath.Rel(dir, p); err == nil {
			p = rel
		}
	}
	p = filepath.ToSlash(p)
	if isDir && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	// url.URL escapes each segment, and makes a first segment with a
	// colon relative ("./a:b"), so the result is never read as a scheme.
	return template.URL((&url.URL{Path: p}).String())
}

//go:embed html.tmpl
var htmlTemplate string

// htmlReport is the page. Its style is inline, and it has no script.
var htmlReport = template.Must(template.New("report").Parse(htmlTemplate))
