package main

import (
	"flag"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/lint"
	"github.com/mmaprig/mmaprig/rig/runner"
)

// config is what a command line asks for: parsed and checked, with no I/O.
// Every field holds its default even when the command has no such flag
// (see newConfig), so that a command reads a value without asking whether
// it could be set.
type config struct {
	cmd *command

	cacheDir, artifacts, root string
	verbose                   bool
	timeout                   time.Duration

	kernel, kernelSrc, kernelSHA string
	fragments, arch              string
	makeJobs                     int

	module, moduleParams            string
	buildMode, makeArgs, moduleRoot string
	// devices are -device's specs, in order (see wire.Device).
	devices []string

	accel, qemu, kernelArgs, boot, inject string
	mem, smp                              int
	keep, skipIdle                        bool
	gdb                                   bool
	onCrash                               string

	checks, channel, expect, run string
	guestTests                   []string
	coverage                     bool
	settle                       time.Duration
	settleEarly                  bool

	jsonOut, junitOut, htmlOut string
	buildOnly                  bool

	all     bool // -matrix
	cell    string
	jobs    int
	network bool

	tools               string
	style, strict, tree bool

	t runner.Timeouts

	// argv is the command rig exec runs, after "--".
	argv []string
	// cells are the matrix cells -cell names, or all of them; set by the
	// cells group's check.
	cells []kernel.Cell
	// set holds the names of the flags given on the command line.
	set map[string]bool
}

// flagGroup is flags that several commands share. A new flag is a field
// in config and one line in its group's define: every command with the
// group takes it, and its -h and docs/usage.md say so.
type flagGroup struct {
	name   string
	define func(fs *flag.FlagSet, c *config)
	// check rejects the group's bad values; nil when every value is good.
	check func(c *config) error
}

// hostDefaults are the defaults that depend on the machine; docs/usage.md
// says what they are rather than what they were where it was generated.
var hostDefaults = map[string]string{
	"arch":      "the host's",
	"make-jobs": "the number of CPUs",
	"jobs":      "the number of CPUs",
}

// allGroups are every flag group, in the order help and docs show them.
// A flag goes in the group of what it is about: how the guest is started
// or debugged (-gdb, -on-crash) in machineFlags, which checks run (-run
// REGEXP) in checkFlags, how the kernel is built in buildFlags, how the
// module is built (-build, -make-args) in moduleBuildFlags, which kernel
// (a kernel's name) in sourceFlags.
func allGroups() []flagGroup {
	return []flagGroup{
		commonFlags(), deadlineFlags(), sourceFlags(), configFlags(), buildFlags(),
		moduleDirFlags(), moduleBuildFlags(), moduleFlags(), machineFlags(), checkFlags(), programFlags(),
		jsonFlags(), reportFlags(), buildOnlyFlags(), cellFlags(), keyCellFlags(),
		legacyMatrixFlags(), lintFlags(),
	}
}

// newConfig is a config with every flag's default: each group defines its
// flags on a scratch FlagSet, which stores the defaults in c.
func newConfig() *config {
	c := &config{t: runner.DefaultTimeouts, set: map[string]bool{}}
	for _, g := range allGroups() {
		g.define(flag.NewFlagSet("defaults", flag.ContinueOnError), c)
	}
	return c
}

func commonFlags() flagGroup {
	return flagGroup{name: "Common", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.cacheDir, "cache", "", "cache `dir` (default $XDG_CACHE_HOME/mmaprig)")
		fs.StringVar(&c.artifacts, "artifacts", "", "artifact `dir` for this run (default CACHE/runs/TIME)")
		fs.StringVar(&c.root, "root", "", "the rig's source `tree` (default: found from the working directory)")
		fs.BoolVar(&c.verbose, "v", false, "verbose diagnostics (debug logging)")
	}}
}

func deadlineFlags() flagGroup {
	return flagGroup{name: "Deadline", define: func(fs *flag.FlagSet, c *config) {
		fs.DurationVar(&c.timeout, "timeout", time.Hour, "deadline for the whole command (rig watch: for each verdict)")
	}, check: func(c *config) error {
		return positive(deadline{"timeout", c.timeout})
	}}
}

