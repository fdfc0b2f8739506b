// Package runner runs one cell of the rig: it builds (or reuses) the
// kernel, the module and the initramfs, boots the guest, drives it, and
// returns a classified verdict. The verdict itself is decided by
// rig/verdict's engine; the runner's drivers feed it.
package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/coverage"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// Timeouts are the deadlines of the stages.
type Timeouts struct {
	Kernel time.Duration // fetch, configure and build the kernel
	Module time.Duration // build the module
	Image  time.Duration // build the initramfs
	Boot   time.Duration // from QEMU start to the guest init's boot event
	Load   time.Duration // insmod, in the guest
	Check  time.Duration // each guest program
}

// The built-in checks -checks chooses.
const (
	ChecksContract = "contract"
	ChecksReader   = "reader"
	ChecksNone     = "none"
)

// DefaultTimeouts suit a 2-core machine without KVM.
var DefaultTimeouts = Timeouts{
	Kernel: 45 * time.Minute,
	Module: 2 * time.Minute,
	Image:  10 * time.Minute,
	Boot:   60 * time.Second,
	Load:   20 * time.Second,
	Check:  60 * time.Second,
}

// DefaultSettle is the settle window after the final unload. A timer or
// delayed work that the module leaves armed at unload, due within about a
// second, fires inside it and fails the run; one that lies in the module's
// own memory is reported at the unload itself (ODEBUG, in the base
// kernel). The guest sleeps on the kernel's timer wheel, so a timer due
// inside the window runs before it ends however late the host runs the
// guest; only the wheel's granularity (32 ms for a 1 s timer at HZ=250,
// 80 ms at HZ=100) needs a margin. Measured on 2 loaded TCG cores, a leaked
// 1 s timer was caught in 4 of 4 runs with a 1.0 s window and 6 of 6 with
// 1.05 s and 1.1 s, and a 1 s delayed work in 6 of 6 with 1.05 s. (With
// an hrtimer sleep, before, it took 1.3 s to catch 8 of 8.)
const DefaultSettle = 1100 * time.Millisecond

// MaxSettle bounds -settle.
const MaxSettle = time.Minute

// Options configure a run.
type Options struct {
	// Root is the rig's source tree: guest programs and the default module.
	Root string
	// ModuleDir is the out-of-tree module to test.
	ModuleDir string
	// ModuleRoot, when set, is a directory above ModuleDir that the build
	// copies with it, so that the module's "../include" resolves.
	ModuleRoot string
	// BuildMode is how the module builds: one of kernel.BuildModes.
	BuildMode string
	// MakeArgs are more make variables for the module's build, VAR=value.
	MakeArgs []string
	// Devices are the run's device nodes; the built-in checks use the
	// first, and the guest tests get them all.
	Devices []wire.Device
	// Run, when set, selects the contract's cases and the Go guest tests
	// whose names it matches, as go test -run does.
	Run string
	// Expect are the bytes the reader must see at the start of the page.
	Expect []byte
	// Kernel is where the kernel comes from.
	Kernel kernel.Source
	// Arch is the guest's architecture.
	Arch arch.Arch
	// Fragments are the config fragments, by name.
	Fragments []string
	Cache     *cache.Cache
	// ArtifactDir receives the logs; it is kept.
	ArtifactDir string
	// Accel is "auto", "kvm" or "tcg".
	Accel string
	QEMU  string
	MemMB int
	SMP   int
	// Jobs is make's parallelism.
	Jobs int
	// Keep leaves the run's working files in ArtifactDir/work.
	Keep bool
	// BuildOnly stops before the boot stage.
	BuildOnly bool
	// Boot is BootAuto (restore a saved guest, or save one) or BootCold.
	Boot string
	// Channel is wire.ChannelSerial or wire.ChannelSSH.
	Channel string
	// Exec, if set, runs this command in the guest after the module
	// loaded, instead of the checks; its result is the run's output.
	Exec []string
	// Shell opens an interactive guest shell after the module loaded
	// (SSH channel only).
	Shell bool
	// Checks are the built-in checks: ChecksContract (the reader, then the
	// contract), ChecksReader or ChecksNone.
	Checks string
	// GuestTests are the author's own guest tests (see rig/guesttest),
	// run in order after the built-in checks.
	GuestTests []string
	// ModuleParams are the module's parameters, as for insmod.
	ModuleParams string
	// Coverage builds the module for gcov, collects its data after the
	// unload, and reports the line coverage (the kernel must have the
	// coverage fragment).
	Coverage bool
	// KernelArgs are appended to the guest kernel command line.
	KernelArgs []string
	// Settle is how long the guest keeps watching the kernel after the
	// final unload, before it ends the run; the CLI's default is
	// DefaultSettle, and zero keeps the final checks without the wait.
	Settle time.Duration
	// SettleEarly lets the guest end the settle window early when the
	// kernel's event tracing shows that the module never armed anything to
	// run later.
	SettleEarly bool
	// GDB has QEMU's gdbstub listen, and stops the guest after insmod
	// until gdb let it run on.
	GDB bool
	// OnCrash is what a kernel report does: OnCrashPowerOff (or "") or
	// OnCrashPause.
	OnCrash string
	// SkipIdle lets a TCG guest's clock jump over its idle time
	// (vm.Config.SkipIdle) where the run allows it (skipIdle).
	SkipIdle bool
	// ModuleWork, when set, is a kept build directory for the module
	// (rig watch keeps one per session): kbuild remakes only what
	// changed there, by replaying its saved commands when only the
	// author's .c files did (kernel.ModuleSpec.Work).
	ModuleWork string
	// CaseDone, when set, hears each contract case as its result line
	// arrives, before the verdict (rig watch prints it at once). It runs
	// on the driver's loop, so it must not block.
	CaseDone func(wire.Case)
	// Inject is a host-side fault, one of Faults, for testing the rig.
	Inject   string
	Timeouts Timeouts
	Printer  *progress.Printer
	Log      *slog.Logger
}

