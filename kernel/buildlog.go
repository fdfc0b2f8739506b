package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	paths logPaths
}

// logPaths say whose file a path in a build's output names.
type logPaths struct {
	// out is the copy of the module's tree the build ran in, src the
	// author's tree it came from.
	out, src string
	// rel is the module directory, relative to both.
	rel string
	// aliases are other names of directories of the copy (dkms's links
	// to the build directory), and the directories they name.
	aliases map[string]string
}

// readBuildLog rewrites output, the output of make -C kdir M=out, for
// a module whose sources came from src.
func readBuildLog(output, out, src string) buildLog {
	return readLog(output, logPaths{out: out, src: src})
}

// readLog rewrites a build's output, its paths by p.
func readLog(output string, p logPaths) buildLog {
	p.out, p.src = filepath.Clean(p.out), filepath.Clean(p.src)
	var dirs []string
	l := buildLog{paths: p}
	for _, line := range strings.Split(strings.TrimRight(output, "\n"), "\n") {
		line = p.unalias(line)
		if m := enterRE.FindStringSubmatch(line); m != nil {
			dirs = append(dirs, m[1])
		} else if leaveRE.MatchString(line) && len(dirs) > 0 {
			dirs = dirs[:len(dirs)-1]
		}
		cwd := ""
		if len(dirs) > 0 {
			cwd = dirs[len(dirs)-1]
		}
		l.lines = append(l.lines, p.fix(line, cwd))
	}
	return l
}

// unalias names the copy's directories by their own paths.
func (p logPaths) unalias(line string) string {
	for alias, dir := range p.aliases {
		line = strings.ReplaceAll(line, alias, dir)
	}
	return line
}

// chainRE matches gcc's include chain before a diagnostic in a header:
// "In file included from main.c:12:", "                 from x.h:3,".
var chainRE = regexp.MustCompile(`^(In file included from |\s+from )(\S+?):(\d+)([,:])$`)

// fix rewrites one line: its leading "file:N:" (or the file of an
// include chain's line) by whose file it is, and every other mention of
// the copy by the author's tree.
func (p logPaths) fix(line, cwd string) string {
	head, rest := "", line
	if m := chainRE.FindStringSubmatchIndex(line); m != nil {
		head, rest = line[:m[4]]+p.own(line[m[4]:m[5]], cwd), line[m[5]:]
	} else if m := locRE.FindStringSubmatchIndex(line); m != nil {
		head, rest = p.own(line[m[2]:m[3]], cwd), line[m[3]:]
	}
	rest = strings.ReplaceAll(rest, p.out+"/", p.src+"/")
	if strings.HasSuffix(rest, p.out) {
		rest = strings.TrimSuffix(rest, p.out) + p.src
	}
	return head + rest
}

// own names a file: one of the copy's relative to the module directory
// ("main.c", "../include/x.h"), any other by its absolute path.
func (p logPaths) own(path, cwd string) string {
	if !filepath.IsAbs(path) && cwd != "" {
		path = filepath.Join(cwd, path)
	}
	if !strings.HasPrefix(path, p.out+"/") {
		return path
	}
	rel, err := filepath.Rel(filepath.Join(p.out, p.rel), path)
	if err != nil {
		return path
	}
	return rel
}

// diagRE matches the first line of a compiler diagnostic:
// "file:line:col: error: message".
var diagRE = regexp.MustCompile(`^(.+?):(\d+):(?:(\d+):)? (error|warning|fatal error): (.*)$`)

// driverDiagRE matches a diagnostic of the compiler that names no line:
// "<command-line>: fatal error: x.h: No such file or directory" (from
// -include in KCFLAGS), "cc1: error: unrecognized command-line option".
var driverDiagRE = regexp.MustCompile(`^(<command-line>|cc1|cc1plus|\S*gcc(?:-\d+)?|\S*clang(?:-\d+)?)(): (error|warning|fatal error): (.*)$`)

// matchDiag matches a diagnostic's first line: the line, its file, line,
// column, kind and message.
func matchDiag(line string) []string {
	if m := diagRE.FindStringSubmatch(line); m != nil {
		return m
	}
	if m := driverDiagRE.FindStringSubmatch(line); m != nil {
		return []string{m[0], m[1], "", "", m[3], m[4]}
	}
	return nil
}

// contextRE matches what gcc prints under a diagnostic: the source line and
// the caret ("   68 |   x = y;" and "      |   ^~~").
var contextRE = regexp.MustCompile(`^ +(\d+ )?\| `)

// diag is one compiler diagnostic.
type diag struct {
	kind, file, msg string
	// lines are its first line, then the source line and caret.
	lines []string
	// chain are the includes that led to its file, innermost first.
	chain []include
}