func sourceFlags() flagGroup {
	return flagGroup{name: "Kernel source", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.kernel, "kernel", "6.1", "kernel `version`, built from Debian's linux-source-VERSION package; or debian:SERIES[-FLAVOUR] for Debian's prebuilt kernel, which needs no build (debian:6.12-cloud, debian:6.12, debian:6.1-cloud)")
		fs.StringVar(&c.kernelSrc, "kernel-src", "", "kernel `source` instead: a tree, a tarball, an http(s) URL with -kernel-sha256, or git+URL#REF (a branch or tag, built at the commit it names)")
		fs.StringVar(&c.kernelSHA, "kernel-sha256", "", "`sha256` of the -kernel-src URL's tarball")
	}, check: func(c *config) error {
		switch {
		case c.set["kernel-sha256"] && !isURL(c.kernelSrc):
			return usageError{"-kernel-sha256 pins a tarball downloaded with -kernel-src URL; without a URL it would be ignored"}
		case c.set["kernel"] && c.set["kernel-src"]:
			return usageError{"-kernel picks a Debian source package; -kernel-src names another source: give one of them"}
		case strings.HasPrefix(c.kernel, "debian:"):
			return checkPrebuilt(c)
		case c.kernelSrc == "" && !regexp.MustCompile(`^\d+\.\d+$`).MatchString(c.kernel):
			return usagef("-kernel %q: want a version like 6.1 or 6.12, or debian:6.12-cloud for Debian's prebuilt kernel", c.kernel)
		}
		return nil
	}}
}

// checkPrebuilt refuses what cannot work on a kernel the rig does not
// build: config fragments, and coverage, which needs gcov in the kernel.
func checkPrebuilt(c *config) error {
	if _, _, err := kernel.ParsePrebuilt(c.kernel, c.guestArch().GOARCH); err != nil {
		return usageError{err.Error()}
	}
	switch {
	case c.set["config"]:
		return usagef("-config %s: -kernel %s is Debian's own build, which the rig boots as it is; for config fragments, build the kernel from source (-kernel %s)",
			c.fragments, c.kernel, prebuiltSeries(c.kernel))
	case c.coverage:
		return usagef("-coverage needs a kernel with gcov (CONFIG_GCOV_KERNEL), and Debian's prebuilt kernels have none; build one from source (-kernel %s)",
			prebuiltSeries(c.kernel))
	}
	return nil
}

// prebuiltSeries is the series of a debian:SERIES-FLAVOUR -kernel value.
func prebuiltSeries(spec string) string {
	s, _, _ := strings.Cut(strings.TrimPrefix(spec, "debian:"), "-")
	return s
}

func configFlags() flagGroup {
	return flagGroup{name: "Kernel config", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.fragments, "config", "", "extra config `fragments` over base, comma-separated: built-in names ("+strings.Join(kernel.FragmentNames(), ", ")+") or files")
		fs.StringVar(&c.arch, "arch", arch.Host().Name, "guest `architecture`: "+strings.Join(arch.Names(), ", ")+" (another than the host's is cross-built, and runs under TCG)")
	}, check: func(c *config) error {
		if _, err := arch.Get(c.arch); err != nil {
			return usagef("-arch: %v", err)
		}
		return nil
	}}
}

func buildFlags() flagGroup {
	return flagGroup{name: "Kernel build", define: func(fs *flag.FlagSet, c *config) {
		fs.IntVar(&c.makeJobs, "make-jobs", runtime.NumCPU(), "parallel make jobs in a kernel build")
		fs.DurationVar(&c.t.Kernel, "kernel-timeout", runner.DefaultTimeouts.Kernel, "deadline to fetch and build the kernel")
	}, check: func(c *config) error {
		if c.makeJobs < 1 {
			return usagef("-make-jobs %d: must be at least 1", c.makeJobs)
		}
		return positive(deadline{"kernel-timeout", c.t.Kernel})
	}}
}

