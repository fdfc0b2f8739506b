// Package lint checks an out-of-tree kernel module's sources without
// booting anything: the kernel's own checkpatch.pl, sparse and Coccinelle
// scripts, and a Coccinelle rule of mmaprig's own that finds slab or
// vmalloc memory mapped to user space, which no kernel tool reports.
//
// Run never writes into the module directory: the tools work on a
// temporary copy, and findings name the files by the path the caller gave.
package lint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/kernel"
)

// The tools Run knows, by the names used in Options.Tools and Finding.Tool.
const (
	// Checkpatch is the kernel's scripts/checkpatch.pl (--strict with
	// Options.Strict).
	Checkpatch = "checkpatch"
	// Sparse is sparse run by kbuild with C=2 against a built kernel tree.
	Sparse = "sparse"
	// Coccinelle is the kernel's scripts/coccinelle that apply to drivers.
	Coccinelle = "coccinelle"
	// MmaprigCocci is mmaprig's own Coccinelle rule (cocci/mmap_slab.cocci).
	MmaprigCocci = "mmaprig-cocci"
)

// AllTools returns every tool Run knows, in the order it reports them.
func AllTools() []string {
	return []string{Checkpatch, Sparse, Coccinelle, MmaprigCocci}
}

// Finding is one problem a tool reported in the module.
type Finding struct {
	// File is the module directory as the caller gave it, joined with the
	// file's path inside it: the author's file, never a temporary copy.
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column,omitempty"`
	// Tool is one of Checkpatch, Sparse, Coccinelle and MmaprigCocci.
	Tool string `json:"tool"`
	// Rule names what fired: checkpatch's type (LONG_LINE), sparse's
	// level (warning, error), or the Coccinelle script (free/ifnullfree,
	// mmap_slab).
	Rule     string   `json:"rule,omitempty"`
	Severity Severity `json:"severity"`
	// Message is the tool's own words, without the level and type that
	// Severity and Rule hold.
	Message string `json:"message"`
}

// String formats f as "file:line: tool: message [severity rule]", the way
// compilers do, so that editors can jump to it.
func (f Finding) String() string {
	tag := string(f.Severity)
	if f.Rule != "" && f.Rule != tag {
		tag += " " + f.Rule
	}
	return fmt.Sprintf("%s:%d: %s: %s [%s]", f.File, f.Line, f.Tool, f.Message, tag)
}

// Options says what to check and with which trees.
type Options struct {
	// ModuleDir is the module to check: a directory with .c files (and a
	// Kbuild or Makefile, for sparse).
	ModuleDir string
	// KernelSrc is an unpacked kernel source tree; checkpatch and
	// coccinelle take their scripts from it.
	KernelSrc string
	// KernelBuild is a configured and built kernel tree (the source tree,
	// or an O= output directory), which sparse builds the module against.
	KernelBuild string
	// Log receives diagnostics; nil discards them.
	Log *slog.Logger
	// Tools selects the tools to run; empty means all of AllTools.
	Tools []string
	// Strict runs checkpatch --strict, whose CHECKs are style findings.
	Strict bool
	// InTree keeps the checkpatch checks that only make sense for code
	// merged into the kernel (see CheckpatchLeftOut).
	InTree bool
	// Timeout bounds each program a checker runs (checkpatch, make with
	// sparse, each spatch script); zero means DefaultTimeout. A program
	// that runs out of time is a tool error.
	Timeout time.Duration
}

// DefaultTimeout bounds each program a checker runs.
const DefaultTimeout = 10 * time.Minute

// InputError reports input Run cannot use: a module directory, a kernel
// tree or a tool name. Its message says what to do.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func inputErrorf(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// MissingToolError reports a host program that a selected tool needs and
// that is not installed.
type MissingToolError struct {
	// Program is the missing executable; Package is the apt package with it.
	Program, Package string
}

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s is not installed; run `make deps` (or apt-get install %s)", e.Program, e.Package)
}