// Device is the device the built-in checks use: the first of Devices, or
// the default node when there are none.
func (o Options) Device() wire.Device {
	if len(o.Devices) == 0 {
		return wire.Device{Path: wire.DefaultDevice}
	}
	return o.Devices[0]
}

// machine is what the runs of one kernel, config and guest share.
type machine struct {
	accel  vm.Accel
	frags  []kernel.Fragment
	kernel *kernel.Kernel
	initrd string
}

type run struct {
	opts Options
	res  *result.Run
	work *workDir
	machine
	// kos are the module's .ko files in load order; the last, ko, is the
	// module under test.
	kos  []string
	ko   string
	keys *channel.Keys
	// tests are the author's guest tests, built.
	tests []builtTest
	// moduleBuild is the module's build directory (objects, gcov notes).
	moduleBuild string
	// early is a guest being restored while the module builds.
	early *earlyVM
	// restoreFailed is why a saved guest did not come back, before a
	// cold boot.
	restoreFailed string
	// warnings are the stages' warnings, by stage.
	warnings map[string][]string
	// vms starts QEMU and tells the driver the time.
	vms vmHost
	// gdbScripts is the kernel's vmlinux-gdb.py, for a debugged run of a
	// kernel that has them.
	gdbScripts string
}

// stage is one timed stage of a run.
type stage struct {
	name string
	dl   time.Duration
	fn   func(context.Context, *progress.Stage) (string, bool, error)
}

// Run executes a cell. It never leaves QEMU or a build running, nor a
// partial cache entry, even when ctx is cancelled.
func Run(ctx context.Context, opts Options) result.Run {
	p, res := Prepare(ctx, opts)
	if p == nil {
		return res
	}
	return p.Run(ctx, opts)
}

// Prepared is a machine ready to test modules on: the accelerator, the
// kernel and the initramfs are found or built. rig watch prepares once and
// runs on every save.
type Prepared struct {
	machine
	stages []result.Stage
}

// KernelDir is the built kernel tree modules build against (KDIR).
func (p *Prepared) KernelDir() string { return p.kernel.BuildDir }

// KernelDir builds or finds the kernel opts name, and returns the tree
// modules build against (KDIR). On failure it returns "" and the failed
// result.
func KernelDir(ctx context.Context, opts Options) (string, result.Run) {
	r := newRun(opts)
	r.finish(ctx, r.stages(ctx, []stage{
		{"setup", time.Minute, r.setup},
		{"kernel", r.opts.Timeouts.Kernel, r.prepareKernel},
	}))
	if r.res.Class != verdict.Pass {
		return "", *r.res
	}
	return r.kernel.BuildDir, *r.res
}