func moduleDirFlags() flagGroup {
	return flagGroup{name: "Module directory", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.module, "module", "", "out-of-tree module `dir` with a Kbuild, a Makefile or a dkms.conf (default: the rig's module/)")
	}}
}

func moduleBuildFlags() flagGroup {
	return flagGroup{name: "Module build", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.buildMode, "build", kernel.BuildAuto, "how the module builds: auto (dkms if the directory has a dkms.conf; kbuild if it has a Kbuild file; make if its Makefile runs make -C itself; else kbuild), "+
			"kbuild (make -C KDIR M=DIR modules), make (the directory's own Makefile, with KDIR, KERNELDIR, KERNEL_SRC, KSRC and KVER set) or dkms (dkms.conf's MAKE, as dkms build runs it)")
		fs.StringVar(&c.makeArgs, "make-args", "", "more make `variables` for the module's build, quoted as in a shell: 'VAR=value ...'")
		fs.StringVar(&c.moduleRoot, "module-root", "", "a `dir` above -module that the build copies with it (keeping the layout), so that the module's ../include resolves")
	}, check: func(c *config) error {
		if !slices.Contains(kernel.BuildModes, c.buildMode) {
			return usagef("-build %q: want %s", c.buildMode, strings.Join(kernel.BuildModes, ", "))
		}
		if _, err := kernel.ParseMakeArgs(c.makeArgs); err != nil {
			return usagef("-make-args: %v", err)
		}
		return nil
	}}
}

func moduleFlags() flagGroup {
	return flagGroup{name: "Module", define: func(fs *flag.FlagSet, c *config) {
		c.devices = []string{wire.DefaultDevice}
		fs.Var(&deviceFlag{specs: &c.devices}, "device", "a device `node` of the run; repeat for more (the first is the built-in checks', and the guest tests get all of them): "+
			"/dev/NAME, a node the module creates; /dev/NAME=c:DRIVER:MINOR, a char node the guest makes after insmod, with the major /proc/devices gives DRIVER "+
			"(for a driver that registers a major and leaves mknod to user space); /dev/NAME=existing, a node that exists before the module loads. "+
			"Any other node that exists before insmod fails the run")
		fs.StringVar(&c.moduleParams, "module-params", "", "the module's `parameters`, as for insmod: \"a=1 b=2\"")
		fs.DurationVar(&c.t.Module, "module-timeout", runner.DefaultTimeouts.Module, "deadline to build the module")
		fs.DurationVar(&c.t.Load, "load-timeout", runner.DefaultTimeouts.Load, "deadline for the module's init (insmod)")
	}, check: func(c *config) error {
		if _, err := wire.ParseDevices(c.devices); err != nil {
			return usagef("-device %v", err)
		}
		return positive(deadline{"module-timeout", c.t.Module}, deadline{"load-timeout", c.t.Load})
	}}
}

// deviceFlag is -device: repeatable, and the first use replaces the
// default rather than adding to it.
type deviceFlag struct {
	specs *[]string
	set   bool
}

func (f *deviceFlag) String() string {
	if f.specs == nil {
		return ""
	}
	return strings.Join(*f.specs, " ")
}

func (f *deviceFlag) Set(v string) error {
	if !f.set {
		*f.specs, f.set = nil, true
	}
	*f.specs = append(*f.specs, v)
	return nil
}

