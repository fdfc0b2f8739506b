package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/dkms"
	"github.com/mmaprig/mmaprig/internal/proc"
)

// ModuleResult is a built module directory.
type ModuleResult struct {
	// Mode is the build mode that ran.
	Mode string `json:"mode"`
	// Kos are the .ko files the build made, relative to its output
	// directory, sorted (a dkms.conf's in its order).
	Kos []string `json:"modules"`
	// Warnings are the compiler's warnings (W=1), with the source line
	// and caret, then modpost's, such as a section mismatch; the author's
	// files are named relative to the module directory.
	Warnings []string `json:"-"`
	// DebugRoot is where the modules' debug info puts the copied tree
	// (ModuleDebugRoot), and KernelDebugRoot where it puts the kernel's
	// source and build trees, whose headers the module includes: a
	// debugger maps them back (the author's TreeRoot, the kernel tree).
	DebugRoot       string `json:"debug_root,omitempty"`
	KernelDebugRoot string `json:"kernel_debug_root,omitempty"`
	// Rel is the module directory relative to the tree's root, "" when
	// they are the same.
	Rel string `json:"rel,omitempty"`
}

// The fixed roots that a module's debug info names its sources under,
// whatever the cache directory the build ran in: the module's .ko files
// are the same wherever they were built, and a symbolizer or debugger
// maps the roots back.
const (
	ModuleDebugRoot = "/mmaprig-src"
	KernelDebugRoot = "/mmaprig-kernel"
)

// builtFile records a build's ModuleResult in its output directory; a
// hidden name is never one of the author's sources.
const builtFile = ".mmaprig-build.json"

// ReadBuilt reads the ModuleResult a build recorded in dir.
func ReadBuilt(dir string) (ModuleResult, error) {
	var res ModuleResult
	b, err := os.ReadFile(filepath.Join(dir, builtFile))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("%s: %w", filepath.Join(dir, builtFile), err)
	}
	return res, nil
}

// moduleBuild is one build of a module tree.
type moduleBuild struct {
	a          arch.Arch
	kdir, rel  string
	spec       ModuleSpec
	out, dir   string // the copy of the tree, and of the module directory
	log        io.Writer
	buf        *bytes.Buffer
	aliases    map[string]string
	expect     []string // the .ko files a dkms.conf promises
	dkmsLayout string   // dkms's directories, removed after the build
}

// BuildModule copies the module's tree (spec.TreeRoot) to out and builds
// the module directory in the copy as spec.Mode says, with W=1, for the
// architecture against the kernel tree kdir; with coverage, instrumented
// for gcov, the profile naming the author's files, not the copy's. The
// author's directories are never written to.
func BuildModule(ctx context.Context, a arch.Arch, kdir string, spec ModuleSpec, out string, log io.Writer) (ModuleResult, error) {
	if spec.Work != "" && spec.Mode == BuildKbuild && !spec.Coverage {
		return buildKept(ctx, a, kdir, spec, out, log)
	}
	if err := CopyModuleSources(spec.TreeRoot(), out); err != nil {
		if he := cache.AsHostError(err); he != nil {
			he.Path = filepath.Dir(out) // out goes when the build fails
			return ModuleResult{}, he
		}
		return ModuleResult{}, err
	}
	b := &moduleBuild{a: a, kdir: kdir, spec: spec, out: out, rel: spec.Rel(), dir: filepath.Join(out, spec.Rel()), buf: &bytes.Buffer{}}
	b.log = io.MultiWriter(b.buf, log)
	defer func() {
		if b.dkmsLayout != "" {
			os.RemoveAll(b.dkmsLayout)
		}
	}()
	err := b.run(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return ModuleResult{}, ctx.Err()
	case err != nil:
		if he := cache.BuildHostFault(filepath.Dir(out), b.buf.String(), err); he != nil {
			return ModuleResult{}, he
		}
		return ModuleResult{}, &ModuleBuildError{Errors: b.readLog().errors(maxErrors), Err: err}
	}
	res := ModuleResult{Mode: spec.Mode, Warnings: b.readLog().warnings(),
		DebugRoot: ModuleDebugRoot, KernelDebugRoot: KernelDebugRoot, Rel: spec.Rel()}
	if res.Kos, err = b.modules(); err != nil {
		return ModuleResult{}, err
	}
	j, _ := json.Marshal(res)
	return res, os.WriteFile(filepath.Join(out, builtFile), j, 0o644)
}

