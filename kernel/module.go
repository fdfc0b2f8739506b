package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"mvdan.cc/sh/v3/shell"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/modinfo"
)

// ErrNotModule means a directory has neither a Kbuild nor a Makefile.
var ErrNotModule = errors.New("not an out-of-tree module directory")

// ErrModuleBuild marks a module that does not compile; the log says why.
var ErrModuleBuild = errors.New("module build failed")

// CheckModuleDir reports ErrNotModule unless dir has a Kbuild or Makefile.
func CheckModuleDir(dir string) error {
	for _, f := range []string{"Kbuild", "Makefile"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w: %v", ErrNotModule, err)
	}
	return fmt.Errorf("%w: %s has no Kbuild or Makefile", ErrNotModule, dir)
}

// IsModuleSource reports whether a file of a module directory is one of
// its sources: not what kbuild writes into it, not hidden, not an
// editor's backup or swap file. A module's key, its copy and rig watch
// look at the same files.
func IsModuleSource(name string) bool {
	base := filepath.Base(name)
	return !isBuildOutput(base) && !strings.HasPrefix(base, ".") && !strings.HasSuffix(base, "~") &&
		!strings.HasPrefix(base, "#") && !strings.HasSuffix(base, ".swp")
}

// isBuildOutput matches what kbuild writes into a module directory, so a
// module's key and its copy ignore a user's earlier in-place builds.
func isBuildOutput(name string) bool {
	switch filepath.Ext(name) {
	case ".o", ".ko", ".mod", ".cmd", ".symvers", ".order", ".a", ".d":
		return true
	}
	return strings.HasSuffix(name, ".mod.c") || strings.HasPrefix(name, ".tmp")
}

// ModuleSources lists the module's source files (see IsModuleSource),
// relative to dir, sorted; hidden directories are skipped.
func ModuleSources(dir string) ([]string, error) {
	return sourceFiles(dir)
}

// CopyModuleSources copies the module's sources from src to dst, so that
// a build writes its objects into the copy and never into the user's
// directory.
func CopyModuleSources(src, dst string) error {
	files, err := sourceFiles(src)
	if err != nil {
		return fmt.Errorf("read module sources: %w", err)
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(src, f), filepath.Join(dst, f)); err != nil {
			return fmt.Errorf("copy module sources: %w", err)
		}
	}
	return nil
}

// sourceFiles lists the module's source files, relative to dir, sorted.
func sourceFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && IsModuleSource(d.Name()) {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// ModuleKey hashes the module's sources with the kernel it builds against;
// a coverage build also depends on where the sources are, which its
// profile names.
func ModuleKey(kernelKey, dir string, coverage bool) (string, error) {
	files, err := sourceFiles(dir)
	if err != nil {
		return "", fmt.Errorf("read module sources: %w", err)
	}
	parts := []string{"module;W=1;v3", kernelKey}
	if coverage {
		parts = append(parts, "gcov", dir)
	}
	for _, f := range files {
		sum, err := cache.HashFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		parts = append(parts, f, sum)
	}
	return cache.Key(parts...), nil
}

// ModuleResult is a built module.
type ModuleResult struct {
	// Ko is the path of the one .ko the directory builds.
	Ko string
	// Warnings are the compiler's warnings (W=1), with the source line
	// and caret, then modpost's, such as a section mismatch; the author's
	// files are named relative to the module directory.
	Warnings []string
}

// ModuleBuildError is a module that did not compile or link: what the
// build said went wrong, the most telling line first (the compiler's
// errors, else modpost's ERROR lines, else make's), the author's files
// named relative to the module directory and every other file by its
// absolute path; and make's error.
type ModuleBuildError struct {
	Errors []string
	Err    error
}

func (e *ModuleBuildError) Error() string {
	if len(e.Errors) == 0 {
		return e.Err.Error()
	}
	return e.Err.Error() + "\n" + strings.Join(e.Errors, "\n")
}

func (e *ModuleBuildError) Unwrap() error { return ErrModuleBuild }

// maxErrors is how many of the compiler's errors a failed build shows.
const maxErrors = 5

// BuildModule copies the module sources from src to out and builds them
// with W=1 for the architecture against the kernel tree kdir; with
// coverage, instrumented for gcov, the profile naming src's files, not
// the copy's. The user's directory is never written to.
func BuildModule(ctx context.Context, a arch.Arch, kdir, src, out string, log io.Writer, coverage bool) (ModuleResult, error) {
	var vars []string
	if coverage {
		vars = []string{"GCOV_PROFILE=y", "KCFLAGS=-fprofile-prefix-map=" + out + "=" + src}
	}
	if err := CheckModuleDir(src); err != nil {
		return ModuleResult{}, err
	}
	if err := CopyModuleSources(src, out); err != nil {
		if he := cache.AsHostError(err); he != nil {
			he.Path = filepath.Dir(out) // out goes when the build fails
			return ModuleResult{}, he
		}
		return ModuleResult{}, err
	}
	var buf bytes.Buffer
	w := io.MultiWriter(&buf, log)
	args := append(append([]string{"-C", kdir, "M=" + out, "W=1"}, a.MakeArgs()...), vars...)
	err := run(ctx, w, "make", append(args, "modules")...)
	switch {
	case err != nil && ctx.Err() != nil:
		return ModuleResult{}, ctx.Err()
	case err != nil:
		if he := cache.BuildHostFault(filepath.Dir(out), buf.String(), err); he != nil {
			return ModuleResult{}, he
		}
		return ModuleResult{}, &ModuleBuildError{Errors: readBuildLog(buf.String(), out, src).errors(maxErrors), Err: err}
	}
	kos, _ := filepath.Glob(filepath.Join(out, "*.ko"))
	if len(kos) != 1 {
		return ModuleResult{}, fmt.Errorf("%w: the directory built %d .ko files; the rig loads exactly one", ErrModuleBuild, len(kos))
	}
	return ModuleResult{Ko: kos[0], Warnings: readBuildLog(buf.String(), out, src).warnings()}, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// CheckParams checks that every parameter in params ("a=1 b=2", as for
// insmod) is one the module at ko declares.
func CheckParams(ko, params string) error {
	if strings.TrimSpace(params) == "" {
		return nil
	}
	fields, err := shell.Fields(params, nil)
	if err != nil {
		return fmt.Errorf("cannot split %q into parameters: %w", params, err)
	}
	info, err := modinfo.Read(ko)
	if err != nil {
		return err
	}
	known := info.Params()
	for _, f := range fields {
		name, _, _ := strings.Cut(f, "=")
		if !slices.Contains(known, name) {
			have := "none"
			if len(known) > 0 {
				have = strings.Join(known, ", ")
			}
			return fmt.Errorf("the module has no parameter %q (it has: %s)", name, have)
		}
	}
	return nil
}