func machineFlags() flagGroup {
	return flagGroup{name: "Machine", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
		fs.StringVar(&c.qemu, "qemu", "", "QEMU `binary` (default: qemu-system-ARCH)")
		fs.IntVar(&c.mem, "mem", 256, "guest memory in `MiB`")
		fs.IntVar(&c.smp, "smp", 1, "guest CPUs")
		fs.StringVar(&c.kernelArgs, "kernel-args", "", "extra guest kernel command line `args`")
		fs.BoolVar(&c.skipIdle, "skip-idle", false, "under TCG, on the serial channel, with one guest CPU: let the guest's clock jump over the time its CPU idles (QEMU -icount sleep=off), "+
			"so that its sleeps (the settle window, RCU grace periods) cost no real time; the guest's bounds still end on the host's clock. "+
			"Not the default: the guest's scheduler then shares out instructions, not the host's time, so a module that floods the console or polls I/O ports starves the checks; "+
			"busy-waits (udelay, mdelay) take about five times as long in real time, and a cold boot about 1.8 times")
		fs.StringVar(&c.boot, "boot", runner.BootAuto, "how the guest starts: auto (restore the machine's saved guest, or save one on this boot) or cold (boot, save nothing)")
		fs.DurationVar(&c.t.Image, "initramfs-timeout", runner.DefaultTimeouts.Image, "deadline to build the initramfs")
		fs.DurationVar(&c.t.Boot, "boot-timeout", runner.DefaultTimeouts.Boot, "deadline from QEMU start to the guest init")
		fs.BoolVar(&c.keep, "keep", false, "keep the run's working files (QMP and port sockets) in the artifact dir")
		fs.StringVar(&c.inject, "inject", "", "inject a host-side `fault`, for testing the rig: "+strings.Join(runner.Faults, ", "))
		fs.BoolVar(&c.gdb, "gdb", false, "debug the guest with gdb: QEMU's gdbstub listens on a unix socket in the artifact dir, the guest stops after insmod, "+
			"and the rig writes a gdbinit there (the kernel, the module's sections, the socket) and prints the one command that attaches; gdb's continue lets the run go on, and only -timeout bounds it")
		fs.StringVar(&c.onCrash, "on-crash", runner.OnCrashPowerOff, "what a kernel report does to the guest: poweroff (the run ends) or pause "+
			"(the guest stays stopped at the report, for gdb to attach with the run's gdbinit, whose bt starts at the faulting frame, until Ctrl-C or -timeout)")
	}, check: checkMachine}
}

func checkMachine(c *config) error {
	switch {
	case c.accel != "auto" && c.accel != "kvm" && c.accel != "tcg":
		return usagef("-accel %q: want auto, kvm or tcg", c.accel)
	case c.mem < 64:
		return usagef("-mem %d: must be at least 64 (MiB)", c.mem)
	case c.smp < 1:
		return usagef("-smp %d: must be at least 1", c.smp)
	case c.boot != runner.BootAuto && c.boot != runner.BootCold:
		return usagef("-boot %q: want auto or cold", c.boot)
	}
	if err := runner.ParseFault(c.inject); err != nil {
		return usageError{err.Error()}
	}
	if err := checkDebug(c); err != nil {
		return err
	}
	return positive(deadline{"initramfs-timeout", c.t.Image}, deadline{"boot-timeout", c.t.Boot})
}

// checkDebug refuses -gdb and -on-crash pause where no one could attach:
// the matrix's cells run side by side, with no terminal of their own.
func checkDebug(c *config) error {
	if !slices.Contains(runner.OnCrashModes(), c.onCrash) {
		return usagef("-on-crash %q: want %s", c.onCrash, strings.Join(runner.OnCrashModes(), " or "))
	}
	flag := c.first("gdb")
	if flag == "" && c.onCrash == runner.OnCrashPause {
		flag = "on-crash pause"
	}
	if flag != "" && c.cmd != nil && (c.cmd.name == "matrix" || c.all || c.set["cell"]) {
		return usagef("-%s debugs one guest; the matrix's cells run side by side: run the cell alone, with rig run -config and -kernel", flag)
	}
	return nil
}