// include is one line of an include chain: file:line.
type include struct {
	file string
	line int
}

// own reports whether the diagnostic is in the author's files, which
// the log names by relative paths.
func (d diag) own() bool { return !filepath.IsAbs(d.file) }

// diags are the compiler's diagnostics of a kind ("error" takes "fatal
// error" too; "" takes all), in the order the compiler gave them. gcc
// prints an include chain once for a run of diagnostics in one header.
func (l buildLog) diags(kind string) []diag {
	var out []diag
	var chain []include
	chainFile, inChain, in := "", false, false
	for _, line := range l.lines {
		if m := chainRE.FindStringSubmatch(line); m != nil {
			if !inChain {
				chain, chainFile = nil, ""
			}
			n, _ := strconv.Atoi(m[3])
			chain, inChain, in = append(chain, include{m[2], n}), true, false
			continue
		}
		inChain = false
		if m := matchDiag(line); m != nil {
			if chainFile == "" {
				chainFile = m[1]
			}
			d := diag{kind: m[4], file: m[1], msg: m[5], lines: []string{line}}
			if m[1] == chainFile {
				d.chain = chain
			}
			in = kind == "" || d.kind == kind || kind == "error" && d.kind == "fatal error"
			if in {
				out = append(out, d)
			}
			continue
		}
		if in && contextRE.MatchString(line) {
			out[len(out)-1].lines = append(out[len(out)-1].lines, line)
			continue
		}
		in = false
	}
	return out
}

// diagnostics are the diagnostics of a kind, each with its source line
// and caret, at most limit.
func (l buildLog) diagnostics(kind string, limit int) []string {
	var out []string
	for i, d := range l.diags(kind) {
		if i == limit {
			break
		}
		out = append(out, d.lines...)
	}
	return out
}

// compilerErrors are the compiler's errors, at most limit, the first in
// the author's files first. When every error is in another file (a
// kernel header), the first line says which line of the author's led
// there, and quotes it.
func (l buildLog) compilerErrors(limit int) []string {
	ds := l.diags("error")
	if len(ds) == 0 {
		return nil
	}
	var out []string
	first := slices.IndexFunc(ds, diag.own)
	if first < 0 {
		first = 0
		out = l.ledThere(ds[0])
	}
	ordered := append([]diag{ds[first]}, append(ds[:first:first], ds[first+1:]...)...)
	for _, d := range ordered[:min(limit, len(ordered))] {
		out = append(out, d.lines...)
	}
	return out
}

// ledThere says which of the author's lines included the header an
// error is in, and quotes it; nothing when no line of the author's did.
func (l buildLog) ledThere(d diag) []string {
	i := slices.IndexFunc(d.chain, func(inc include) bool { return !filepath.IsAbs(inc.file) })
	if i < 0 {
		return nil
	}
	inc := d.chain[i]
	out := []string{fmt.Sprintf("%s:%d: the first error is in a header this line includes: %s", inc.file, inc.line, d.lines[0])}
	src, err := os.ReadFile(filepath.Join(l.paths.out, l.paths.rel, inc.file))
	if lines := strings.Split(string(src), "\n"); err == nil && inc.line <= len(lines) {
		out = append(out, fmt.Sprintf("%5d | %s", inc.line, lines[inc.line-1]))
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
	if errs := l.compilerErrors(limit); len(errs) > 0 {
		return errs
	}
	if errs := l.tool("ERROR", limit); len(errs) > 0 {
		return l.withMismatch(errs)
	}
	if errs := l.missingCommands(limit); len(errs) > 0 {
		return errs
	}
	if errs := l.makeErrors(limit); len(errs) > 0 {
		return errs
	}
	return tail.Lines(l.lines, 15)
}

// notFoundRE matches a shell's word on a command it could not find:
// dash's "/bin/sh: 1: pahole: not found", bash's "sh: pahole: command not
// found".
var notFoundRE = regexp.MustCompile(`^(?:/bin/)?(?:ba|da)?sh: (?:line )?(?:\d+: )?(\S+): (?:command )?not found$`)

// missingCommands picks the commands the build ran and the host lacks
// (pahole, for BTF, where the kernel has DEBUG_INFO_BTF_MODULES), at most
// limit: make's own lines then only say a target failed.
func (l buildLog) missingCommands(limit int) []string {
	var out []string
	for _, line := range l.lines {
		if m := notFoundRE.FindStringSubmatch(line); m != nil && len(out) < limit {
			out = append(out, fmt.Sprintf("%s (the build runs %s, which is not installed; `make deps` installs what the rig's builds need)", line, m[1]))
		}
	}
	return out
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
