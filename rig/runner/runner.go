// Package runner runs one cell of the rig: it builds (or reuses) the
// kernel, the module and the initramfs, boots the guest, watches it, and
// returns a classified verdict.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/guest/ktap"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// Timeouts are the deadlines of the stages.
type Timeouts struct {
	Kernel time.Duration // fetch, configure and build the kernel
	Module time.Duration // build the module
	Image  time.Duration // build the initramfs
	Boot   time.Duration // from QEMU start to the guest init's first marker
	Load   time.Duration // insmod, in the guest
	Check  time.Duration // each guest program
}

// DefaultTimeouts suit a 2-core machine without KVM.
var DefaultTimeouts = Timeouts{
	Kernel: 45 * time.Minute,
	Module: 2 * time.Minute,
	Image:  10 * time.Minute,
	Boot:   60 * time.Second,
	Load:   20 * time.Second,
	Check:  60 * time.Second,
}

// Options configure a run.
type Options struct {
	// Root is the rig's source tree: guest programs and the default module.
	Root string
	// ModuleDir is the out-of-tree module to test.
	ModuleDir string
	// Device is the node the module must create.
	Device string
	// Expect are the bytes the reader must see at the start of the page.
	Expect []byte
	// Kernel is the source: a Debian package, a tree, a tarball or a URL.
	Kernel kernel.Source
	// Prebuilt, if set, replaces Kernel: a distribution kernel and its
	// headers, which the rig does not build.
	Prebuilt *kernel.DebianPrebuilt
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
	// Channel is protocol.ChannelSerial or protocol.ChannelSSH.
	Channel string
	// Exec, if set, runs this command in the guest after the module
	// loaded, instead of the reader; its result is the run's output.
	Exec []string
	// Shell opens an interactive guest shell after the module loaded
	// (SSH channel only).
	Shell bool
	// ReaderOnly skips the contract checks after the reader.
	ReaderOnly bool
	// KernelArgs are appended to the guest kernel command line.
	KernelArgs []string
	// Inject is a host-side fault, one of Faults, for testing the rig.
	Inject   string
	Timeouts Timeouts
	Printer  *Printer
	Log      *slog.Logger
}

// Result is a finished run.
type Result struct {
	Class Class
	// Err is nil when Class is Pass.
	Err *Error
	// Output is what the reader (or -exec command) printed.
	Output []string
	// Exec is how the Exec command ended, if one ran.
	Exec *ExecResult
	// Cases are the contract checks' results, in order.
	Cases []ktap.Case
	// ContractTime is how long the contract program ran in the guest.
	ContractTime time.Duration
	Stages       []StageTime
	Accel        vm.Accel
	Kernel       string
	ArtifactDir  string
	// BootToInit is from QEMU start to the guest init's first marker.
	BootToInit time.Duration
	// BootToReady is from QEMU start to the guest's SSH server listening
	// (SSH channel only).
	BootToReady time.Duration
	// BootToVerdict is from QEMU start to the verdict.
	BootToVerdict time.Duration
}

type run struct {
	opts    Options
	res     *Result
	work    string // temporary working directory
	kdir    string // built kernel tree, or headers: what modules build against
	bootImg string // the kernel to boot
	kkey    string
	frags   []kernel.Fragment
	ko      string
	initrd  string
	modWarn []string
	keys    *channel.Keys
}

// ExecResult is how an Exec command ended in the guest.
type ExecResult struct {
	Exit   int
	Err    string
	Stderr string
}

// Run executes a cell. It never leaves QEMU or a build running, nor a
// partial cache entry, even when ctx is cancelled.
func Run(ctx context.Context, opts Options) Result {
	res := Result{ArtifactDir: opts.ArtifactDir}
	if opts.Prebuilt != nil {
		res.Kernel = opts.Prebuilt.String()
	} else {
		res.Kernel = opts.Kernel.String()
	}
	r := &run{opts: opts, res: &res}
	err := r.do(ctx)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = classifyCtx(ctx, err)
		}
		res.Class, res.Err = e.Class, e
	} else {
		res.Class = Pass
	}
	switch {
	case r.work == "":
	case !opts.Keep:
		os.RemoveAll(r.work) // the initramfs with this run's SSH keys, the QMP socket
	default:
		if err := os.Rename(r.work, filepath.Join(opts.ArtifactDir, "work")); err != nil {
			opts.Log.Warn("-keep: the working files stay where they are", "dir", r.work, "err", err)
		}
	}
	return res
}