// readLog reads the build's output, the author's files named relative
// to the module directory.
func (b *moduleBuild) readLog() buildLog {
	return readLog(b.buf.String(), logPaths{out: b.out, src: b.spec.TreeRoot(), rel: b.rel, aliases: b.aliases})
}

// run runs the build the mode says.
func (b *moduleBuild) run(ctx context.Context) error {
	switch b.spec.Mode {
	case BuildKbuild:
		return b.command(ctx, b.kdir, nil, "make", b.kbuildArgs()...)
	case BuildMake:
		release, err := Release(b.kdir)
		if err != nil {
			return err
		}
		kvars := []string{"KDIR=" + b.kdir, "KERNELDIR=" + b.kdir, "KERNEL_SRC=" + b.kdir, "KSRC=" + b.kdir, "KVER=" + release}
		return b.command(ctx, b.dir, []string{"PWD=" + b.dir}, "make", append(kvars, b.vars()...)...)
	case BuildDKMS:
		return b.dkms(ctx)
	}
	return fmt.Errorf("unknown build mode %q", b.spec.Mode)
}

// vars are the make variables of every build: W=1, the architecture's,
// coverage's, one CFLAGS_MODULE with the rig's flags and then the
// author's (from -make-args, so theirs come last and win where they
// clash), and the author's other variables. Command-line variables reach
// every sub-make, whatever the author's Makefile runs, and override what
// a Makefile assigns: so the rig's flags go in CFLAGS_MODULE, kbuild's
// variable for module-only flags, which drivers leave alone, and never in
// KCFLAGS, which a driver's Makefile or environment may set itself.
func (b *moduleBuild) vars() []string {
	vars := append([]string{"W=1"}, b.a.MakeArgs()...)
	if b.spec.Coverage {
		vars = append(vars, "GCOV_PROFILE=y")
	}
	flags := b.cflags()
	for _, v := range b.spec.MakeArgs {
		if val, ok := strings.CutPrefix(v, rigFlagsVar+"="); ok {
			flags = append(flags, val)
			continue
		}
		vars = append(vars, v)
	}
	return append(vars, rigFlagsVar+"="+strings.Join(flags, " "))
}

// rigFlagsVar is the make variable that carries the rig's compiler flags
// for the module's objects (scripts/Makefile.lib adds it to every object
// that is part of a module).
const rigFlagsVar = "CFLAGS_MODULE"

// cflags are the rig's compiler flags: debug info (-g), its file names
// under fixed roots instead of the copy's and the kernel's directories in
// the cache; with coverage, the profile naming the author's tree instead
// of the copy.
func (b *moduleBuild) cflags() []string {
	flags := []string{"-g"}
	prefixMap := func(from, to string) {
		flags = append(flags, "-fdebug-prefix-map="+from+"="+to)
		if real, err := filepath.EvalSymlinks(from); err == nil && real != from {
			flags = append(flags, "-fdebug-prefix-map="+real+"="+to)
		}
	}
	prefixMap(b.kdir, KernelDebugRoot)
	if src, err := filepath.EvalSymlinks(filepath.Join(b.kdir, "source")); err == nil {
		prefixMap(src, KernelDebugRoot)
	}
	prefixMap(b.out, ModuleDebugRoot)
	links := slices.Sorted(maps.Keys(b.aliases))
	for _, link := range links {
		// dkms's links to the module directory, which its build runs in.
		prefixMap(link, filepath.Join(ModuleDebugRoot, b.rel))
	}
	if b.spec.Coverage {
		flags = append(flags, "-fprofile-prefix-map="+b.out+"="+b.spec.TreeRoot())
	}
	return flags
}

