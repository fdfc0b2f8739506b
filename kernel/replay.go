package kernel

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/proc"
)

// A replay remakes what changed the way kbuild would, from the commands
// kbuild saved in the kept directory's .cmd files: it compiles each object
// that a changed file goes into (fixdep then rewrites the object's .cmd,
// as kbuild does), links the composite objects of the modules it touched,
// runs modpost, compiles the .mod.o files modpost changed and links the
// .ko files. It skips make's start-up: make's two seconds, most of them
// the compiler probes of the kernel's Makefiles. It runs only when it can
// prove that nothing else changed (plan), and make builds otherwise.

// replayPlan is what a replay remakes.
type replayPlan struct {
	// changed are the author's files that changed (or a failed replay
	// left unknown), relative to the tree's root.
	changed []string
	// objects are the compiled objects to remake, in the order of their
	// targets; cmds all the kept directory's .cmd files, by target.
	objects []*cmdFile
	cmds    map[string]*cmdFile
	// modules are the built modules, without ".ko", from modules.order.
	modules []string
}

// unreplayable are kernel options under which kbuild runs more for an
// object or a module than its saved command (symbol versions, ksym trims,
// mcount records, BTF of the modules, LTO): such a kernel builds with make.
var unreplayable = []string{"CONFIG_MODVERSIONS", "CONFIG_TRIM_UNUSED_KSYMS", "CONFIG_FTRACE_MCOUNT_USE_RECORDMCOUNT",
	"CONFIG_DEBUG_INFO_BTF_MODULES", "CONFIG_LTO_CLANG", "CONFIG_MODULE_SIG_ALL"}

// plan decides whether a replay can make the module from the kept
// directory's last build; if not, it says why make must.
func (b *moduleBuild) plan(st *keptState, id string, sums map[string]string) (*replayPlan, string) {
	switch {
	case st == nil:
		return nil, "no earlier build in the kept directory"
	case st.Identity != id:
		return nil, "make's command line, its environment or the kernel tree changed"
	case !slices.Equal(sortedKeys(st.Sources), sortedKeys(sums)):
		return nil, "a source file was added or removed"
	}
	if why := b.unreplayableConfig(); why != "" {
		return nil, why
	}
	p := &replayPlan{changed: slices.Clone(st.Dirty)}
	for f, sum := range sums {
		if st.Sources[f] != sum && !slices.Contains(p.changed, f) {
			p.changed = append(p.changed, f)
		}
	}
	slices.Sort(p.changed)
	for _, f := range p.changed {
		if filepath.Ext(f) != ".c" {
			return nil, f + " changed, and only .c files are replayed"
		}
	}
	var err error
	if p.cmds, err = readCmdFiles(b.out); err != nil {
		return nil, "kbuild's saved commands cannot be read: " + err.Error()
	}
	if why := b.planObjects(p, st.Made); why != "" {
		return nil, why
	}
	if p.modules, err = b.moduleList(); err != nil {
		return nil, "kbuild's list of modules cannot be read: " + err.Error()
	}
	need := []string{filepath.Join(b.dir, "Module.symvers")}
	for _, m := range p.modules {
		need = append(need, m+".ko", m+".mod.o")
	}
	for _, t := range need {
		if _, ok := p.cmds[t]; !ok {
			return nil, "kbuild saved no command for " + t
		}
	}
	return p, ""
}

// unreplayableConfig names a kernel option that rules a replay out.
func (b *moduleBuild) unreplayableConfig() string {
	cfg, err := os.ReadFile(filepath.Join(b.kdir, ".config"))
	if err != nil {
		return "the kernel's .config cannot be read"
	}
	for _, opt := range unreplayable {
		if bytes.Contains(cfg, []byte("\n"+opt+"=y")) {
			return "the kernel has " + opt + ", whose extra steps only make runs"
		}
	}
	return ""
}