func classifyCtx(ctx context.Context, err error) *Error {
	if ctx.Err() != nil {
		return fail(Infra, err, "interrupted")
	}
	return fail(Infra, err, "internal error")
}

func (r *run) do(ctx context.Context) error {
	if err := os.MkdirAll(r.opts.ArtifactDir, 0o755); err != nil {
		return fail(Setup, err, "create the artifact directory")
	}
	work, err := os.MkdirTemp("", "mmaprig-")
	if err != nil {
		return fail(Infra, err, "create a working directory")
	}
	r.work = work
	r.opts.Log.Debug("working directory", "dir", work)
	for _, step := range []struct {
		name string
		dl   time.Duration
		fn   func(context.Context, *Stage) (string, bool, error)
	}{
		{"setup", time.Minute, r.setup},
		{"kernel", r.opts.Timeouts.Kernel, r.kernel},
		{"module", r.opts.Timeouts.Module, r.module},
		{"initramfs", r.opts.Timeouts.Image, r.image},
		{"boot", 0, r.boot},
	} {
		if step.name == "boot" && r.opts.BuildOnly {
			break
		}
		st := r.opts.Printer.Start(step.name)
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if step.dl > 0 {
			sctx, cancel = context.WithTimeout(ctx, step.dl)
		}
		summary, cached, err := step.fn(sctx, st)
		timedOut := sctx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err != nil {
			st.Done("FAILED")
			if timedOut {
				return fail(stageClass(step.name), err, "the %s stage passed its deadline of %v (change it with -%s-timeout)", step.name, step.dl, step.name)
			}
			return err
		}
		d := st.Done(summary)
		r.res.Stages = append(r.res.Stages, StageTime{Stage: step.name, Duration: d, Cached: cached})
	}
	return nil
}

func stageClass(stage string) Class {
	switch stage {
	case "kernel":
		return KernelBuild
	case "module":
		return ModuleBuild
	case "setup":
		return Setup
	default:
		return Infra
	}
}

// setup checks the tools the run needs and picks the accelerator.
func (r *run) setup(ctx context.Context, _ *Stage) (string, bool, error) {
	if err := kernel.CheckModuleDir(r.opts.ModuleDir); err != nil {
		return "", false, fail(Setup, err, "-module %s: give a directory with the module's Kbuild or Makefile", r.opts.ModuleDir)
	}
	for _, tool := range []string{r.opts.QEMU, "make", "gcc", "flex", "bison", "bc", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", false, fail(Setup, err, "%s is not installed; run `make deps`", tool)
		}
	}
	acc, err := vm.RealHost.DetectAccel(r.opts.Accel)
	if err != nil {
		return "", false, fail(Setup, err, "bad -accel")
	}
	r.res.Accel = acc
	return "accel " + acc.String(), false, nil
}

