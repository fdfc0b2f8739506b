package kernel

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Diagnostic is one message of a module build, located as far as the
// build located it, for a reader that puts it where the code is (a CI
// annotation on the diff).
type Diagnostic struct {
	// Severity is "error" or "warning".
	Severity string
	// Tool is "compiler", or the kbuild tool that said it ("modpost").
	Tool string
	// File is an absolute path: one of the author's files, or another
	// (a kernel header); empty when the message names no file.
	File string
	// Line and Col are 0 when the message names none.
	Line, Col int
	Message   string
}

// ledThereRE matches the line compilerErrors puts first when every error
// is in a header: "main.c:12: the first error is in a header this line
// includes: <the header's diagnostic>".
var ledThereRE = regexp.MustCompile(`^(\S+?):(\d+): (the first error is in a header this line includes: (.*))$`)

// kbuildToolRE matches a kbuild tool's message: "ERROR: modpost: ...".
var kbuildToolRE = regexp.MustCompile(`^(ERROR|FATAL|WARNING): ([\w-]+): (.*)$`)

// objectRE matches the object a tool's message names: "in /m/x.o",
// "[/m/x.ko]", "/m/x.o: section mismatch".
var objectRE = regexp.MustCompile(`(/\S+?)\.(o|ko)\b`)

// Diagnostics are the located messages among lines of a module build as
// BuildModule reports them (ModuleBuildError's Errors, ModuleResult's
// Warnings): the compiler's diagnostics and kbuild's tools' messages.
// The author's files, which those lines name relative to the module
// directory, are made absolute under dir; a tool's message that names an
// object of the author's is put on the object's C source where there is
// one (modpost gives no line). Context lines (the quoted source and
// caret), and lines that locate nothing, give none.
func Diagnostics(lines []string, dir string) []Diagnostic {
	var out []Diagnostic
	skip := ""
	for _, line := range lines {
		if m := ledThereRE.FindStringSubmatch(line); m != nil {
			// The header's diagnostic follows, the same error again.
			n, _ := strconv.Atoi(m[2])
			out, skip = append(out, Diagnostic{Severity: "error", Tool: "compiler", File: inDir(dir, m[1]), Line: n, Message: m[3]}), m[4]
			continue
		}
		if line == skip {
			continue
		}
		if d, ok := compilerDiagnostic(line, dir); ok {
			out = append(out, d)
		} else if d, ok := toolDiagnostic(line, dir); ok {
			out = append(out, d)
		}
	}
	return out
}

// compilerDiagnostic is a compiler diagnostic's first line, located.
func compilerDiagnostic(line, dir string) (Diagnostic, bool) {
	m := matchDiag(line)
	if m == nil {
		return Diagnostic{}, false
	}
	d := Diagnostic{Severity: "warning", Tool: "compiler", Message: m[5]}
	if m[4] != "warning" {
		d.Severity = "error"
	}
	if m[2] != "" {
		d.File = inDir(dir, m[1])
		d.Line, _ = strconv.Atoi(m[2])
		d.Col, _ = strconv.Atoi(m[3])
	}
	return d, true
}

// toolDiagnostic is a kbuild tool's message, on the C source of the
// author's object it names, if that exists.
func toolDiagnostic(line, dir string) (Diagnostic, bool) {
	m := kbuildToolRE.FindStringSubmatch(line)
	if m == nil {
		return Diagnostic{}, false
	}
	d := Diagnostic{Severity: "error", Tool: m[2], Message: m[3]}
	if m[1] == "WARNING" {
		d.Severity = "warning"
	}
	for _, o := range objectRE.FindAllStringSubmatch(m[3], -1) {
		src := o[1] + ".c"
		if fi, err := os.Stat(src); err == nil && fi.Mode().IsRegular() {
			d.File = src
			break
		}
	}
	return d, true
}

// inDir makes a path the build log gives relative to the module
// directory absolute.
func inDir(dir, path string) string {
	if filepath.IsAbs(path) || strings.HasPrefix(path, "<") {
		return path
	}
	return filepath.Join(dir, path)
}
