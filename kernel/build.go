// Package kernel fetches, configures and builds the test kernels, and
// builds out-of-tree modules against them.
package kernel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
)

// recipe changes whenever the way a kernel is built changes, so that old
// cache entries stop matching.
const recipe = "tinyconfig+fragments;bzImage modules;v1"

// Progress reports how far a kernel build is.
type Progress struct {
	// Done is the number of build steps finished.
	Done int
	// Total is the estimated number of steps; Done may pass it.
	Total int
}

// Percent is Done/Total, capped at 99 while the build runs.
func (p Progress) Percent() int {
	if p.Total <= 0 {
		return 0
	}
	return min(99, 100*p.Done/p.Total)
}

// BuildOptions says how to build a kernel tree.
type BuildOptions struct {
	// Arch is the architecture to build for.
	Arch      arch.Arch
	Fragments []Fragment
	// Jobs is make's -j; 0 means the number of CPUs.
	Jobs int
	// Log receives make's output.
	Log io.Writer
	// Progress, if set, is called as build steps finish.
	Progress func(Progress)
	// EstimatedSteps is the expected number of build steps, for progress.
	EstimatedSteps int
}

// Key is the cache key of a kernel built from the source with ID srcID for
// the architecture with these fragments by this toolchain.
func Key(ctx context.Context, a arch.Arch, srcID string, frags []Fragment) string {
	parts := []string{recipe, srcID, toolchain(ctx, a)}
	if a.Name != "x86_64" {
		// The first architecture's keys stay what they were.
		parts = append(parts, "arch="+a.Name)
	}
	for _, f := range frags {
		parts = append(parts, f.Name, f.Text)
	}
	return cache.Key(parts...)
}

func toolchain(ctx context.Context, a arch.Arch) string {
	return firstLine(ctx, a.CC(), "--version") + ";" + firstLine(ctx, "make", "--version")
}

// Configure writes out/.config: tinyconfig, then the fragments, then
// olddefconfig. It fails with a *MissingSymbolsError if a requested symbol
// did not survive.
func Configure(ctx context.Context, src, out string, opts BuildOptions) error {
	mk := func(args ...string) error {
		return run(ctx, opts.Log, "make", append(append([]string{"-C", src, "O=" + out}, opts.Arch.MakeArgs()...), args...)...)
	}
	if err := mk("tinyconfig"); err != nil {
		if he := cache.BuildHostFault(filepath.Dir(out), "", err); he != nil {
			return he
		}
		return fmt.Errorf("%w: make tinyconfig: %v", ErrBuild, err)
	}
	args := []string{filepath.Join(src, "scripts/kconfig/merge_config.sh"), "-m", "-O", out, filepath.Join(out, ".config")}
	for i, f := range opts.Fragments {
		p := filepath.Join(out, fmt.Sprintf("mmaprig-fragment-%d.config", i))
		if err := os.WriteFile(p, []byte(f.Text), 0o644); err != nil {
			return err
		}
		args = append(args, p)
	}
	if err := run(ctx, opts.Log, "sh", args...); err != nil {
		return fmt.Errorf("%w: merge config fragments: %v", ErrBuild, err)
	}
	if err := mk("olddefconfig"); err != nil {
		return fmt.Errorf("%w: make olddefconfig: %v", ErrBuild, err)
	}
	f, err := os.Open(filepath.Join(out, ".config"))
	if err != nil {
		return err
	}
	defer f.Close()
	final, err := ParseConfig(f)
	if err != nil {
		return fmt.Errorf("read final .config: %w", err)
	}
	return Verify(final, opts.Fragments)
}

// stepRE matches kbuild's short progress lines, such as "  CC      mm/mmap.o".
var stepRE = regexp.MustCompile(`^  [A-Z][A-Z0-9_\[\] ]{1,10} `)

// Compile builds the image and the module support files in out, and the
// kernel's gdb scripts when the configuration has them.
// It returns the number of build steps, for later progress estimates.
func Compile(ctx context.Context, src, out string, opts BuildOptions) (int, error) {
	goals, err := makeGoals(out, opts.Arch)
	if err != nil {
		return 0, err
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}
	pr, pw := io.Pipe()
	steps := make(chan int, 1)
	var noSpace string // the first line that says a write failed
	go func() {
		n := 0
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if opts.Log != nil {
				fmt.Fprintln(opts.Log, line)
			}
			if noSpace == "" && cache.NoSpace(line) != "" {
				noSpace = line
			}
			if stepRE.MatchString(line) {
				n++
				if opts.Progress != nil {
					opts.Progress(Progress{Done: n, Total: opts.EstimatedSteps})
				}
			}
		}
		io.Copy(io.Discard, pr)
		steps <- n
	}()
	args := append([]string{"-C", src, "O=" + out}, opts.Arch.MakeArgs()...)
	err = run(ctx, pw, "make", append(append(args, fmt.Sprintf("-j%d", jobs)), goals...)...)
	pw.Close()
	n := <-steps
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if he := cache.BuildHostFault(filepath.Dir(out), noSpace, err); he != nil {
			return n, he
		}
		return n, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	for _, want := range []string{opts.Arch.Image, "Module.symvers"} {
		if _, err := os.Stat(filepath.Join(out, want)); err != nil {
			return n, fmt.Errorf("%w: make succeeded but %s is missing", ErrBuild, want)
		}
	}
	return n, nil
}

// makeGoals are what the build makes: the image and the modules' support
// files, and the kernel's gdb scripts (vmlinux-gdb.py: lx-symbols,
// lx-dmesg) when the configuration asks for them. make's all target would
// make them; the rig's goals do not, unless named. Made here, with the
// tree, a cached tree never has to be changed in place for them later.
func makeGoals(out string, a arch.Arch) ([]string, error) {
	goals := []string{a.Target, "modules"}
	f, err := os.Open(filepath.Join(out, ".config"))
	if err != nil {
		return nil, fmt.Errorf("read the kernel's .config: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return nil, fmt.Errorf("read the kernel's .config: %w", err)
	}
	if cfg["CONFIG_GDB_SCRIPTS"] == "y" {
		goals = append(goals, "scripts_gdb")
	}
	return goals, nil
}

// Release reads the kernel release string of a built tree, as uname -r.
func Release(tree string) (string, error) {
	b, err := os.ReadFile(filepath.Join(tree, "include/config/kernel.release"))
	if err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