func checkFlags() flagGroup {
	return flagGroup{name: "Checks", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.checks, "checks", runner.ChecksContract, "the built-in checks after the module loads: contract (the reader, then every contract case), reader (the ten bytes only) or none")
		fs.StringVar(&c.expect, "expect", wire.FormatBytes(wire.DefaultExpect), "`bytes` the mapped page must start with: comma-separated decimal (0,1,2), hex after 0x (0x000102), or text in quotes, kept from the shell: 'text' as it is, \"text\" with Go's escapes (-expect \"'hello'\")")
		fs.StringVar(&c.run, "run", "", "run only the contract cases and Go guest tests whose names match `regexp`, as go test -run does; the PASS line says how many were selected")
		fs.Func("guest-test", "the author's own guest test, run after the built-in checks; repeat for more: a Go main or test `package` (a directory, relative to -module, or an import path), or a static executable", func(v string) error {
			c.guestTests = append(c.guestTests, v)
			return nil
		})
		fs.StringVar(&c.channel, "channel", wire.ChannelSerial, "who runs the steps in the guest: serial (the guest init, reporting on the results port) or ssh (the rig, over SSH)")
		fs.BoolVar(&c.coverage, "coverage", false, "report the module's line coverage from the checks that ran: adds the coverage fragment (gcov), builds the module for gcov, and writes lcov.info and an HTML report")
		fs.DurationVar(&c.settle, "settle", runner.DefaultSettle, "how long the guest keeps watching the kernel after the final unload, so that a timer or work the module left armed fails the run")
		fs.BoolVar(&c.settleEarly, "settle-early", false, "end the settle window after 100ms when the kernel's event tracing (-config tracing) shows that the module never armed a timer, hrtimer, work or RCU callback and that no task runs its code; "+
			"a speed option for the inner loop, not a check: what a module hides from the trace (a hook left with a core subsystem, a task work, a function written into an armed timer) only the whole window catches")
	}, check: checkChecks}
}

func checkChecks(c *config) error {
	switch {
	case c.checks != runner.ChecksContract && c.checks != runner.ChecksReader && c.checks != runner.ChecksNone:
		return usagef("-checks %q: want contract, reader or none", c.checks)
	case c.channel != wire.ChannelSerial && c.channel != wire.ChannelSSH:
		return usagef("-channel %q: want serial or ssh", c.channel)
	case c.settle < 0 || c.settle > runner.MaxSettle:
		return usagef("-settle %v: must be from 0 to %v", c.settle, runner.MaxSettle)
	}
	b, err := wire.ParseExpect(c.expect)
	if err != nil {
		return usagef("-expect %v", err)
	}
	// The host's page size says nothing about the guest's: a check against
	// it would refuse what a 64K guest maps, or pass what a 4K guest cannot.
	if len(b) > wire.MinPageSize {
		return usagef("-expect gives %d bytes; a page holds %d on a 4K-page kernel, the smallest a guest can have", len(b), wire.MinPageSize)
	}
	return checkRunFlag(c)
}

// checkRunFlag refuses a -run that cannot select anything. The contract's
// case names are known here; the Go guest tests' only in the guest, so
// with guest tests the run's end judges whether any case ran.
func checkRunFlag(c *config) error {
	if c.run == "" {
		return nil
	}
	if _, err := regexp.Compile(c.run); err != nil {
		return usagef("-run %q: %v", c.run, err)
	}
	switch {
	case len(c.guestTests) > 0:
		return nil
	case c.checks != runner.ChecksContract:
		return usagef("-run selects contract cases and Go guest tests; with -checks %s and no -guest-test there is nothing to select", c.checks)
	case len(runner.ContractSelected(c.run)) == 0:
		return usagef("-run %q matches no contract case; the cases are %s", c.run, strings.Join(wire.ContractCases, ", "))
	}
	return nil
}

func programFlags() flagGroup {
	return flagGroup{name: "Guest programs", define: func(fs *flag.FlagSet, c *config) {
		fs.DurationVar(&c.t.Check, "check-timeout", runner.DefaultTimeouts.Check, "deadline for each guest program")
	}, check: func(c *config) error {
		return positive(deadline{"check-timeout", c.t.Check})
	}}
}

func jsonFlags() flagGroup {
	return flagGroup{name: "JSON", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.jsonOut, "json", "", "also write the result document (JSON, schema 1: docs/result.md) to `file`")
	}}
}

func reportFlags() flagGroup {
	return flagGroup{name: "Reports", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.junitOut, "junit", "", "also write JUnit XML to `file`: a suite per cell, a case per check")
		fs.StringVar(&c.htmlOut, "html", "", "also write a self-contained HTML report to `file`")
	}}
}

