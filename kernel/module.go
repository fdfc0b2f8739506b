package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"mvdan.cc/sh/v3/shell"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/modinfo"
)

// ErrModuleBuild marks a module that does not compile; the log says why.
var ErrModuleBuild = errors.New("module build failed")

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

// hashFiles is the cache key of parts and the files of dir, by their
// paths and contents.
func hashFiles(parts []string, dir string, files []string) (string, error) {
	for _, f := range files {
		sum, err := cache.HashFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		parts = append(parts, f, sum)
	}
	return cache.Key(parts...), nil
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