// kernel fetches, configures and builds the kernel, or finds it cached.
func (r *run) kernel(ctx context.Context, st *Stage) (string, bool, error) {
	frags, err := kernel.LoadFragments(r.opts.Fragments...)
	if err != nil {
		return "", false, fail(Setup, err, "bad -config")
	}
	r.frags = frags
	if r.opts.Prebuilt != nil {
		return r.prebuilt(ctx)
	}
	src := r.opts.Kernel
	srcID, err := src.ID(ctx, r.opts.Cache)
	if err != nil {
		return "", false, r.sourceErr(err)
	}
	r.kkey = kernel.Key(ctx, srcID, frags)
	logPath := filepath.Join(r.opts.ArtifactDir, "kernel-build.log")
	var built bool
	r.kdir, _, err = r.opts.Cache.Get(ctx, "kernel", r.kkey, func(ctx context.Context, out string) error {
		built = true
		return r.buildKernel(ctx, st, src, srcID, frags, out, logPath)
	})
	if err != nil {
		return "", false, err
	}
	if lt, ok := src.(kernel.LocalTree); ok && !built {
		// A local tree changes under the same key: let make bring the
		// cached build up to date.
		st.Progress(0, "make in "+lt.Dir)
		err := r.opts.Cache.Update(ctx, "kernel", r.kkey, func(ctx context.Context, out string) error {
			return r.compile(ctx, st, lt.Dir, out, frags, logPath)
		})
		if err != nil {
			return "", false, err
		}
		built = true
	}
	r.bootImg = filepath.Join(r.kdir, kernel.Image)
	copyFile(filepath.Join(r.kdir, ".config"), filepath.Join(r.opts.ArtifactDir, "kernel.config"))
	rel, _ := kernel.Release(r.kdir)
	if built {
		return fmt.Sprintf("built %s (%s)", rel, src), false, nil
	}
	return fmt.Sprintf("cached %s (%s)", rel, r.kkey[:12]), true, nil
}

// prebuilt fetches a distribution kernel and its headers.
func (r *run) prebuilt(ctx context.Context) (string, bool, error) {
	p, err := r.opts.Prebuilt.Fetch(ctx, r.opts.Cache)
	if err != nil {
		return "", false, r.sourceErr(err)
	}
	r.kdir, r.bootImg = p.Headers, p.Image
	r.res.Kernel = "Debian prebuilt " + p.Release
	r.kkey = p.Key
	copyFile(p.Config, filepath.Join(r.opts.ArtifactDir, "kernel.config"))
	return fmt.Sprintf("Debian %s, prebuilt (modules build against its headers)", p.Release), false, nil
}

func (r *run) sourceErr(err error) error {
	if errors.Is(err, kernel.ErrBadSource) {
		return fail(Setup, err, "the kernel source cannot be used")
	}
	return fail(Setup, err, "resolve the kernel source")
}

func (r *run) buildKernel(ctx context.Context, st *Stage, src kernel.Source, srcID string, frags []kernel.Fragment, out, logPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	srcDir := ""
	if lt, ok := src.(kernel.LocalTree); ok {
		srcDir = lt.Dir
	} else {
		st.Progress(0, "unpacking "+src.String())
		srcDir, _, err = r.opts.Cache.Get(ctx, "src", cache.Key(srcID), func(ctx context.Context, dir string) error {
			return src.Unpack(ctx, r.opts.Cache, dir)
		})
		if err != nil {
			return r.sourceErr(err)
		}
	}
	opts := r.buildOptions(st, frags, logf)
	st.Progress(0, "configuring")
	if err := kernel.Configure(ctx, srcDir, out, opts); err != nil {
		var ms *kernel.MissingSymbolsError
		if errors.As(err, &ms) {
			return fail(Setup, err, "the config fragments ask for symbols this kernel does not have; fix the fragment")
		}
		return fail(KernelBuild, err, "configure the kernel; see %s", logPath)
	}
	logf.Close()
	return r.compile(ctx, st, srcDir, out, frags, logPath)
}

func (r *run) buildOptions(st *Stage, frags []kernel.Fragment, log io.Writer) kernel.BuildOptions {
	return kernel.BuildOptions{
		Fragments:      frags,
		Jobs:           r.opts.Jobs,
		Log:            log,
		EstimatedSteps: r.estimatedSteps(),
		Progress: func(p kernel.Progress) {
			st.Progress(p.Percent(), fmt.Sprintf("building (%d/~%d steps)", p.Done, p.Total))
		},
	}
}