func buildOnlyFlags() flagGroup {
	return flagGroup{name: "Build only", define: func(fs *flag.FlagSet, c *config) {
		fs.BoolVar(&c.buildOnly, "build-only", false, "build the kernel, module and initramfs, then stop before booting")
	}}
}

func cellFlags() flagGroup {
	return flagGroup{name: "Matrix", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.cell, "cell", "", "run matrix cells by `name`, comma-separated (default: every cell)")
		fs.IntVar(&c.jobs, "jobs", runtime.NumCPU(), "matrix cells run in parallel")
		fs.BoolVar(&c.network, "network", false, "also run the matrix cells that download from kernel.org")
	}, check: func(c *config) error {
		if c.jobs < 1 {
			return usagef("-jobs %d: must be at least 1", c.jobs)
		}
		return c.pickCells()
	}}
}

func keyCellFlags() flagGroup {
	return flagGroup{name: "Key of a cell", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.cell, "cell", "", "print the key of this matrix cell's kernel instead")
	}, check: func(c *config) error {
		if strings.Contains(c.cell, ",") {
			return usagef("-cell %s: rig key prints the key of one cell", c.cell)
		}
		return c.pickCells()
	}}
}

func legacyMatrixFlags() flagGroup {
	return flagGroup{name: "Matrix (as rig matrix)", define: func(fs *flag.FlagSet, c *config) {
		fs.BoolVar(&c.all, "matrix", false, "run every cell of kernel/matrix.json, as rig matrix does")
	}}
}

func lintFlags() flagGroup {
	return flagGroup{name: "Lint", define: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.tools, "tools", "", "the `tools` to run, comma-separated: "+strings.Join(lint.AllTools(), ", ")+" (default: all)")
		fs.BoolVar(&c.style, "style", false, "also show style findings (checkpatch CHECKs, style-only Coccinelle scripts)")
		fs.BoolVar(&c.strict, "strict", false, "run checkpatch --strict (its CHECKs are style findings)")
		fs.BoolVar(&c.tree, "in-tree", false, "keep the checkpatch checks for code merged into the kernel (LINUX_VERSION_CODE, ...)")
	}}
}

// pickCells sets c.cells: the cells -cell names, or every cell.
func (c *config) pickCells() error {
	m, err := kernel.LoadMatrix()
	if err != nil {
		return err
	}
	if !c.set["cell"] {
		c.cells = m.Cells
		return nil
	}
	seen := map[string]bool{}
	c.cells = nil
	for _, name := range strings.Split(c.cell, ",") {
		name = strings.TrimSpace(name)
		if seen[name] {
			return usagef("-cell %s: cell %q is named twice", c.cell, name)
		}
		seen[name] = true
		cell, err := m.Cell(name)
		if err != nil {
			return usagef("-cell: %v", err)
		}
		c.cells = append(c.cells, cell)
	}
	return nil
}

// deadline is a duration flag's name and value.
type deadline struct {
	name string
	v    time.Duration
}

// positive rejects the first deadline that is not.
func positive(ds ...deadline) error {
	for _, d := range ds {
		if d.v <= 0 {
			return usagef("-%s %v: must be positive", d.name, d.v)
		}
	}
	return nil
}

// first returns the first of names given on the command line, or "".
func (c *config) first(names ...string) string {
	for _, n := range names {
		if c.set[n] {
			return n
		}
	}
	return ""
}

// guestArch is the guest's architecture; checked by the config group.
func (c *config) guestArch() arch.Arch {
	a, _ := arch.Get(c.arch)
	return a
}

// fragmentList are the kernel config fragments: the architecture's base, then
// -config's, then coverage's for -coverage.
func (c *config) fragmentList() []string {
	a := c.guestArch()
	frags := []string{a.Fragment}
	for _, f := range strings.Split(c.fragments, ",") {
		if f = strings.TrimSpace(f); f != "" && f != a.Fragment {
			frags = append(frags, f)
		}
	}
	if c.coverage && !slices.Contains(frags, "coverage") {
		frags = append(frags, "coverage")
	}
	return frags
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
