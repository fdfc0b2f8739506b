package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/runner"
)

// resolve turns a checked config into run options, which takes I/O: it
// finds the rig's tree, makes the module's directory absolute, reads the
// config fragment files, stats a -kernel-src path, and opens the cache.
// The progress goes to out.
func resolve(c *config, log *slog.Logger, out io.Writer) (runner.Options, error) {
	root, err := c.rootDir()
	if err != nil {
		return runner.Options{}, err
	}
	mod := c.module
	if mod == "" {
		mod = filepath.Join(root, "module")
	}
	if mod, err = filepath.Abs(mod); err != nil {
		return runner.Options{}, err
	}
	modRoot := c.moduleRoot
	if modRoot != "" {
		if modRoot, err = filepath.Abs(modRoot); err != nil {
			return runner.Options{}, err
		}
	}
	frags := c.fragmentList()
	if _, err := kernel.LoadFragments(frags...); err != nil {
		return runner.Options{}, usageError{"-config: " + err.Error()}
	}
	src, err := c.source()
	if err != nil {
		return runner.Options{}, err
	}
	cc, cacheDir, err := c.openCache(log)
	if err != nil {
		return runner.Options{}, err
	}
	art := c.artifacts
	if art == "" {
		art = filepath.Join(cacheDir, "runs", time.Now().Format("20060102-150405")+"-"+strconv.Itoa(os.Getpid()))
	}
	if art, err = filepath.Abs(art); err != nil {
		return runner.Options{}, err
	}
	opts := c.options()
	opts.Root, opts.ModuleDir, opts.ModuleRoot, opts.Fragments, opts.Kernel = root, mod, modRoot, frags, src
	opts.Cache, opts.ArtifactDir = cc, art
	opts.Printer, opts.Log = progress.NewPrinter(out), log
	return opts, nil
}

// options are the run options that come from the flags alone.
func (c *config) options() runner.Options {
	a := c.guestArch()
	qemu := c.qemu
	if qemu == "" {
		qemu = a.QEMU
	}
	expect, _ := wire.ParseExpect(c.expect)         // checked by the checks group
	devices, _ := wire.ParseDevices(c.devices)      // checked by the module group
	makeArgs, _ := kernel.ParseMakeArgs(c.makeArgs) // checked by the module build group
	return runner.Options{
		Devices:      devices,
		Run:          c.run,
		Expect:       expect,
		Arch:         a,
		Accel:        c.accel,
		QEMU:         qemu,
		MemMB:        c.mem,
		SMP:          c.smp,
		Jobs:         c.makeJobs,
		Keep:         c.keep,
		BuildOnly:    c.buildOnly,
		Boot:         c.boot,
		Channel:      c.channel,
		Checks:       c.checks,
		GuestTests:   c.guestTests,
		ModuleParams: c.moduleParams,
		BuildMode:    c.buildMode,
		MakeArgs:     makeArgs,
		Coverage:     c.coverage,
		KernelArgs:   strings.Fields(c.kernelArgs),
		Settle:       c.settle,
		SettleEarly:  c.settleEarly,
		Inject:       c.inject,
		GDB:          c.gdb,
		OnCrash:      c.onCrash,
		SkipIdle:     c.skipIdle,
		Timeouts:     c.t,
	}
}

// rootDir is -root, or the rig's tree found above the working directory.
func (c *config) rootDir() (string, error) {
	if c.root != "" {
		return c.root, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRoot(wd)
}

// findRoot walks up from dir to the rig's go.mod.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/mmaprig/mmaprig\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", usageError{"cannot find the rig's source tree above " + dir + "; run from it or pass -root"}
		}
	}
}

// source is where the kernel comes from: -kernel-src, or Debian's package
// of -kernel.
func (c *config) source() (kernel.Source, error) {
	if c.kernelSrc == "" {
		if p, ok, err := kernel.ParsePrebuilt(c.kernel, c.guestArch().GOARCH); ok {
			return p, err
		}
		return kernel.DebianSource(c.kernel), nil
	}
	return kernel.ParseSource(c.kernelSrc, c.kernelSHA)
}

// openCache opens -cache, or the default cache, and returns its directory.
func (c *config) openCache(log *slog.Logger) (*cache.Cache, string, error) {
	dir := c.cacheDir
	if dir == "" {
		var err error
		if dir, err = cache.DefaultRoot(); err != nil {
			return nil, "", err
		}
	}
	cc, err := cache.Open(dir, log)
	if cache.AsHostError(err) != nil {
		return nil, "", err // it names the directory and what to do
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s; choose another with -cache or XDG_CACHE_HOME", err, dir)
	}
	return cc, dir, nil
}
