package report

import (
	"bytes"
	"fmt"
	"github.com/mmaprig/mmaprig/rig/result"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// htmlExcerptLines bounds each cell's console excerpt in the HTML report.
const htmlExcerptLines = 200

// artifactFiles are the files of a cell's artifact directory that the
// HTML report links to, when the run left them.
var artifactFiles = []string{
	"console.log", "engine.log", "run.json", "ktap.txt", "dmesg.txt",
	"qemu.cmdline", "module-build.log", "kernel-build.log",
}

// htmlPage is what the HTML template renders.
type htmlPage struct {
	Totals    string
	Generated string
	Rows      []htmlRow
}

// htmlRow is one cell.
type htmlRow struct {
	Name, Status, Verdict, Skipped, Wall string
	Kernel, Arch, Accel, AccelReason     string
	Stages                               []htmlStage
	Cases                                []htmlCase
	Failure, Message, Excerpt            string
	Artifacts                            htmlLink
	Links                                []htmlLink
}

// htmlStage is one stage's time and its bar's width, in percent of the
// longest stage in the report.
type htmlStage struct {
	Name, Time string
	Cached     bool
	Width      string
}

// htmlCase is one contract case.
type htmlCase struct {
	Name, Result, Time, Reason string
	Diagnostics                []string
}

// htmlLink is a link to an artifact, relative to the report.
type htmlLink struct {
	Name string
	Href template.URL
}

// WriteHTML writes one self-contained HTML page for the cells to path,
// atomically: a row per cell with its kernel, architecture and
// accelerator, a bar per stage (its width proportional to the stage's
// time; cached stages are hatched), the verdict, the contract cases,
// the crash or failure title and the console excerpt, and links to the
// cell's artifacts, relative to path's directory. The page loads
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
	for _, c := range cells {
		page.Rows = append(page.Rows, htmlCell(c, filepath.Dir(abs), longest))
	}
	var b bytes.Buffer
	if err := htmlReport.Execute(&b, page); err != nil {
		return fmt.Errorf("HTML report: %w", err)
	}
	if err := writeFile(path, b.Bytes()); err != nil {
		return fmt.Errorf("HTML report: %w", err)
	}
	return nil
}

// htmlCell turns a cell into its row; dir is the report's directory,
// which links are relative to, and longest the longest stage's seconds.
func htmlCell(c result.Cell, dir string, longest float64) htmlRow {
	r := c.Result
	row := htmlRow{
		Name: c.Name, Status: cellStatus(c), Verdict: cellVerdict(c), Skipped: c.Skipped,
		Kernel: r.Kernel, Arch: r.Arch, Accel: r.Accel, AccelReason: r.AccelReason,
		Failure: cellFailure(c), Message: r.Verdict(), Excerpt: lastLines(r.Excerpt, htmlExcerptLines),
	}
	if c.Wall > 0 {
		row.Wall = seconds(c.Wall.Seconds())
	}
	for _, s := range r.Stages {
		width := 0.0
		if longest > 0 {
			width = 100 * s.Time.Seconds() / longest
		}
		row.Stages = append(row.Stages, htmlStage{Name: s.Stage, Time: seconds(s.Time.Seconds()), Cached: s.Cached,
			Width: fmt.Sprintf("%.2f", width)})
	}
	for _, k := range r.Cases {
		row.Cases = append(row.Cases, htmlCase{Name: k.Name, Result: k.Result, Time: seconds(k.Time.Seconds()),
			Reason: k.Reason, Diagnostics: k.Diagnostics})
	}
	if c.Skipped == "" && r.ArtifactDir != "" {
		row.Artifacts = htmlLink{Name: r.ArtifactDir, Href: relHref(dir, r.ArtifactDir, true)}
		for _, f := range artifactFiles {
			p := filepath.Join(r.ArtifactDir, f)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				row.Links = append(row.Links, htmlLink{Name: f, Href: relHref(dir, p, false)})
			}
		}
	}
	return row
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