// Prepare runs the stages a module does not change: setup, kernel and
// initramfs. On failure it returns nil and the failed result.
func Prepare(ctx context.Context, opts Options) (*Prepared, result.Run) {
	r := newRun(opts)
	r.finish(ctx, r.stages(ctx, []stage{
		{"setup", time.Minute, r.setup},
		{"kernel", r.opts.Timeouts.Kernel, r.prepareKernel},
		{"initramfs", r.opts.Timeouts.Image, r.image},
	}))
	if r.res.Class != verdict.Pass {
		return nil, *r.res
	}
	return &Prepared{machine: r.machine, stages: r.res.Stages}, *r.res
}

// Run builds opts.ModuleDir against the prepared kernel and tests it: the
// module and boot stages, with opts' artifact directory.
func (p *Prepared) Run(ctx context.Context, opts Options) result.Run {
	r := newRun(opts)
	r.machine = p.machine
	r.setAccel(p.accel)
	r.res.Stages = append([]result.Stage(nil), p.stages...)
	stages := []stage{{"module", r.opts.Timeouts.Module, func(sctx context.Context, st *progress.Stage) (string, bool, error) {
		if !opts.BuildOnly {
			// The module goes to the guest over the results port, so
			// the guest can come back from its snapshot meanwhile.
			r.startRestore(ctx)
			r.prepareGDBScripts(sctx)
		}
		return r.module(sctx, st)
	}}}
	if len(opts.GuestTests) > 0 {
		stages = append(stages, stage{"tests", r.opts.Timeouts.Module, r.buildTests})
	}
	if !opts.BuildOnly {
		stages = append(stages, stage{"boot", 0, r.boot})
	}
	r.finish(ctx, r.stages(ctx, stages))
	return *r.res
}

func newRun(opts Options) *run {
	return &run{opts: opts, res: &result.Run{ArtifactDir: opts.ArtifactDir, Kernel: opts.Kernel.String(), Arch: opts.Arch.Uname,
		ConsoleLog: filepath.Join(opts.ArtifactDir, layout.ConsoleLog), Stages: []result.Stage{}, Output: []string{}, Run: opts.Run},
		vms: realVMHost()}
}

// setOrigin records which kernel the run uses, how it got it, and the
// kernel stage's time.
func (r *run) setOrigin() {
	k := r.kernel
	r.res.Kernel = r.opts.Kernel.String()
	o := &result.Origin{Source: r.res.Kernel, Kind: k.Origin.Kind, Commit: k.Origin.Commit, Release: k.Release, Key: k.Key,
		Fragments: r.opts.Fragments, Built: k.Fresh, How: result.How(k.Origin.Kind, k.Fresh)}
	for _, s := range r.res.Stages {
		if s.Stage == "kernel" {
			o.Time = s.Time
		}
	}
	o.Summary = o.String()
	r.res.Origin = o
}

// setAccel records the accelerator the guest runs with.
func (r *run) setAccel(acc vm.Accel) {
	r.accel, r.res.Accel, r.res.AccelReason = acc, acc.Name, acc.Reason
}

// finish classifies the stages' error and removes (or, with Keep, keeps)
// the working directory.
func (r *run) finish(ctx context.Context, err error) {
	if err != nil {
		var e *Error
		if he := cache.AsHostError(err); he != nil {
			// A full disk or a read-only cache is the host's, whichever
			// stage met it.
			e = &Error{Class: verdict.Setup, Title: he.Title(), Msg: he.Title() + ": " + he.Error(), Err: he.Err}
		} else if !errors.As(err, &e) {
			e = classifyCtx(ctx, err)
		}
		r.res.Class, r.res.Message, r.res.Excerpt = e.Class, e.Msg, e.Excerpt
		r.res.Build = append(r.res.Build, e.Build...)
		if e.Err != nil {
			r.res.Cause = e.Err.Error()
		}
		if r.res.Title == "" {
			r.res.Title = e.Title
		}
	} else {
		r.res.Class = verdict.Pass
	}
	if r.kernel != nil {
		r.setOrigin() // now that the kernel stage's time is known
	}
	r.res.ExitCode = r.res.Class.ExitCode()
	r.early.stop()
	if r.work != nil {
		if err := r.work.finish(r.opts.Keep, filepath.Join(r.opts.ArtifactDir, layout.WorkDir)); err != nil {
			r.opts.Log.Warn("-keep: the working files stay where they are", "dir", r.work.dir, "err", err)
		}
		r.work = nil
	}
}