// lookPath finds program, or says which package to install.
func lookPath(program, pkg string) (string, error) {
	p, err := exec.LookPath(program)
	if err != nil {
		return "", &MissingToolError{Program: program, Package: pkg}
	}
	return p, nil
}

// module is the checked module: the caller's directory, the temporary copy
// the tools work on, and its C sources relative to both.
type module struct {
	userDir string
	copyDir string
	files   []string      // .c and .h, relative, sorted
	limit   time.Duration // for each program a checker runs
}

func (m *module) cFiles() []string {
	return slices.DeleteFunc(slices.Clone(m.files), func(f string) bool { return !strings.HasSuffix(f, ".c") })
}

// userPath maps a path a tool printed, relative to the copy or absolute
// inside it, to the caller's path. It reports false for files outside the
// module, such as kernel headers.
func (m *module) userPath(p string) (string, bool) {
	rel := p
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(m.copyDir, p)
		if err != nil || r == ".." || strings.HasPrefix(r, "../") {
			return "", false
		}
		rel = r
	}
	rel = filepath.Clean(rel)
	if strings.HasPrefix(rel, "../") || rel == ".." || !kernel.IsModuleSource(rel) {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(m.copyDir, rel)); err != nil {
		return "", false
	}
	return filepath.Join(m.userDir, rel), true
}

// A checker runs one tool on the module copy. It returns what it found
// even when it also failed; it fails only in its []ToolError.
type checker func(ctx context.Context, m *module) ([]Finding, []ToolError)

