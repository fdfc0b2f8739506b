// Package annotate renders a run's findings as GitHub Actions workflow
// commands (::error and ::warning), which GitHub shows as annotations on
// the lines of a pull request's diff: the module build's errors and W=1
// warnings, a kernel report whose guilty frame is in the module, and a
// failed contract case or guest test. It reads only the result; the
// caller says where the repository is, and when to print at all
// (GITHUB_ACTIONS=true).
//
// See https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions.
package annotate

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// Options say how to name what the result holds.
type Options struct {
	// Root is the repository's top directory: a file under it is named
	// relative to it, which is how GitHub finds it on the diff. A file
	// outside it (a kernel header) is named in the message instead. Empty:
	// every absolute path is given as it is.
	Root string
	// Module names the module in titles when the result does not (a
	// build that made no .ko).
	Module string
}

// Command is one workflow command: an annotation.
type Command struct {
	// Kind is "error" or "warning".
	Kind string
	// File is relative to the repository; empty when the finding has no
	// place on the diff. Line and Col are 0 when unknown.
	File      string
	Line, Col int
	Title     string
	Message   string
}

// String is the command as a runner reads it, with its data escaped.
func (c Command) String() string {
	var props []string
	add := func(k, v string) {
		if v != "" && v != "0" {
			props = append(props, k+"="+escapeProperty(v))
		}
	}
	add("file", c.File)
	if c.File != "" {
		add("line", strconv.Itoa(c.Line))
		add("col", strconv.Itoa(c.Col))
	}
	add("title", c.Title)
	head := "::" + c.Kind
	if len(props) > 0 {
		head += " " + strings.Join(props, ",")
	}
	return head + "::" + escapeData(c.Message)
}

// escapeData escapes a command's message, as GitHub's toolkit does.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a property's value, which also ends at a comma
// or a colon.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Write writes the commands, one a line.
func Write(w io.Writer, cmds []Command) error {
	for _, c := range cmds {
		if _, err := fmt.Fprintln(w, c.String()); err != nil {
			return err
		}
	}
	return nil
}

// Run is a single run's commands: every warning of the build, and when
// the run failed, its errors (at least one).
func Run(res result.Run, o Options) []Command {
	return findings(res, res.Class != verdict.Pass, o)
}

// Cells are a matrix's commands: each failing cell's errors, and every
// cell's warnings, each titled with the cells it came from. A finding
// that several cells share (the same warning on two kernels) is one
// command, titled with all of them.
func Cells(cells []result.Cell, o Options) []Command {
	var out []Command
	names := map[string][]string{}
	at := map[string]int{}
	for _, c := range cells {
		if c.Skipped != "" {
			continue
		}
		for _, cmd := range findings(c.Result, !c.OK, o) {
			k := key(cmd)
			if _, ok := at[k]; !ok {
				at[k] = len(out)
				out = append(out, cmd)
			}
			names[k] = append(names[k], c.Name)
		}
	}
	for k, i := range at {
		out[i].Title = strings.Join(names[k], ", ") + ": " + out[i].Title
	}
	return out
}

func key(c Command) string {
	return strings.Join([]string{c.Kind, c.File, strconv.Itoa(c.Line), strconv.Itoa(c.Col), c.Title, c.Message}, "\x00")
}

// findings are a run's commands: the build's warnings always, its errors
// only when failed.
func findings(res result.Run, failed bool, o Options) []Command {
	module := res.Module
	if module == "" {
		module = o.Module
	}
	var out []Command
	errors := false
	for _, d := range res.Build {
		if d.Severity == "error" && !failed {
			continue
		}
		errors = errors || d.Severity == "error"
		out = append(out, o.place(Command{Kind: d.Severity, Title: buildTitle(module, d), Message: d.Message}, d.File, d.Line, d.Column))
	}
	if !failed {
		return out
	}
	if cr := res.Crash; cr != nil {
		msg := strings.Join(append([]string{res.Verdict()}, cr.Trace()...), "\n")
		out, errors = append(out, o.place(Command{Kind: "error", Title: cr.Title, Message: msg}, cr.File, cr.Line, 0)), true
	}
	for _, c := range res.Cases {
		if c.Result != string(wire.Fail) {
			continue
		}
		msg := strings.Join(append([]string{c.Reason}, c.Diagnostics...), "\n")
		out = append(out, o.place(Command{Kind: "error", Title: c.Suite + ": " + c.Name + " failed", Message: strings.TrimSpace(msg)}, c.File, c.Line, 0))
		errors = true
	}
	if !errors {
		// A failure that locates nothing still says why, once.
		out = append(out, Command{Kind: "error", Title: module + ": " + firstNonEmpty(res.Title, string(res.Class)), Message: res.Verdict()})
	}
	return out
}

// buildTitle names a build's finding: "mymap: W=1 warning", "mymap:
// compile error", "mymap: modpost error".
func buildTitle(module string, d result.Diagnostic) string {
	switch {
	case d.Tool == "compiler" && d.Severity == "warning":
		return module + ": W=1 warning"
	case d.Tool == "compiler":
		return module + ": compile error"
	}
	return module + ": " + d.Tool + " " + d.Severity
}

// place puts a command on file:line:col when the file is in the
// repository, and otherwise names the place in its message.
func (o Options) place(c Command, file string, line, col int) Command {
	if file == "" {
		return c
	}
	if rel, ok := o.relative(file); ok {
		c.File, c.Line, c.Col = rel, line, col
		return c
	}
	where := file
	if line > 0 {
		where += ":" + strconv.Itoa(line)
	}
	c.Message = where + ": " + c.Message
	return c
}

// relative names an absolute path relative to the repository, with
// slashes; false for a path outside it, or one that is not absolute (a
// kernel report's "mm/memory.c", which is the kernel's).
func (o Options) relative(file string) (string, bool) {
	if !filepath.IsAbs(file) {
		return "", false
	}
	if o.Root == "" {
		return file, true
	}
	rel, err := filepath.Rel(o.Root, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