func classifyCtx(ctx context.Context, err error) *Error {
	if ctx.Err() != nil {
		return fail(verdict.Infra, err, "interrupted")
	}
	return fail(verdict.Infra, err, "internal error")
}

// stages runs stages in order, each with its deadline, printing and
// recording its time.
func (r *run) stages(ctx context.Context, stages []stage) error {
	if err := os.MkdirAll(r.opts.ArtifactDir, 0o755); err != nil {
		return fail(verdict.Setup, err, "create the artifact directory")
	}
	work, err := newWorkDir()
	if err != nil {
		return fail(verdict.Infra, err, "create a working directory")
	}
	r.work = work
	r.opts.Log.Debug("working directory", "dir", work.dir)
	for _, step := range stages {
		st := r.opts.Printer.Start(step.name)
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if step.dl > 0 {
			sctx, cancel = context.WithTimeout(ctx, step.dl)
		}
		summary, cached, err := step.fn(sctx, st)
		timedOut := sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err != nil {
			label := "FAILED"
			if summary != "" {
				label += " (" + summary + ")"
			}
			d := st.Done(label)
			r.res.Stages = append(r.res.Stages, result.Stage{Stage: step.name, Time: result.Seconds(d), Failed: true, Summary: summary})
			if timedOut {
				return fail(stageClass(step.name), err, "the %s stage passed its deadline of %v (change it with -%s-timeout)", step.name, step.dl, step.name)
			}
			return err
		}
		d := st.Done(summary)
		r.res.Stages = append(r.res.Stages, result.Stage{Stage: step.name, Time: result.Seconds(d), Cached: cached, Summary: summary,
			Warnings: r.warnings[step.name]})
	}
	return nil
}

func stageClass(stage string) verdict.Class {
	switch stage {
	case "kernel":
		return verdict.KernelBuild
	case "module":
		return verdict.ModuleBuild
	case "setup":
		return verdict.Setup
	default:
		return verdict.Infra
	}
}

// setup checks the tools the run needs and picks the accelerator.
func (r *run) setup(ctx context.Context, _ *progress.Stage) (string, bool, error) {
	if _, _, err := r.moduleSpec(); err != nil {
		return "", false, err
	}
	for _, tool := range []string{r.opts.QEMU, "make", r.opts.Arch.CC(), "flex", "bison", "bc", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", false, fail(verdict.Setup, err, "%s is not installed; run `make deps`", tool)
		}
	}
	frags, err := kernel.LoadFragments(r.opts.Fragments...)
	if err != nil {
		return "", false, fail(verdict.Setup, err, "bad -config")
	}
	r.frags = frags
	if r.opts.Coverage {
		if err := coverage.CheckGcov(ctx, r.opts.Arch.CC()); err != nil {
			return "", false, fail(verdict.Setup, err, "-coverage")
		}
	}
	tests, err := ResolveTests(ctx, r.opts)
	if err != nil {
		return "", false, fail(verdict.Setup, err, "-guest-test")
	}
	if err := CheckRun(r.opts, tests); err != nil {
		return "", false, &Error{Class: verdict.Setup, Title: "-run matched no case", Msg: err.Error()}
	}
	acc, err := vm.RealHost.DetectAccel(r.opts.Accel, r.opts.Arch)
	if err != nil {
		return "", false, fail(verdict.Setup, err, "bad -accel")
	}
	r.setAccel(acc)
	return "accel " + acc.String(), false, nil
}

func (r *run) kernelEnv(st *progress.Stage) *kernel.Env {
	env := &kernel.Env{
		Arch:      r.opts.Arch,
		Cache:     r.opts.Cache,
		Fragments: r.frags,
		Jobs:      r.opts.Jobs,
		LogPath:   filepath.Join(r.opts.ArtifactDir, layout.KernelLog),
		Log:       r.opts.Log,
	}
	if st != nil {
		env.Progress = st.Progress
	}
	return env
}

