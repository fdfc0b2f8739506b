// Package guesttest finds and builds the author's own guest tests for the
// guest's architecture: a Go main package, a Go test package (built with
// go test -c, run with -test.v, one case per test), or a static
// executable. Built binaries are cached by what went into them: the Go
// version and architecture, and every file of every package they import
// outside the standard library.
package guesttest

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// Kind is what a guest test is.
type Kind string

// The kinds.
const (
	// GoMain is a Go main package: the program's exit status (and its KTAP,
	// if it prints KTAP) is the result.
	GoMain Kind = "go-main"
	// GoTest is a Go package with tests: one case per test.
	GoTest Kind = "go-test"
	// Executable is a static executable: as GoMain.
	Executable Kind = "executable"
)

// ErrBadTest means a -guest-test names nothing the rig can run.
var ErrBadTest = errors.New("bad guest test")

// Test is one resolved guest test.
type Test struct {
	// Spec is what the user gave.
	Spec string
	// Name names the test's cases and its binary in the guest.
	Name string
	Kind Kind
	// Dir is the Go package's directory, or the executable's path.
	Dir string
	// Package is the Go import path, for Go tests.
	Package string
	// Tests are a Go test package's top-level tests, by name, from its
	// test files' sources: what -run selects among before the guest
	// boots.
	Tests []string
}

// Resolve finds what spec names: a file (a static executable), a directory
// relative to moduleDir or absolute (a Go package), or a Go import path
// (resolved in moduleDir's Go module, or else the rig's).
func Resolve(ctx context.Context, spec, moduleDir, rigRoot string) (Test, error) {
	t := Test{Spec: spec}
	path := spec
	if !filepath.IsAbs(path) {
		path = filepath.Join(moduleDir, spec)
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Mode().IsRegular():
		t.Kind, t.Dir, t.Name = Executable, path, filepath.Base(path)
		return t, nil
	case err == nil && fi.IsDir():
		return resolvePackage(ctx, t, path, ".")
	case strings.HasPrefix(spec, ".") || filepath.IsAbs(spec):
		return t, fmt.Errorf("%w: -guest-test %s: %v", ErrBadTest, spec, err)
	}
	// An import path, in the module dir's Go module or the rig's.
	dir := moduleDir
	if !hasGoMod(ctx, dir) {
		dir = rigRoot
	}
	t, err = resolvePackage(ctx, t, dir, spec)
	if err != nil {
		return t, fmt.Errorf("%w (%s is no file or directory under %s either)", err, spec, moduleDir)
	}
	return t, nil
}

func hasGoMod(ctx context.Context, dir string) bool {
	mod, err := goEnv(ctx, dir, "GOMOD")
	return err == nil && mod != "" && mod != os.DevNull
}

func goEnv(ctx context.Context, dir, name string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", name)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

type listed struct {
	Dir          string
	ImportPath   string
	Name         string
	TestGoFiles  []string
	XTestGoFiles []string
	Error        *struct{ Err string }
}

func resolvePackage(ctx context.Context, t Test, dir, pattern string) (Test, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-json", "-e", pattern)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return t, fmt.Errorf("%w: -guest-test %s: go list: %v: %s", ErrBadTest, t.Spec, err, strings.TrimSpace(stderr.String()))
	}
	var p listed
	if err := json.Unmarshal(out, &p); err != nil {
		return t, fmt.Errorf("%w: -guest-test %s: go list: %v", ErrBadTest, t.Spec, err)
	}
	if p.Error != nil {
		return t, fmt.Errorf("%w: -guest-test %s: %s", ErrBadTest, t.Spec, p.Error.Err)
	}
	t.Dir, t.Package = p.Dir, p.ImportPath
	switch {
	case p.Name == "main":
		t.Kind = GoMain
	case len(p.TestGoFiles)+len(p.XTestGoFiles) > 0:
		t.Kind = GoTest
		if t.Tests, err = testNames(p.Dir, append(p.TestGoFiles, p.XTestGoFiles...)); err != nil {
			return t, fmt.Errorf("%w: -guest-test %s: %v", ErrBadTest, t.Spec, err)
		}
	default:
		return t, fmt.Errorf("%w: -guest-test %s: package %s is neither a main package nor has tests", ErrBadTest, t.Spec, p.ImportPath)
	}
	t.Name = binaryName(t)
	return t, nil
}