// htmlReport is the page. Its style is inline, and it has no script.
var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mmaprig: {{.Totals}}</title>
<style>
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --skip: #8c959f; --bar: #0969da; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
.meta { color: #57606a; margin-bottom: 1em; }
table.cells { border-collapse: collapse; width: 100%; }
table.cells > thead > tr > th { text-align: left; border-bottom: 2px solid var(--line); padding: .4em .6em; }
tr.cell > td { vertical-align: top; border-bottom: 1px solid var(--line); padding: .5em .6em; }
tr.cell.pass > td:first-child { border-left: 4px solid var(--ok); }
tr.cell.fail > td:first-child { border-left: 4px solid var(--bad); }
tr.cell.skip > td:first-child { border-left: 4px solid var(--skip); }
.name { font-weight: 600; }
.small, .wall { color: #57606a; font-size: .9em; }
.stages { display: grid; grid-template-columns: max-content 12em max-content; gap: .15em .5em; align-items: center; }
.track { display: block; background: rgba(127,127,127,.12); height: .8em; }
.bar { display: block; height: 100%; min-width: 1px; background: var(--bar); }
.bar.cached { background: repeating-linear-gradient(45deg, var(--bar) 0 3px, transparent 3px 6px); }
.verdict { font-weight: 600; white-space: nowrap; }
.verdict.pass { color: var(--ok); }
.verdict.fail { color: var(--bad); }
.verdict.skip { color: var(--skip); }
table.cases { border-collapse: collapse; font-size: .92em; }
table.cases td { padding: .05em .5em .05em 0; vertical-align: top; }
.case-pass { color: var(--ok); }
.case-fail { color: var(--bad); font-weight: 600; }
.case-skip { color: var(--skip); }
.failure { font-weight: 600; color: var(--bad); }
.message { white-space: pre-wrap; }
pre { white-space: pre-wrap; word-break: break-all; font-size: .85em; max-height: 30em; overflow: auto; background: rgba(127,127,127,.08); padding: .5em; margin: .3em 0; }
ul.links { margin: 0; padding-left: 1.1em; }
</style>
</head>
<body>
<h1>mmaprig</h1>
<div class="meta">{{.Totals}} · generated {{.Generated}} · stage bars are to one scale across cells; hatched stages came from the cache</div>
<table class="cells">
<thead><tr><th>cell</th><th>stages</th><th>verdict</th><th>contract cases</th><th>failure</th><th>artifacts</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr class="cell {{.Status}}" id="cell-{{.Name}}" data-cell="{{.Name}}">
<td class="cellinfo"><div class="name">{{.Name}}</div>
{{- if .Kernel}}<div class="kernel small">{{.Kernel}}</div>{{end}}
{{- if or .Arch .Accel}}<div class="platform small">{{.Arch}}{{if .Accel}}, <span class="accel" title="{{.AccelReason}}">{{.Accel}}</span>{{end}}</div>{{end}}
{{- if .Wall}}<div class="wall">wall {{.Wall}}</div>{{end}}</td>
<td class="stages-cell">{{if .Stages}}<div class="stages">
{{- range .Stages}}
<span class="stage-name">{{.Name}}</span><span class="track"><span class="bar{{if .Cached}} cached{{end}}" data-stage="{{.Name}}" style="width: {{.Width}}%" title="{{.Name}} {{.Time}}{{if .Cached}} (cached){{end}}"></span></span><span class="stage-time small">{{.Time}}{{if .Cached}} cached{{end}}</span>
{{- end}}
</div>{{end}}</td>
<td><span class="verdict {{.Status}}">{{.Verdict}}</span>{{if .Skipped}}<div class="skipped small">{{.Skipped}}</div>{{end}}</td>
<td>{{if .Cases}}<table class="cases">
{{- range .Cases}}
<tr class="case case-{{.Result}}"><td class="case-result">{{.Result}}</td><td class="case-name">{{.Name}}</td><td class="case-time small">{{.Time}}</td><td class="case-why small">{{.Reason}}{{if .Diagnostics}}<pre>{{range .Diagnostics}}{{.}}
{{end}}</pre>{{end}}</td></tr>
{{- end}}
</table>{{end}}</td>
<td>{{if .Failure}}<div class="failure">{{.Failure}}</div>{{end}}
{{- if .Message}}<div class="message small">{{.Message}}</div>{{end}}
{{- if .Excerpt}}<details class="excerpt"><summary>console excerpt</summary><pre>{{.Excerpt}}</pre></details>{{end}}</td>
<td>{{if .Artifacts.Href}}<a class="artifact-dir" href="{{.Artifacts.Href}}">{{.Artifacts.Name}}</a>{{end}}
{{- if .Links}}<ul class="links">{{range .Links}}<li><a href="{{.Href}}">{{.Name}}</a></li>{{end}}</ul>{{end}}</td>
</tr>
{{- end}}
</tbody>
</table>
</body>
</html>
`))