// planObjects picks the objects a changed file goes into, and checks
// every compiled object's other inputs: each must be one of the author's
// unchanged sources, or a file of the kernel's older than the last make
// build; anything else (a generated file, a file that is gone) is make's.
func (b *moduleBuild) planObjects(p *replayPlan, made time.Time) string {
	author := map[string]bool{}
	for _, f := range p.changed {
		author[filepath.Join(b.out, f)] = true
	}
	targets := sortedKeys(p.cmds)
	used := map[string]bool{}
	for _, t := range targets {
		c := p.cmds[t]
		if c.source == "" || strings.HasSuffix(t, ".mod.o") {
			continue // not compiled, or from modpost's .mod.c: replayModules
		}
		remake := false
		for _, d := range append([]string{c.source}, c.deps...) {
			switch why := b.checkDep(d, author, made); {
			case why == "changed":
				remake, used[d] = true, true
			case why != "":
				return why
			}
		}
		for _, d := range c.optional {
			if fi, err := os.Stat(b.kernelPath(d)); err == nil && fi.ModTime().After(made) {
				return d + " is newer than the last make build"
			}
		}
		if remake {
			if c.depFile() == "" {
				return t + "'s saved command writes no dependency file"
			}
			p.objects = append(p.objects, c)
		}
	}
	for f := range author {
		if !used[f] {
			rel, _ := filepath.Rel(b.out, f)
			return rel + " is no compiled object's source"
		}
	}
	return ""
}

// checkDep says what a compiled object's input is: "changed" (one of the
// changed files), "" (unchanged), or why a replay cannot tell.
func (b *moduleBuild) checkDep(dep string, changed map[string]bool, made time.Time) string {
	path := b.kernelPath(dep)
	if changed[path] {
		return "changed"
	}
	if rel, err := filepath.Rel(b.out, path); err == nil && !strings.HasPrefix(rel, "..") {
		if _, ok := b.sourceOf(rel); !ok {
			return rel + ", an input of the build, is not one of the module's sources"
		}
		return ""
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return dep + ", an input of the build, is gone"
	case fi.ModTime().After(made):
		return dep + " is newer than the last make build"
	}
	return ""
}

// sourceOf reports whether rel, relative to the kept directory, is one of
// the author's sources there.
func (b *moduleBuild) sourceOf(rel string) (string, bool) {
	_, err := os.Stat(filepath.Join(b.spec.TreeRoot(), rel))
	return rel, err == nil && IsModuleSource(rel)
}

// kernelPath is a path of a .cmd file, which is relative to the kernel
// tree, where make runs.
func (b *moduleBuild) kernelPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(b.kdir, p)
}

// moduleList reads modules.order: the modules, without ".ko" or ".o".
func (b *moduleBuild) moduleList() ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(b.dir, "modules.order"))
	if err != nil {
		return nil, err
	}
	var mods []string
	for _, l := range strings.Fields(string(raw)) {
		m := strings.TrimSuffix(strings.TrimSuffix(l, ".ko"), ".o")
		mods = append(mods, b.kernelPath(m))
	}
	return mods, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// replayRun runs one saved command in the kernel tree, as make would, its
// output in the log and in the step's part of the kept log.
func (b *moduleBuild) replayRun(ctx context.Context, st *keptState, quiet string, c *cmdFile) error {
	cmd, err := c.command()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "  %-7s %s\n", quiet, c.target)
	// As kbuild runs it: set -e, and the target deleted when it fails
	// (.DELETE_ON_ERROR).
	run := proc.Command(ctx, 5*time.Second, "sh", "-c", "set -e; "+cmd)
	run.Dir = b.kdir
	io.WriteString(b.log, out.String())
	w := io.MultiWriter(&out, b.log)
	run.Stdout, run.Stderr = w, w
	err = run.Run()
	st.Log = replaceStep(st.Log, logStep{Target: c.target, Text: out.String()})
	if err != nil {
		os.Remove(b.kernelPath(c.target))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", quiet, err)
	}
	return nil
}

// fixdep turns a compiled object's dependency file into its .cmd file,
// as kbuild does after each compile, so the next build (a replay, or
// make) sees the files the object depends on now.
func (b *moduleBuild) fixdep(ctx context.Context, c *cmdFile) error {
	dep := c.depFile()
	var out bytes.Buffer
	run := proc.Command(ctx, 5*time.Second, filepath.Join(b.kdir, "scripts/basic/fixdep"), dep, c.target, c.saved)
	run.Dir, run.Stdout = b.kdir, &out
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Run(); err != nil {
		return fmt.Errorf("fixdep %s: %w: %s", c.target, err, stderr.String())
	}
	if !bytes.HasPrefix(out.Bytes(), []byte(c.prefix)) {
		return fmt.Errorf("fixdep %s wrote no %s line", c.target, c.prefix)
	}
	if err := os.WriteFile(c.path+".tmp", out.Bytes(), 0o644); err != nil {
		return err
	}
	os.Remove(dep)
	return os.Rename(c.path+".tmp", c.path)
}