// prepareKernel builds or fetches the kernel, or finds it cached.
func (r *run) prepareKernel(ctx context.Context, st *progress.Stage) (string, bool, error) {
	k, err := r.opts.Kernel.Prepare(ctx, r.kernelEnv(st))
	if err != nil {
		return "", false, kernelErr(ctx, err)
	}
	r.kernel = k
	copyFile(k.Config, filepath.Join(r.opts.ArtifactDir, layout.KernelConfig))
	return k.Summary, !k.Fresh, nil
}

// kernelErr classifies a kernel stage's error.
func kernelErr(ctx context.Context, err error) error {
	var ms *kernel.MissingSymbolsError
	var be *kernel.BuildError
	switch {
	case ctx.Err() != nil:
		return err
	case errors.Is(err, kernel.ErrBadSource):
		return fail(verdict.Setup, err, "the kernel source cannot be used")
	case errors.As(err, &ms):
		return fail(verdict.Setup, err, "the config fragments ask for symbols this kernel does not have; fix the fragment")
	case errors.As(err, &be):
		return &Error{Class: verdict.KernelBuild, Title: "the kernel did not build", Msg: "the kernel did not build; see " + be.Log,
			Err: be.Err, Excerpt: tail.File(be.Log, 20)}
	default:
		return fail(verdict.Setup, err, "prepare the kernel")
	}
}

// printWarnings prints the module's build warnings, kept in its cache
// entry dir, records them for the module stage, and returns how many
// there are (without their context lines).
func (r *run) printWarnings(dir, shown string) int {
	w, _ := os.ReadFile(filepath.Join(dir, "warnings.txt"))
	if len(strings.TrimSpace(string(w))) == 0 {
		return 0
	}
	n := 0
	raw := strings.Split(strings.TrimSpace(string(w)), "\n")
	r.res.Build = append(r.res.Build, buildDiagnostics(raw, r.opts.ModuleDir)...)
	lines := inDir(shown, raw)
	r.warnings = map[string][]string{"module": lines}
	for _, l := range lines {
		r.opts.Printer.Printf("    %s", l)
		if !strings.HasPrefix(l, " ") {
			n++
		}
	}
	return n
}

// buildDiagnostics are the located messages among a module build's
// lines, which name the author's files relative to dir.
func buildDiagnostics(lines []string, dir string) []result.Diagnostic {
	var out []result.Diagnostic
	for _, d := range kernel.Diagnostics(lines, dir) {
		out = append(out, result.Diagnostic{Severity: d.Severity, Tool: d.Tool, File: d.File, Line: d.Line, Column: d.Col, Message: d.Message})
	}
	return out
}

// displayDir is how diagnostics name the module directory: relative to the
// working directory when it is below it, as the user would type it, so
// that editors and CI annotations find the files.
func displayDir(dir string) string {
	wd, err := os.Getwd()
	if err != nil {
		return dir
	}
	if rel, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return dir
}

// diagPathRE matches a relative path that starts a diagnostic, "file.c:12:".
var diagPathRE = regexp.MustCompile(`^([^/ :][^ :]*):\d+:`)

// inDir puts dir in front of the paths of compiler diagnostics, which are
// relative to the module directory; the context lines under them stay.
func inDir(dir string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if m := diagPathRE.FindStringSubmatch(l); m != nil {
			l = filepath.Join(dir, m[1]) + l[len(m[1]):]
		}
		out[i] = l
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SourceDir returns the unpacked source tree of opts.Kernel, fetching and
// unpacking it into the cache if needed. Tools such as checkpatch.pl come
// from there.
func SourceDir(ctx context.Context, opts Options) (string, error) {
	frags, err := kernel.LoadFragments(opts.Fragments...)
	if err != nil {
		return "", err
	}
	return opts.Kernel.SourceDir(ctx, &kernel.Env{Arch: opts.Arch, Cache: opts.Cache, Fragments: frags, Log: opts.Log})
}

// KernelKey is the cache key of the kernel the options name: what a CI
// cache of the rig's kernel builds should be keyed on.
func KernelKey(ctx context.Context, opts Options) (string, error) {
	frags, err := kernel.LoadFragments(opts.Fragments...)
	if err != nil {
		return "", err
	}
	return opts.Kernel.Key(ctx, &kernel.Env{Arch: opts.Arch, Cache: opts.Cache, Fragments: frags, Log: opts.Log})
}