// command runs a build command in dir, with env on top of the rig's
// environment, its output in the log; the log says what ran first.
func (b *moduleBuild) command(ctx context.Context, dir string, env []string, name string, args ...string) error {
	fmt.Fprintf(b.log, "mmaprig: %s build in %s: %s %s\n", b.spec.Mode, dir, name, strings.Join(args, " "))
	cmd := proc.Command(ctx, 5*time.Second, name, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// dkms builds as dkms build does: it reads the dkms.conf with dkms's
// variables, lays out dkms's directories (the build directory and the
// sources' are links to the copy), and runs the build command with a
// shell in the build directory. The rig's variables reach make through
// MAKEFLAGS, as command-line variables, whatever the command runs.
func (b *moduleBuild) dkms(ctx context.Context) error {
	release, err := Release(b.kdir)
	if err != nil {
		return err
	}
	if b.dkmsLayout, err = os.MkdirTemp("", "mmaprig-dkms-"); err != nil {
		return err
	}
	env := dkms.Env{KernelVer: release, Arch: b.a.Uname, KernelSourceDir: b.kdir,
		DKMSTree: filepath.Join(b.dkmsLayout, "tree"), SourceTree: filepath.Join(b.dkmsLayout, "src")}
	conf, err := dkms.ReadFile(ctx, filepath.Join(b.dir, dkms.FileName), env)
	if err != nil {
		return err
	}
	b.aliases = map[string]string{}
	for _, link := range []string{conf.BuildDir(env), conf.SourceDir(env), filepath.Dir(conf.BuildDir(env)) + "/source"} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(b.dir, link); err != nil {
			return err
		}
		b.aliases[link] = b.dir
	}
	for _, m := range conf.Modules {
		b.expect = append(b.expect, filepath.Join(b.rel, m.Path()))
	}
	vars := b.vars()
	flags := make([]string, len(vars))
	for i, v := range vars {
		flags[i] = strings.ReplaceAll(v, " ", `\ `)
	}
	return b.command(ctx, conf.BuildDir(env), []string{"PWD=" + conf.BuildDir(env), "MAKEFLAGS=" + strings.Join(flags, " ")},
		"bash", "-c", conf.BuildCommand(env))
}

// modules are the .ko files the build made, relative to out: those a
// dkms.conf names, or every one under the module directory.
func (b *moduleBuild) modules() ([]string, error) {
	found, err := b.find(".ko")
	if err != nil {
		return nil, err
	}
	if b.expect != nil {
		for _, k := range b.expect {
			if _, err := os.Stat(filepath.Join(b.out, k)); err != nil {
				return nil, fmt.Errorf("%w: the build succeeded, but made no %s, which dkms.conf names (BUILT_MODULE_LOCATION and BUILT_MODULE_NAME); it made: %s",
					ErrModuleBuild, k, orNone(found))
			}
		}
		return b.expect, nil
	}
	if len(found) == 0 {
		return nil, b.noModules()
	}
	return found, nil
}

// find lists the files under the module directory with the suffix,
// relative to out, sorted.
func (b *moduleBuild) find(suffix string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			rel, _ := filepath.Rel(b.out, p)
			found = append(found, rel)
		}
		return err
	})
	sort.Strings(found)
	return found, err
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// NoModulesError is a build that succeeded and made no .ko file: what it
// made instead, and the lines that were to name the modules.
type NoModulesError struct {
	Mode string
	// Objects are the object files the build made, relative to the
	// module directory.
	Objects []string
	// ObjM are the author's obj-m lines, "Makefile:3: obj-m += $(OBJS)".
	ObjM []string
}

func (e *NoModulesError) Error() string {
	msg := fmt.Sprintf("built 0 modules: the %s build succeeded and made no .ko file; it built %s", e.Mode, orNone(e.Objects))
	if len(e.ObjM) == 0 {
		return msg + "; no Kbuild or Makefile of the module sets obj-m"
	}
	return msg + "; kbuild's list of modules (obj-m) came out empty from " + strings.Join(e.ObjM, "; ") +
		" (is a variable there empty or misspelt?)"
}

func (e *NoModulesError) Unwrap() error { return ErrModuleBuild }

// noModules says what a build that made no module made instead.
func (b *moduleBuild) noModules() error {
	e := &NoModulesError{Mode: b.spec.Mode}
	objs, _ := b.find(".o")
	for _, o := range objs {
		if rel, err := filepath.Rel(b.rel, o); err == nil && !strings.HasSuffix(o, ".mod.o") {
			e.Objects = append(e.Objects, rel)
		}
	}
	for _, f := range []string{"Kbuild", "Makefile"} {
		src, err := os.ReadFile(filepath.Join(b.dir, f))
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(src), "\n") {
			if objMRE.MatchString(line) {
				e.ObjM = append(e.ObjM, fmt.Sprintf("%s:%d: %s", f, i+1, strings.TrimSpace(line)))
			}
		}
	}
	return e
}

// objMRE matches a line that adds to obj-m.
var objMRE = regexp.MustCompile(`^\s*obj-(m|\$\([A-Za-z0-9_]+\))\s*[:+?]?=`)