// fileSum is a file's content, to tell whether a step changed it; nil if
// there is none.
func fileSum(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// replay remakes what the plan says, then records the build.
func (b *moduleBuild) replay(ctx context.Context, st *keptState, p *replayPlan) error {
	if len(p.changed) == 0 {
		// rig watch built these sources here already (it warms the
		// directory after a start found in the cache).
		fmt.Fprintf(b.log, "mmaprig: kbuild build in %s: the kept directory holds this build already (no make)\n", b.dir)
		b.buf.Reset()
		b.buf.WriteString(joinLog(st.Log))
		return nil
	}
	fmt.Fprintf(b.log, "mmaprig: kbuild build in %s: kbuild's saved commands replayed for %s (no make)\n", b.dir, strings.Join(p.changed, ", "))
	// Until the replay ends well, what changed stays to remake.
	st.Dirty = p.changed
	if err := st.write(b.out); err != nil {
		return err
	}
	for _, f := range p.changed {
		if err := copyFile(filepath.Join(b.spec.TreeRoot(), f), filepath.Join(b.out, f)); err != nil {
			return err
		}
	}
	remade := map[string]bool{}
	for _, c := range p.objects {
		if err := b.replayRun(ctx, st, "CC [M]", c); err != nil {
			return err
		}
		if err := b.fixdep(ctx, c); err != nil {
			return err
		}
		remade[c.target] = true
	}
	if err := b.replayModules(ctx, st, p, remade); err != nil {
		return err
	}
	for _, f := range p.changed {
		st.Sources[f], _ = hashOf(filepath.Join(b.out, f))
	}
	st.Dirty = nil
	b.buf.Reset()
	b.buf.WriteString(joinLog(st.Log))
	return st.write(b.out)
}

// replayModules links the composite objects of the modules whose objects
// were remade, runs modpost, and remakes each module's .mod.o (when
// modpost changed its .mod.c) and .ko.
func (b *moduleBuild) replayModules(ctx context.Context, st *keptState, p *replayPlan, remade map[string]bool) error {
	touched := map[string]bool{}
	modC := map[string][]byte{}
	for _, m := range p.modules {
		objs, err := b.moduleObjects(m)
		if err != nil {
			return err
		}
		for _, o := range objs {
			touched[m] = touched[m] || remade[o]
		}
		if touched[m] && !slices.Equal(objs, []string{m + ".o"}) {
			if err := b.replayStep(ctx, st, p, "LD [M]", m+".o", false); err != nil {
				return err
			}
		}
		modC[m] = fileSum(m + ".mod.c")
	}
	if err := b.replayStep(ctx, st, p, "MODPOST", filepath.Join(b.dir, "Module.symvers"), false); err != nil {
		return err
	}
	for _, m := range p.modules {
		if !bytes.Equal(modC[m], fileSum(m+".mod.c")) {
			if err := b.replayStep(ctx, st, p, "CC [M]", m+".mod.o", true); err != nil {
				return err
			}
			touched[m] = true
		}
		if touched[m] {
			if err := b.replayStep(ctx, st, p, "LD [M]", m+".ko", false); err != nil {
				return err
			}
		}
	}
	return nil
}

// replayStep runs the saved command of target, and fixdep after it for a
// compiled one.
func (b *moduleBuild) replayStep(ctx context.Context, st *keptState, p *replayPlan, quiet, target string, compiled bool) error {
	c, ok := p.cmds[target]
	if !ok {
		return fmt.Errorf("kbuild saved no command for %s", target)
	}
	if err := b.replayRun(ctx, st, quiet, c); err != nil {
		return err
	}
	if compiled && c.depFile() != "" {
		return b.fixdep(ctx, c)
	}
	return nil
}

// moduleObjects reads a module's .mod file: the objects it links.
func (b *moduleBuild) moduleObjects(m string) ([]string, error) {
	raw, err := os.ReadFile(m + ".mod")
	if err != nil {
		return nil, err
	}
	var objs []string
	for _, o := range strings.Fields(string(raw)) {
		if !filepath.IsAbs(o) {
			o = filepath.Join(filepath.Dir(m), o)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

func hashOf(path string) (string, error) { return cache.HashFile(path) }
