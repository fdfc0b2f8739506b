// Command rig proves an mmap driver works: it builds a kernel and the
// module, boots them in QEMU with a u-root initramfs, runs the checks in
// the guest, and reports a classified verdict.
//
//	go run ./rig                      # Linux 6.1, module/, bytes 0..9
//	go run ./rig -module ./mydriver   # another out-of-tree module
//
// Exit codes: 0 pass, 1 the module failed, 2 bad usage or setup, 3 no
// verdict (the kernel did not build, the guest did not boot, the channel
// broke, QEMU died).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mmaprig/mmaprig/images"
	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/lint"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func main() {
	// The rig's binary also builds the initramfs, in a child process of
	// its own that a deadline or a signal can stop.
	if code, ok := images.RunChild(os.Args[1:]); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := rig(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is bad command-line input.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type flags struct {
	kernel, kernelSrc, kernelSHA string
	config                       string
	module, device, expect       string
	accel, qemu, channel, checks string
	arch                         string
	mem, smp, jobs, makeJobs     int
	matrix, network              bool
	cell, junitOut               string
	cacheDir, artifacts, root    string
	jsonOut, kernelArgs, inject  string
	keep, verbose, buildOnly     bool
	boot, htmlOut, tools         string
	lintStyle, lintStrict        bool
	lintInTree                   bool
	guestTests                   []string
	moduleParams                 string
	coverage                     bool
	timeout, settle              time.Duration
	t                            runner.Timeouts
	// set holds the names of the flags given on the command line.
	set map[string]bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{t: runner.DefaultTimeouts, set: map[string]bool{}}
	fs := flag.NewFlagSet("rig", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.kernel, "kernel", "6.1", "kernel `version`, built from Debian's linux-source-VERSION package")
	fs.StringVar(&f.kernelSrc, "kernel-src", "", "kernel source instead: a tree, a tarball, or an http(s) URL with -kernel-sha256")
	fs.StringVar(&f.kernelSHA, "kernel-sha256", "", "sha256 of the -kernel-src URL's tarball")
	fs.StringVar(&f.config, "config", "", "extra config `fragments` over base, comma-separated: built-in names ("+strings.Join(kernel.FragmentNames(), ", ")+") or files")
	fs.StringVar(&f.kernelArgs, "kernel-args", "", "extra guest kernel command line `args`")
	fs.StringVar(&f.inject, "inject", "", "inject a host-side `fault`, for testing the rig: "+strings.Join(runner.Faults, ", "))
	fs.StringVar(&f.module, "module", "", "out-of-tree module `dir` with a Kbuild or Makefile (default: the rig's module/)")
	fs.StringVar(&f.device, "device", "/dev/mymap", "device `node` the module must create")
	fs.StringVar(&f.expect, "expect", wire.FormatBytes(wire.DefaultExpect), "`bytes` the mapped page must start with, comma-separated decimal")
	fs.StringVar(&f.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	fs.StringVar(&f.checks, "checks", runner.ChecksContract, "the built-in checks after the module loads: contract (the reader, then every contract case), reader (the ten bytes only) or none")
	fs.Func("guest-test", "the author's own guest test, run after the built-in checks; repeat for more: a Go main or test `package` (a directory, relative to -module, or an import path), or a static executable", func(v string) error {
		f.guestTests = append(f.guestTests, v)
		return nil
	})
	fs.BoolVar(&f.coverage, "coverage", false, "report the module's line coverage from the checks that ran: adds the coverage fragment (gcov), builds the module for gcov, and writes lcov.info and an HTML report")
	fs.StringVar(&f.moduleParams, "module-params", "", "the module's `parameters`, as for insmod: \"a=1 b=2\"")
	fs.StringVar(&f.channel, "channel", wire.ChannelSerial, "who runs the steps in the guest: serial (the guest init, reporting on the results port) or ssh (the rig, over SSH)")
	fs.StringVar(&f.arch, "arch", arch.Host().Name, "guest `architecture`: "+strings.Join(arch.Names(), ", ")+" (another than the host's is cross-built, and runs under TCG)")
	fs.StringVar(&f.qemu, "qemu", "", "QEMU `binary` (default: qemu-system-ARCH)")
	fs.IntVar(&f.mem, "mem", 256, "guest memory in `MiB`")
	fs.IntVar(&f.smp, "smp", 1, "guest CPUs")
	fs.IntVar(&f.makeJobs, "make-jobs", runtime.NumCPU(), "parallel make jobs in a kernel build")
	fs.IntVar(&f.jobs, "jobs", runtime.NumCPU(), "matrix cells run in parallel")
	fs.BoolVar(&f.matrix, "matrix", false, "run every available cell of kernel/matrix.json")
	fs.StringVar(&f.cell, "cell", "", "run matrix cells by `name`, comma-separated")
	fs.BoolVar(&f.network, "network", false, "also run the matrix cells that download from kernel.org")
	fs.StringVar(&f.junitOut, "junit", "", "also write JUnit XML to `file`: a suite per cell, a case per check")
	fs.StringVar(&f.cacheDir, "cache", "", "cache `dir` (default $XDG_CACHE_HOME/mmaprig)")
	fs.StringVar(&f.artifacts, "artifacts", "", "artifact `dir` for this run (default CACHE/runs/TIME)")
	fs.StringVar(&f.root, "root", "", "the rig's source tree (default: found from the working directory)")
	fs.StringVar(&f.jsonOut, "json", "", "also write the result as JSON to `file`")
	fs.StringVar(&f.htmlOut, "html", "", "also write a self-contained HTML report to `file`")
	fs.StringVar(&f.tools, "tools", "", "rig lint: the checks to run, comma-separated: "+strings.Join(lint.AllTools(), ", ")+" (default: all)")
	fs.BoolVar(&f.lintStyle, "style", false, "rig lint: also show style findings (checkpatch CHECKs, style-only Coccinelle scripts)")
	fs.BoolVar(&f.lintStrict, "strict", false, "rig lint: run checkpatch --strict (its CHECKs are style findings)")
	fs.BoolVar(&f.lintInTree, "in-tree", false, "rig lint: keep the checkpatch checks for code merged into the kernel (LINUX_VERSION_CODE, ...)")
	fs.BoolVar(&f.keep, "keep", false, "keep the run's working files (QMP and port sockets) in the artifact dir")
	fs.BoolVar(&f.verbose, "v", false, "verbose diagnostics")
	fs.BoolVar(&f.buildOnly, "build-only", false, "build the kernel, module and initramfs, then stop before booting")
	fs.StringVar(&f.boot, "boot", runner.BootAuto, "how the guest starts: auto (restore the machine's saved guest, or save one on this boot) or cold (boot, save nothing)")
	fs.DurationVar(&f.timeout, "timeout", time.Hour, "deadline for the whole run")
	fs.DurationVar(&f.settle, "settle", runner.DefaultSettle, "how long the guest keeps watching the kernel after the final unload, so that a timer or work the module left armed fails the run")
	fs.DurationVar(&f.t.Kernel, "kernel-timeout", f.t.Kernel, "deadline to fetch and build the kernel")
	fs.DurationVar(&f.t.Module, "module-timeout", f.t.Module, "deadline to build the module")
	fs.DurationVar(&f.t.Image, "initramfs-timeout", f.t.Image, "deadline to build the initramfs")
	fs.DurationVar(&f.t.Boot, "boot-timeout", f.t.Boot, "deadline from QEMU start to the guest init")
	fs.DurationVar(&f.t.Load, "load-timeout", f.t.Load, "deadline for the module's init (insmod)")
	fs.DurationVar(&f.t.Check, "check-timeout", f.t.Check, "deadline for each guest program")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, f.check()
}

// check rejects values that are wrong, and flags that would be silently
// ignored.
func (f *flags) check() error {
	for name, v := range map[string]time.Duration{
		"timeout": f.timeout, "kernel-timeout": f.t.Kernel, "module-timeout": f.t.Module,
		"initramfs-timeout": f.t.Image, "boot-timeout": f.t.Boot, "load-timeout": f.t.Load, "check-timeout": f.t.Check,
	} {
		if v <= 0 {
			return usagef("-%s %v: must be positive", name, v)
		}
	}
	if f.settle < 0 || f.settle > runner.MaxSettle {
		return usagef("-settle %v: must be from 0 to %v", f.settle, runner.MaxSettle)
	}
	if err := runner.ParseFault(f.inject); err != nil {
		return usageError{err.Error()}
	}
	if _, err := arch.Get(f.arch); err != nil {
		return usagef("-arch: %v", err)
	}
	if f.boot != runner.BootAuto && f.boot != runner.BootCold {
		return usagef("-boot %q: want auto or cold", f.boot)
	}
	if f.checks != runner.ChecksContract && f.checks != runner.ChecksReader && f.checks != runner.ChecksNone {
		return usagef("-checks %q: want contract, reader or none", f.checks)
	}
	if f.channel != wire.ChannelSerial && f.channel != wire.ChannelSSH {
		return usagef("-channel %q: want serial or ssh", f.channel)
	}
	if f.mem < 64 || f.smp < 1 || f.jobs < 1 || f.makeJobs < 1 {
		return usageError{"-mem must be at least 64, -smp, -jobs and -make-jobs at least 1"}
	}
	matrix := f.matrix || f.set["cell"]
	switch {
	case f.matrix && f.set["cell"]:
		return usageError{"-matrix runs every cell; -cell runs the ones named: give one of them"}
	case matrix && f.any("config", "kernel", "kernel-src", "kernel-sha256", "arch"):
		return usagef("-%s does not apply to matrix cells, which name their own kernel, config and arch in kernel/matrix.json", f.first("config", "kernel", "kernel-src", "kernel-sha256", "arch"))
	case !matrix && f.any("network", "jobs"):
		return usagef("-%s applies only to -matrix or -cell", f.first("network", "jobs"))
	case f.set["kernel-sha256"] && !isURL(f.kernelSrc):
		return usageError{"-kernel-sha256 pins a tarball downloaded with -kernel-src URL; without a URL it would be ignored"}
	case f.set["kernel"] && f.set["kernel-src"]:
		return usageError{"-kernel picks a Debian source package; -kernel-src names another source: give one of them"}
	}
	if f.set["cell"] {
		seen := map[string]bool{}
		for _, c := range strings.Split(f.cell, ",") {
			c = strings.TrimSpace(c)
			if seen[c] {
				return usagef("-cell %s: cell %q is named twice", f.cell, c)
			}
			seen[c] = true
		}
	}
	if f.expect != "" {
		b, err := wire.ParseBytes(f.expect)
		if err != nil {
			return usagef("-expect %q: %v", f.expect, err)
		}
		if len(b) > os.Getpagesize() {
			return usagef("-expect gives %d bytes; the mapped page holds %d", len(b), os.Getpagesize())
		}
	}
	return nil
}

func (f *flags) any(names ...string) bool { return f.first(names...) != "" }

func (f *flags) first(names ...string) string {
	for _, n := range names {
		if f.set[n] {
			return n
		}
	}
	return ""
}

// outputs are the result files the flags ask for.
func (f *flags) outputs() outputs {
	return outputs{json: f.jsonOut, junit: f.junitOut, html: f.htmlOut, summary: os.Getenv("GITHUB_STEP_SUMMARY")}
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
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

// commands are the subcommands; run is the default.
var commands = []string{"run", "exec", "shell", "watch", "lint", "key", "kdir", "srcdir"}

func rig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if !slices.Contains(commands, cmd) {
		fmt.Fprintf(stderr, "rig: unknown command %q; the commands are %s (run is the default)\n", cmd, strings.Join(commands, ", "))
		return verdict.ExitSetup
	}
	var execArgv []string
	if cmd == "exec" {
		i := slices.Index(args, "--")
		if i < 0 || i == len(args)-1 {
			fmt.Fprintln(stderr, "rig: usage: rig exec [flags] -- COMMAND [ARGS...]")
			return verdict.ExitSetup
		}
		args, execArgv = args[:i], args[i+1:]
	}
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil && (cmd == "exec" || cmd == "shell") && f.any("channel", "checks", "guest-test") {
		err = usagef("rig %s always uses the SSH channel and runs no checks; -%s would be ignored", cmd, f.first("channel", "checks", "guest-test"))
	}
	if err == nil && cmd == "watch" && f.any("matrix", "cell", "json", "html", "build-only") {
		err = usagef("rig watch runs one machine until Ctrl-C; -%s does not apply", f.first("matrix", "cell", "json", "html", "build-only"))
	}
	if err == nil && cmd != "run" && f.any("html", "junit") {
		err = usagef("-%s applies to a run or a matrix, not to rig %s", f.first("html", "junit"), cmd)
	}
	if err == nil && cmd != "lint" && f.any("tools", "style", "strict", "in-tree") {
		err = usagef("-%s applies only to rig lint", f.first("tools", "style", "strict", "in-tree"))
	}
	if err == nil && cmd == "lint" && f.any("matrix", "cell", "html", "channel", "checks") {
		err = usagef("rig lint checks one module statically; -%s does not apply", f.first("matrix", "cell", "html", "channel", "checks"))
	}
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts, err := f.options(log, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	if cmd == "exec" || cmd == "shell" {
		opts.Channel = wire.ChannelSSH
		opts.Exec, opts.Shell = execArgv, cmd == "shell"
	}
	switch cmd {
	case "watch":
		// -timeout bounds each verdict, not the session.
		return watchCommand(ctx, opts, f.timeout, stdout, stderr)
	case "shell":
		// An interactive session ends when its user says so; the
		// stages before it keep their own deadlines.
	default:
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	if f.matrix || f.cell != "" || cmd == "key" {
		return matrixCommand(ctx, cmd, f, opts, stdout, stderr)
	}
	switch cmd {
	case "srcdir":
		dir, err := runner.SourceDir(ctx, opts)
		if err != nil {
			fmt.Fprintf(stderr, "rig: unpack %s: %v\n", opts.Kernel, err)
			return verdict.ExitSetup
		}
		fmt.Fprintln(stdout, dir)
		return 0
	case "kdir":
		opts.Printer = runner.NewPrinter(stderr)
		dir, res := runner.KernelDir(ctx, opts)
		if dir == "" {
			printResult(stderr, res, opts)
			return res.Class.ExitCode()
		}
		fmt.Fprintln(stdout, dir)
		return 0
	case "lint":
		return lintCommand(ctx, f, opts, stdout, stderr)
	}
	if !prepareArtifacts(opts, stderr) {
		return verdict.ExitSetup
	}

	p := opts.Printer
	p.Printf("mmaprig: %s, config %s, module %s", opts.Kernel, strings.Join(opts.Fragments, "+"), opts.ModuleDir)
	start := time.Now()
	res := runner.Run(ctx, opts)
	out := f.outputs()
	if cmd != "run" {
		out = outputs{json: f.jsonOut}
	}
	if out != (outputs{}) {
		cells := []result.Cell{result.NewCell(runName(opts), verdict.Pass, res, time.Since(start))}
		if err := out.write(cells, stderr); err != nil {
			fmt.Fprintf(stderr, "rig: %v\n", err)
			return verdict.ExitSetup
		}
	}
	if cmd == "exec" && res.Exec != nil && (res.Class == verdict.Pass || res.Class == verdict.Contract) {
		// The command ran: print what it printed, and exit as it did.
		for _, l := range res.Output {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprint(stderr, res.Exec.Stderr)
		if res.Exec.Error != "" {
			fmt.Fprintf(stderr, "rig: %s: %s\n", strings.Join(execArgv, " "), res.Exec.Error)
		}
		if res.Exec.Signal != "" || res.Exec.Exit < 0 {
			return 128 + 9
		}
		return res.Exec.Exit
	}
	if cmd == "shell" && res.Class == verdict.Pass {
		return 0
	}
	printResult(stdout, res, opts)
	return res.Class.ExitCode()
}

func (f *flags) options(log *slog.Logger, out io.Writer) (runner.Options, error) {
	expect, err := wire.ParseBytes(f.expect)
	if err != nil {
		return runner.Options{}, usagef("-expect %q: %v", f.expect, err)
	}
	root := f.root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return runner.Options{}, err
		}
		if root, err = findRoot(wd); err != nil {
			return runner.Options{}, err
		}
	}
	mod := f.module
	if mod == "" {
		mod = filepath.Join(root, "module")
	}
	if mod, err = filepath.Abs(mod); err != nil {
		return runner.Options{}, err
	}
	a, err := arch.Get(f.arch)
	if err != nil {
		return runner.Options{}, usagef("-arch: %v", err)
	}
	frags := []string{a.Fragment}
	for _, c := range strings.Split(f.config, ",") {
		if c = strings.TrimSpace(c); c != "" && c != a.Fragment {
			frags = append(frags, c)
		}
	}
	if f.coverage && !slices.Contains(frags, "coverage") {
		frags = append(frags, "coverage")
	}
	qemu := f.qemu
	if qemu == "" {
		qemu = a.QEMU
	}
	if _, err := kernel.LoadFragments(frags...); err != nil {
		return runner.Options{}, usageError{"-config: " + err.Error()}
	}
	var src kernel.Source
	if f.kernelSrc != "" {
		if src, err = kernel.ParseSource(f.kernelSrc, f.kernelSHA); err != nil {
			return runner.Options{}, err
		}
	} else {
		if !regexp.MustCompile(`^\d+\.\d+$`).MatchString(f.kernel) {
			return runner.Options{}, usagef("-kernel %q: want a version like 6.1 or 6.12", f.kernel)
		}
		src = kernel.DebianSource(f.kernel)
	}
	cacheDir := f.cacheDir
	if cacheDir == "" {
		if cacheDir, err = cache.DefaultRoot(); err != nil {
			return runner.Options{}, err
		}
	}
	c, err := cache.Open(cacheDir, log)
	if cache.AsHostError(err) != nil {
		return runner.Options{}, err // it names the directory and what to do
	}
	if err != nil {
		return runner.Options{}, fmt.Errorf("%w: %s; choose another with -cache or XDG_CACHE_HOME", err, cacheDir)
	}
	art := f.artifacts
	if art == "" {
		art = filepath.Join(cacheDir, "runs", time.Now().Format("20060102-150405")+"-"+strconv.Itoa(os.Getpid()))
	}
	if art, err = filepath.Abs(art); err != nil {
		return runner.Options{}, err
	}
	return runner.Options{
		Root:         root,
		ModuleDir:    mod,
		Device:       f.device,
		Expect:       expect,
		Kernel:       src,
		Arch:         a,
		Fragments:    frags,
		Cache:        c,
		ArtifactDir:  art,
		Accel:        f.accel,
		QEMU:         qemu,
		MemMB:        f.mem,
		SMP:          f.smp,
		Jobs:         f.makeJobs,
		Keep:         f.keep,
		BuildOnly:    f.buildOnly,
		Boot:         f.boot,
		Channel:      f.channel,
		Checks:       f.checks,
		GuestTests:   f.guestTests,
		ModuleParams: f.moduleParams,
		Coverage:     f.coverage,
		KernelArgs:   strings.Fields(f.kernelArgs),
		Settle:       f.settle,
		Inject:       f.inject,
		Timeouts:     f.t,
		Printer:      runner.NewPrinter(out),
		Log:          log,
	}, nil
}
