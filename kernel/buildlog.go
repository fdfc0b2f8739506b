package kernel

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mmaprig/mmaprig/internal/tail"
)

// A module builds in a copy of the author's directory (out), with make
// run in the kernel tree: its output names the copy's files by absolute
// paths, and make's own messages name files relative to the directory
// make was in. buildLog rewrites each line so that it says whose file it
// is about: a file of the author's is named relative to the module
// directory (the caller puts the author's directory in front), and any
// other file by its absolute path, so that no line of the kernel's is
// ever taken for the author's.

// enterRE and leaveRE match make's "Entering directory" lines.
var (
	enterRE = regexp.MustCompile("^make(?:\\[\\d+\\])?: Entering directory [`'](.+)'$")
	leaveRE = regexp.MustCompile("^make(?:\\[\\d+\\])?: Leaving directory [`'](.+)'$")
)

// locRE matches a line that starts with a located message, "file:12:".
var locRE = regexp.MustCompile(`^([^\s:]+):(\d+):`)

// buildLog is a build's output lines, with their paths rewritten.
type buildLog struct {
	lines []string
}

// readBuildLog rewrites output, the output of make -C kdir M=out, for
// a module whose sources came from src.
func readBuildLog(output, out, src string) buildLog {
	out, src = filepath.Clean(out), filepath.Clean(src)
	var dirs []string
	var l buildLog
	for _, line := range strings.Split(strings.TrimRight(output, "\n"), "\n") {
		if m := enterRE.FindStringSubmatch(line); m != nil {
			dirs = append(dirs, m[1])
		} else if leaveRE.MatchString(line) && len(dirs) > 0 {
			dirs = dirs[:len(dirs)-1]
		}
		cwd := ""
		if len(dirs) > 0 {
			cwd = dirs[len(dirs)-1]
		}
		l.lines = append(l.lines, fixPaths(line, cwd, out, src))
	}
	return l
}

// fixPaths rewrites one line: its leading "file:N:" by whose file it is,
// and every other mention of the copy by the author's directory.
func fixPaths(line, cwd, out, src string) string {
	head, rest := "", line
	if m := locRE.FindStringSubmatchIndex(line); m != nil {
		p := line[m[2]:m[3]]
		if !filepath.IsAbs(p) && cwd != "" {
			p = filepath.Join(cwd, p)
		}
		if rel, ok := strings.CutPrefix(p, out+"/"); ok {
			p = rel
		}
		head, rest = p, line[m[3]:]
	}
	rest = strings.ReplaceAll(rest, out+"/", src+"/")
	if strings.HasSuffix(rest, out) {
		rest = strings.TrimSuffix(rest, out) + src
	}
	return head + rest
}

// diagRE matches the first line of a compiler diagnostic:
// "file:line:col: error: message".
var diagRE = regexp.MustCompile(`^(.+?):(\d+):(?:(\d+):)? (error|warning|fatal error): (.*)$`)

// contextRE matches what gcc prints under a diagnostic: the source line and
// the caret ("   68 |   x = y;" and "      |   ^~~").
var contextRE = regexp.MustCompile(`^ +(\d+ )?\| `)

// diagnostics picks the compiler's diagnostics of a kind ("error" or
// "warning"), each with the source line and caret under it, in the order
// the compiler gave them, at most limit.
func (l buildLog) diagnostics(kind string, limit int) []string {
	var out []string
	n := 0
	in := false
	for _, line := range l.lines {
		if m := diagRE.FindStringSubmatch(line); m != nil {
			in = (m[4] == kind || kind == "error" && m[4] == "fatal error") && n < limit
			if in {
				n++
				out = append(out, line)
			}
			continue
		}
		if in && contextRE.MatchString(line) {
			out = append(out, line)
			continue
		}
		in = false
	}
	return out
}

// toolRE matches the messages of kbuild's tools, modpost's among them:
// "ERROR: modpost: missing MODULE_LICENSE() in ...".
var toolRE = regexp.MustCompile(`^(ERROR|FATAL|WARNING): `)

// tool picks the tools' messages of a kind ("ERROR" takes FATAL too), at
// most limit.
func (l buildLog) tool(kind string, limit int) []string {
	var out []string
	for _, line := range l.lines {
		m := toolRE.FindStringSubmatch(line)
		if m != nil && (m[1] == kind || kind == "ERROR" && m[1] == "FATAL") && len(out) < limit {
			out = append(out, line)
		}
	}
	return out
}

// makeErrorRE matches make's own error lines; makeFailRE those that only
// say a target failed ("make[1]: *** [Makefile:1: all] Error 2"), which
// say nothing about why.
var (
	makeErrorRE = regexp.MustCompile(`^make(?:\[\d+\])?: \*\*\* `)
	makeFailRE  = regexp.MustCompile(`\] Error \d+$`)
)

// makeErrors picks make's messages about what went wrong: located ones
// ("Makefile:2: ...: No such file or directory") and its "***" lines
// other than the bare "Error 2" of a failed target, at most limit.
func (l buildLog) makeErrors(limit int) []string {
	var out []string
	for _, line := range l.lines {
		located := locRE.MatchString(line) && !diagRE.MatchString(line)
		if (located || makeErrorRE.MatchString(line) && !makeFailRE.MatchString(line)) && len(out) < limit {
			out = append(out, line)
		}
	}
	return out
}

// errors says why a failed build failed, the most telling line first:
// the compiler's errors; else the tools' (modpost's) ERROR lines; else
// make's own errors; else the last lines of the output.
func (l buildLog) errors(limit int) []string {
	if errs := l.diagnostics("error", limit); len(errs) > 0 {
		return errs
	}
	if errs := l.tool("ERROR", limit); len(errs) > 0 {
		return l.withMismatch(errs)
	}
	if errs := l.makeErrors(limit); len(errs) > 0 {
		return errs
	}
	return tail.Lines(l.lines, 15)
}

// withMismatch puts the first section mismatch into modpost's bare
// "Section mismatches detected." (a kernel without
// SECTION_MISMATCH_WARN_ONLY), which names neither file nor function.
func (l buildLog) withMismatch(errs []string) []string {
	if !strings.HasPrefix(errs[0], "ERROR: modpost: Section mismatches detected") {
		return errs
	}
	for _, w := range l.tool("WARNING", 1<<20) {
		if what, ok := strings.CutPrefix(w, "WARNING: modpost: "); ok && strings.Contains(what, "ection mismatch") {
			errs[0] = strings.TrimSuffix(errs[0], ".") + ": " + what
			break
		}
	}
	return errs
}

// warnings are the compiler's warnings, each with its source line and
// caret, then the tools' (modpost's section mismatches, for one).
func (l buildLog) warnings() []string {
	return append(l.diagnostics("warning", 1<<20), l.tool("WARNING", 1<<20)...)
}
