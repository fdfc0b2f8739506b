package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
)

// A kept build directory (ModuleSpec.Work, rig watch's) holds a module's
// last good kbuild build, and a record of it (keptState). The next build
// of the module either replays kbuild's saved commands for what changed
// (replay.go), which costs what the compiler costs, or runs make afresh in
// the emptied directory, as a build without a kept directory does. The
// built directory is then copied to the cache entry: the .ko files are
// the same wherever they were built (their debug info names fixed roots).

// keptFile is the record of the kept directory's last good build.
const keptFile = ".mmaprig-kept.json"

// keptState is what a replay checks before it trusts the kept directory.
type keptState struct {
	// Identity hashes the make command line, the environment and the
	// kernel tree (TreeHash) of the build: any change is a make build.
	Identity string `json:"identity"`
	// Sources are the author's files at the last good build, relative
	// to the tree's root, and their sha256.
	Sources map[string]string `json:"sources"`
	// Dirty are sources a replay was remaking when it failed or stopped:
	// their objects are remade whatever their content.
	Dirty []string `json:"dirty,omitempty"`
	// Made is when the last make build started: a file of the kernel's
	// that an object depends on and that is newer is a make build.
	Made time.Time `json:"made"`
	// Log is that build's output, by kbuild step, with the replays'
	// output in place of the steps they remade: its warnings are those
	// of a build from scratch.
	Log []logStep `json:"log"`
}

// logStep is one step's part of a kbuild log: from its quiet line
// ("  CC [M]  /path/x.o") to the next; Target is empty for make's lines
// before the first.
type logStep struct {
	Target string `json:"target"`
	Text   string `json:"text"`
}

// quietRE matches kbuild's line for a step it runs, "  CC [M]  path".
var quietRE = regexp.MustCompile(`^  [A-Z][A-Z0-9_]*(?: \[M\])?\s+(\S+)$`)

// splitLog splits a kbuild log at its quiet lines.
func splitLog(log string) []logStep {
	steps := []logStep{{}}
	for _, line := range strings.SplitAfter(log, "\n") {
		if line == "" {
			continue
		}
		if m := quietRE.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
			steps = append(steps, logStep{Target: m[1]})
		}
		steps[len(steps)-1].Text += line
	}
	return steps
}

// joinLog is a log's text, whole.
func joinLog(steps []logStep) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.Text)
	}
	return b.String()
}

// replaceStep puts a step's new output in the log, where the step was,
// or at the end.
func replaceStep(steps []logStep, s logStep) []logStep {
	for i := range steps {
		if steps[i].Target == s.Target {
			steps[i] = s
			return steps
		}
	}
	return append(steps, s)
}

func readKept(dir string) *keptState {
	b, err := os.ReadFile(filepath.Join(dir, keptFile))
	if err != nil {
		return nil
	}
	var st keptState
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	return &st
}

func (st *keptState) write(dir string) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, keptFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, keptFile))
}

// identity hashes what, besides the sources, decides kbuild's commands:
// make's command line (the kernel tree, the module directory, W=1, the
// flags and the author's variables), the environment make runs in, and
// the kernel tree's configuration, symbols and release.
func (b *moduleBuild) identity() (string, error) {
	tree, err := TreeHash(b.kdir)
	if err != nil {
		return "", err
	}
	env := slices.Clone(os.Environ())
	sort.Strings(env)
	return cache.Key("kept;v1", strings.Join(b.kbuildArgs(), "\x00"), strings.Join(env, "\x00"), tree), nil
}

// kbuildArgs are make's arguments for a kbuild build.
func (b *moduleBuild) kbuildArgs() []string {
	return append(append([]string{"-C", b.kdir, "M=" + b.dir}, b.vars()...), "modules")
}

// sourceHashes hashes the author's files, by path relative to the root.
func sourceHashes(root string) (map[string]string, error) {
	files, err := sourceFiles(root)
	if err != nil {
		return nil, fmt.Errorf("read module sources: %w", err)
	}
	sums := make(map[string]string, len(files))
	for _, f := range files {
		if sums[f], err = cache.HashFile(filepath.Join(root, f)); err != nil {
			return nil, err
		}
	}
	return sums, nil
}

// buildKept builds spec in its kept directory, by replay when it can and
// by make when not, and copies the build to out.
func buildKept(ctx context.Context, a arch.Arch, kdir string, spec ModuleSpec, out string, log io.Writer) (ModuleResult, error) {
	work := spec.Work
	if err := os.MkdirAll(work, 0o755); err != nil {
		return ModuleResult{}, err
	}
	b := &moduleBuild{a: a, kdir: kdir, spec: spec, out: work, rel: spec.Rel(), dir: filepath.Join(work, spec.Rel()), buf: &bytes.Buffer{}}
	b.log = io.MultiWriter(b.buf, log)
	id, err := b.identity()
	if err != nil {
		return ModuleResult{}, err
	}
	sums, err := sourceHashes(spec.TreeRoot())
	if err != nil {
		return ModuleResult{}, err
	}
	st := readKept(work)
	p, why := b.plan(st, id, sums)
	if p != nil {
		err = b.replay(ctx, st, p)
	} else {
		fmt.Fprintf(b.log, "mmaprig: make builds the module: %s\n", why)
		err = b.fresh(ctx, id, sums)
	}
	res, err := b.result(ctx, err)
	if err != nil {
		return res, err
	}
	if err := copyBuilt(work, out); err != nil {
		return ModuleResult{}, err
	}
	j, _ := json.Marshal(res)
	return res, os.WriteFile(filepath.Join(out, builtFile), j, 0o644)
}

// fresh empties the kept directory, copies the sources into it, runs make
// there, and records the build.
func (b *moduleBuild) fresh(ctx context.Context, id string, sums map[string]string) error {
	if err := emptyDir(b.out); err != nil {
		return err
	}
	if err := CopyModuleSources(b.spec.TreeRoot(), b.out); err != nil {
		return err
	}
	made := time.Now()
	b.buf.Reset()
	if err := b.run(ctx); err != nil {
		return err
	}
	st := &keptState{Identity: id, Sources: sums, Made: made, Log: splitLog(b.buf.String())}
	return st.write(b.out)
}

// result reads the build's outcome from its log, as BuildModule does.
func (b *moduleBuild) result(ctx context.Context, err error) (ModuleResult, error) {
	switch {
	case err != nil && ctx.Err() != nil:
		return ModuleResult{}, ctx.Err()
	case err != nil:
		if he := cache.BuildHostFault(b.out, b.buf.String(), err); he != nil {
			return ModuleResult{}, he
		}
		return ModuleResult{}, &ModuleBuildError{Errors: b.readLog().errors(maxErrors), Err: err}
	}
	res := ModuleResult{Mode: b.spec.Mode, Warnings: b.readLog().warnings(),
		DebugRoot: ModuleDebugRoot, KernelDebugRoot: KernelDebugRoot, Rel: b.spec.Rel()}
	res.Kos, err = b.modules()
	return res, err
}

// emptyDir removes everything in dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyBuilt copies the kept directory's files, but its record, to out.
func copyBuilt(work, out string) error {
	return filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), keptFile) {
			return err
		}
		rel, _ := filepath.Rel(work, p)
		return copyFile(p, filepath.Join(out, rel))
	})
}