// testNames are the top-level test functions in a package's test files,
// as go test finds them: func TestXxx(t *testing.T), where Xxx does not
// start with a lower-case letter.
func testNames(dir string, files []string) ([]string, error) {
	var names []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if ok && fd.Recv == nil && isTestName(fd.Name.Name) && fd.Type.Params.NumFields() == 1 {
				names = append(names, fd.Name.Name)
			}
		}
	}
	return names, nil
}

func isTestName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Test")
	if !ok {
		return false
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return rest == "" || !unicode.IsLower(r)
}

// binaryName is the name go build (or go test -c) gives the package's
// binary: the test's name, unless the run renames it, and always the name
// in its cache entry.
func binaryName(t Test) string {
	if t.Kind == GoTest {
		return filepath.Base(t.Package) + ".test"
	}
	return filepath.Base(t.Package)
}

// Build returns the test's binary for goarch, built into the cache (or
// found there). An executable is checked to be a static ELF for goarch.
func Build(ctx context.Context, c *cache.Cache, t Test, goarch string, log io.Writer) (string, error) {
	if t.Kind == Executable {
		return t.Dir, checkExecutable(t.Dir, goarch)
	}
	key, err := key(ctx, t, goarch)
	if err != nil {
		return "", err
	}
	// The entry is the package's, whatever the run calls the test.
	name := binaryName(t)
	dir, _, err := c.Get(ctx, "guest-test", key, func(ctx context.Context, out string) error {
		bin := filepath.Join(out, name)
		args := []string{"build", "-trimpath", "-o", bin, "."}
		if t.Kind == GoTest {
			args = []string{"test", "-c", "-trimpath", "-o", bin, "."}
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = t.Dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&b, log), io.MultiWriter(&b, log)
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: go %s in %s: %v\n%s", ErrBuild, args[0], t.Dir, err, strings.TrimSpace(b.String()))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// ErrBuild means a guest test did not build.
var ErrBuild = errors.New("the guest test did not build")

// key hashes what the test's binary is made of: the Go version, the
// architecture, and the files of every package it imports, its tests
// included, but the standard library's, which the Go version names.
func key(ctx context.Context, t Test, goarch string) (string, error) {
	args := []string{"list", "-deps", "-json=Dir,ImportPath,Standard,GoFiles,CgoFiles,EmbedFiles,TestGoFiles,XTestGoFiles"}
	if t.Kind == GoTest {
		args = append(args, "-test")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = t.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: go list -deps in %s: %v", ErrBadTest, t.Dir, err)
	}
	version, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", err
	}
	parts := []string{"guest-test;v1", string(t.Kind), goarch, strings.TrimSpace(string(version))}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			Dir, ImportPath                                          string
			Standard                                                 bool
			GoFiles, CgoFiles, EmbedFiles, TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			return "", err
		}
		if p.Standard {
			continue
		}
		files := append(append(append(append(p.GoFiles, p.CgoFiles...), p.EmbedFiles...), p.TestGoFiles...), p.XTestGoFiles...)
		sort.Strings(files)
		parts = append(parts, p.ImportPath)
		for _, f := range files {
			if filepath.IsAbs(f) {
				continue // generated into Go's build cache: the test main
			}
			sum, err := cache.HashFile(filepath.Join(p.Dir, f))
			if err != nil {
				return "", err
			}
			parts = append(parts, f, sum)
		}
	}
	return cache.Key(parts...), nil
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkExecutable makes sure path is a static ELF executable for goarch:
// the guest has no dynamic loader or libraries.
func checkExecutable(path, goarch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: -guest-test %s is not an ELF executable: %v", ErrBadTest, path, err)
	}
	defer f.Close()
	if want, ok := elfMachine[goarch]; ok && f.Machine != want {
		return fmt.Errorf("%w: -guest-test %s is built for %v, the guest is %s", ErrBadTest, path, f.Machine, goarch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: -guest-test %s is dynamically linked; the guest has no libraries: link it statically", ErrBadTest, path)
		}
	}
	return nil
}