// compile runs make in the configured build directory out, appending to
// the build log.
func (r *run) compile(ctx context.Context, st *Stage, srcDir, out string, frags []kernel.Fragment, logPath string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	steps, err := kernel.Compile(ctx, srcDir, out, r.buildOptions(st, frags, logf))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Class: KernelBuild, Msg: "the kernel did not build; see " + logPath, Err: err, Excerpt: tailFile(logPath, 20)}
	}
	if steps > 100 { // a no-op incremental make says little about a build
		r.saveSteps(steps)
	}
	return nil
}

// estimatedSteps is the step count of the last kernel build, for progress.
func (r *run) estimatedSteps() int {
	b, err := os.ReadFile(filepath.Join(r.opts.Cache.Root(), "kernel-steps"))
	if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
		return n
	}
	return 1800
}

func (r *run) saveSteps(n int) {
	p := filepath.Join(r.opts.Cache.Root(), "kernel-steps")
	os.WriteFile(p+".tmp", []byte(strconv.Itoa(n)), 0o644)
	os.Rename(p+".tmp", p)
}

// module builds the module against the kernel tree, or finds it cached.
func (r *run) module(ctx context.Context, _ *Stage) (string, bool, error) {
	key, err := kernel.ModuleKey(r.kkey, r.opts.ModuleDir)
	if err != nil {
		return "", false, fail(Setup, err, "read -module %s", r.opts.ModuleDir)
	}
	logPath := filepath.Join(r.opts.ArtifactDir, "module-build.log")
	var res kernel.ModuleResult
	dir, hit, err := r.opts.Cache.Get(ctx, "module", key, func(ctx context.Context, out string) error {
		logf, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer logf.Close()
		res, err = kernel.BuildModule(ctx, r.kdir, r.opts.ModuleDir, out, logf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &Error{Class: ModuleBuild, Msg: "the module did not compile; see " + logPath, Err: err}
		}
		return os.WriteFile(filepath.Join(out, "warnings.txt"), []byte(strings.Join(res.Warnings, "\n")), 0o644)
	})
	if err != nil {
		return "", false, err
	}
	kos, _ := filepath.Glob(filepath.Join(dir, "*.ko"))
	if len(kos) != 1 {
		return "", false, fail(Infra, nil, "module cache entry %s holds %d .ko files", dir, len(kos))
	}
	r.ko = kos[0]
	copyFile(r.ko, filepath.Join(r.opts.ArtifactDir, filepath.Base(r.ko)))
	warn, _ := os.ReadFile(filepath.Join(dir, "warnings.txt"))
	if w := strings.TrimSpace(string(warn)); w != "" {
		r.modWarn = strings.Split(w, "\n")
		for _, l := range r.modWarn {
			r.opts.Printer.Printf("    %s", l)
		}
	}
	how := "built"
	if hit {
		how = "cached"
	}
	return fmt.Sprintf("%s %s, %d warning(s) with W=1", how, filepath.Base(r.ko), len(r.modWarn)), hit, nil
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

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// SourceDir returns the unpacked source tree of opts.Kernel, fetching and
// unpacking it into the cache if needed. Tools such as checkpatch.pl come
// from there.
func SourceDir(ctx context.Context, opts Options) (string, error) {
	if lt, ok := opts.Kernel.(kernel.LocalTree); ok {
		return lt.Dir, nil
	}
	id, err := opts.Kernel.ID(ctx, opts.Cache)
	if err != nil {
		return "", err
	}
	dir, _, err := opts.Cache.Get(ctx, "src", cache.Key(id), func(ctx context.Context, dir string) error {
		return opts.Kernel.Unpack(ctx, opts.Cache, dir)
	})
	return dir, err
}

// KernelKey is the cache key of the kernel the options name: what a CI
// cache of the rig's kernel builds should be keyed on.
func KernelKey(ctx context.Context, opts Options) (string, error) {
	if opts.Prebuilt != nil {
		return opts.Prebuilt.Key(ctx)
	}
	frags, err := kernel.LoadFragments(opts.Fragments...)
	if err != nil {
		return "", err
	}
	id, err := opts.Kernel.ID(ctx, opts.Cache)
	if err != nil {
		return "", err
	}
	return kernel.Key(ctx, id, frags), nil
}