// Run checks opts.ModuleDir with the selected tools, all at once. Each
// tool's findings survive another's failure: a tool that is missing or
// fails is in Result.ToolErrors. Run returns an error only for input it
// cannot use (an *InputError) or when ctx ends.
func Run(ctx context.Context, opts Options) (*Result, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tools, err := selectTools(opts.Tools)
	if err != nil {
		return nil, err
	}
	files, err := moduleSources(opts.ModuleDir)
	if err != nil {
		return nil, err
	}
	res := &Result{Module: opts.ModuleDir, Tools: tools, Findings: []Finding{}, ToolErrors: []ToolError{}}
	if slices.Contains(tools, Checkpatch) {
		res.LeftOut = CheckpatchLeftOut(opts.InTree)
	}
	checkers, errs, err := newCheckers(ctx, opts, tools, log)
	if err != nil {
		return nil, err
	}
	res.ToolErrors = append(res.ToolErrors, errs...)

	tmp, err := os.MkdirTemp("", "mmaprig-lint-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	m := &module{userDir: opts.ModuleDir, copyDir: filepath.Join(tmp, "module"), files: files,
		limit: cmp.Or(opts.Timeout, DefaultTimeout)}
	if err := copyModule(opts.ModuleDir, m.copyDir); err != nil {
		return nil, err
	}
	found := make([][]Finding, len(checkers))
	failed := make([][]ToolError, len(checkers))
	var wg sync.WaitGroup
	for i, c := range checkers {
		wg.Go(func() {
			start := time.Now()
			found[i], failed[i] = c.run(ctx, m)
			log.Debug("lint: tool done", "tool", c.tool, "findings", len(found[i]), "errors", len(failed[i]), "took", time.Since(start).Round(time.Millisecond))
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	res.Findings = append(res.Findings, slices.Concat(found...)...)
	res.ToolErrors = append(res.ToolErrors, slices.Concat(failed...)...)
	sortFindings(res.Findings)
	res.Findings = slices.Compact(res.Findings)
	slices.SortStableFunc(res.ToolErrors, func(a, b ToolError) int {
		return cmp.Or(slices.Index(AllTools(), a.Tool)-slices.Index(AllTools(), b.Tool), strings.Compare(a.Script, b.Script))
	})
	return res, nil
}

// namedChecker is a checker with its tool's name.
type namedChecker struct {
	tool string
	run  checker
}

// newCheckers checks every input and program before running anything. Bad
// input is an error; a tool that cannot run here (a missing program, a
// module sparse cannot build) is a ToolError, and the others still run.
func newCheckers(ctx context.Context, opts Options, tools []string, log *slog.Logger) ([]namedChecker, []ToolError, error) {
	var checkers []namedChecker
	var failed []ToolError
	for _, t := range tools {
		var c checker
		var err error
		switch t {
		case Checkpatch:
			c, err = newCheckpatch(opts, log)
		case Sparse:
			c, err = newSparse(opts, log)
		case Coccinelle:
			c, err = newKernelCocci(ctx, opts, log)
		case MmaprigCocci:
			c, err = newRule(log)
		}
		var in *InputError
		switch {
		case errors.As(err, &in):
			return nil, nil, err
		case err != nil:
			failed = append(failed, ToolError{Tool: t, Headline: err.Error()})
		default:
			checkers = append(checkers, namedChecker{t, c})
		}
	}
	return checkers, failed, nil
}

func selectTools(names []string) ([]string, error) {
	if len(names) == 0 {
		return AllTools(), nil
	}
	var tools []string
	for _, n := range names {
		if !slices.Contains(AllTools(), n) {
			return nil, inputErrorf("unknown lint tool %q; the tools are %s", n, strings.Join(AllTools(), ", "))
		}
		if !slices.Contains(tools, n) {
			tools = append(tools, n)
		}
	}
	// Report in the usual order, whatever order they were asked for in.
	slices.SortFunc(tools, func(a, b string) int {
		return slices.Index(AllTools(), a) - slices.Index(AllTools(), b)
	})
	return tools, nil
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		switch {
		case a.File != b.File:
			return strings.Compare(a.File, b.File)
		case a.Line != b.Line:
			return a.Line - b.Line
		case a.Column != b.Column:
			return a.Column - b.Column
		case a.Tool != b.Tool:
			return slices.Index(AllTools(), a.Tool) - slices.Index(AllTools(), b.Tool)
		case a.Rule != b.Rule:
			return strings.Compare(a.Rule, b.Rule)
		}
		return strings.Compare(a.Message, b.Message)
	})
}

// moduleSources lists the module's .c and .h files, relative to dir.
func moduleSources(dir string) ([]string, error) {
	if dir == "" {
		return nil, inputErrorf("no module directory given; pass -module DIR")
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, inputErrorf("-module %s does not exist; pass the module's directory", dir)
	}
	if err != nil {
		return nil, inputErrorf("-module %s: %v", dir, errors.Unwrap(err))
	}
	if !st.IsDir() {
		return nil, inputErrorf("-module %s is not a directory; pass the module's directory", dir)
	}
	all, err := kernel.ModuleSources(dir)
	if err != nil {
		return nil, inputErrorf("-module %s: cannot read it: %v", dir, err)
	}
	var files []string
	hasC := false
	for _, rel := range all {
		switch filepath.Ext(rel) {
		case ".c":
			hasC = true
		case ".h":
		default:
			continue
		}
		files = append(files, rel)
	}
	if !hasC {
		return nil, inputErrorf("-module %s has no .c files; pass the directory of the module's sources", dir)
	}
	slices.Sort(files)
	return files, nil
}

// copyModule copies the module's sources from src to dst, so that kbuild
// writes its objects into the copy.
func copyModule(src, dst string) error {
	if err := kernel.CopyModuleSources(src, dst); err != nil {
		return fmt.Errorf("copy module %s to a temporary directory: %w", src, err)
	}
	return nil
}

// isFile reports whether path is a regular file.
func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// isDir reports whether path is a directory.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// lastLines returns the last n lines of s, for error messages.
func lastLines(s string, n int) string {
	t, _ := tail.Text(s, n)
	return t
}
