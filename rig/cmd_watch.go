package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// settle is how long rig watch waits after a change for the editor to
// finish writing (an editor saves in several steps).
const settle = 150 * time.Millisecond

func watchCmd() command {
	return command{
		name:     "watch",
		synopsis: "[flags]",
		summary:  "boot once, then judge the module on every save, until Ctrl-C",
		about:    "Prepares the kernel and the initramfs once, then builds and judges the module at start and whenever one of its sources is saved, a compact block per verdict. -timeout bounds the preparation and each verdict; -json is rewritten after each verdict with that verdict's one cell, named by what changed.",
		groups:   append(machineGroups(), deadlineFlags(), checkFlags(), programFlags(), jsonFlags()),
		run: func(ctx context.Context, e env) int {
			return watchCommand(ctx, e.opts, e.cfg.timeout, outputs{json: e.cfg.jsonOut}, e.stdout, e.stderr)
		},
	}
}

// watchCommand prepares the machine once, then tests the module at start
// and on every save, printing one compact block per verdict. It returns
// when ctx ends (Ctrl-C), with nothing left running. The preparation and
// each verdict have timeout (-timeout) each. After each verdict, out (the
// -json document) holds that verdict alone.
// watchedTree is what a change in rebuilds: the module root, which the
// build copies with the module (its ../include), or the module.
func watchedTree(opts runner.Options) string {
	if opts.ModuleRoot != "" {
		return opts.ModuleRoot
	}
	return opts.ModuleDir
}

func watchCommand(ctx context.Context, opts runner.Options, timeout time.Duration, out outputs, stdout, stderr io.Writer) int {
	p := opts.Printer
	p.Printf("mmaprig watch: %s, config %s, module %s", opts.Kernel, strings.Join(opts.Fragments, "+"), opts.ModuleDir)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	prep, res := runner.Prepare(pctx, opts)
	cancel()
	if prep == nil {
		printResult(stdout, res, opts)
		return res.Class.ExitCode()
	}
	tree := watchedTree(opts)
	w, err := newTreeWatcher(tree)
	if err != nil {
		fmt.Fprintf(stderr, "rig: watch %s: %v\n", tree, err)
		return verdict.ExitSetup
	}
	defer w.Close()
	// One build directory for the session: a save remakes only what
	// changed, without make when only .c files did.
	work, err := os.MkdirTemp("", "mmaprig-watch-build-")
	if err != nil {
		fmt.Fprintf(stderr, "rig: watch: %v\n", err)
		return verdict.ExitSetup
	}
	defer os.RemoveAll(work)
	opts.ModuleWork, opts.CaseDone = work, func(c wire.Case) { printCase(stdout, c) }
	verdictOnce := watchVerdict(ctx, prep, opts, timeout, out, stdout, stderr)
	verdictOnce("start")
	p.Printf("watching %s for changes; Ctrl-C stops", tree)
	// A start found in the cache left the build directory empty: build
	// there now, so the first save replays. A failure only costs that.
	if err := prep.WarmModuleWork(ctx, opts); err != nil && ctx.Err() == nil {
		opts.Log.Debug("warm the build directory", "err", err)
	}
	for {
		changed, err := nextChange(ctx, w, tree)
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintf(stderr, "rig: watch %s: %v\n", tree, err)
			return verdict.ExitSetup
		}
		verdictOnce(changed)
	}
}

// watchVerdict returns what judges the module once, named why, and
// prints the block.
func watchVerdict(ctx context.Context, prep *runner.Prepared, opts runner.Options, timeout time.Duration, out outputs, stdout, stderr io.Writer) func(why string) {
	runs := filepath.Dir(opts.ArtifactDir)
	return func(why string) {
		o := opts
		o.ArtifactDir = filepath.Join(runs, time.Now().Format("20060102-150405.000")+"-"+strconv.Itoa(os.Getpid()))
		o.Printer = progress.NewPrinter(io.Discard)
		start := time.Now()
		vctx, cancel := context.WithTimeout(ctx, timeout)
		res := prep.Run(vctx, o)
		cancel()
		if ctx.Err() != nil {
			return
		}
		took := time.Since(start)
		// The document first: a reader that waits for the block finds
		// the verdict it announces.
		if err := out.write([]result.Cell{result.NewCell(why, verdict.Pass, res, took)}, stderr); err != nil {
			fmt.Fprintf(stderr, "rig: warning: %v\n", err)
		}
		printBlock(stdout, why, res, took, o)
	}
}

// newTreeWatcher watches dir and its subdirectories, but hidden ones.
func newTreeWatcher(dir string) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := watchTree(w, dir); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// watchTree watches dir and its subdirectories, but hidden ones.
func watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return w.Add(p)
	})
}

// nextChange waits for a change to one of the module's sources, then for
// the writes to settle, and returns the changed files' names.
func nextChange(ctx context.Context, w *fsnotify.Watcher, dir string) (string, error) {
	var names []string
	var quiet <-chan time.Time
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return "", fmt.Errorf("the watcher stopped")
			}
			if !kernel.IsModuleSource(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					watchTree(w, ev.Name)
				}
			}
			rel, _ := filepath.Rel(dir, ev.Name)
			if !slices.Contains(names, rel) {
				names = append(names, rel)
			}
			quiet = time.After(settle)
		case err, ok := <-w.Errors:
			if !ok {
				return "", fmt.Errorf("the watcher stopped")
			}
			return "", err
		case <-quiet:
			// An editor (or sed) writes a temporary file and renames it:
			// name the files that are there now, or else what changed.
			var present []string
			for _, n := range names {
				if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
					present = append(present, n)
				}
			}
			if len(present) == 0 {
				present = names
			}
			return strings.Join(present, ", "), nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// printCase prints a contract case as soon as its result comes, so that
// the first failure shows before the verdict, which waits for the whole
// plan.
func printCase(w io.Writer, c wire.Case) {
	label := map[wire.CaseResult]string{wire.Pass: "ok", wire.Fail: "FAIL", wire.Skip: "skip"}[c.Result]
	fmt.Fprintf(w, "    %-4s %s\n", label, c.Name)
}

// printBlock prints one verdict of rig watch: a line with the time, what
// changed, the verdict and how long it took; for a failure its title, the
// failing cases, an excerpt, and the artifacts.
func printBlock(w io.Writer, why string, res result.Run, took time.Duration, opts runner.Options) {
	var stages []string
	for _, s := range res.Stages {
		if s.Stage == "module" || s.Stage == "boot" {
			stages = append(stages, s.Stage+" "+progress.FormatDuration(s.Time.D()))
		}
	}
	head := fmt.Sprintf("%s  %s  ", time.Now().Format("15:04:05"), why)
	if res.Class == verdict.Pass {
		what := passSummary(res, opts)
		fmt.Fprintf(w, "%sPASS in %s (%s): %s\n", head, progress.FormatDuration(took), strings.Join(stages, ", "), what)
		return
	}
	fmt.Fprintf(w, "%sFAIL [%s] in %s: %s\n", head, res.Class, progress.FormatDuration(took), res.Verdict())
	for _, c := range res.Cases {
		if c.Result == string(wire.Fail) {
			fmt.Fprintf(w, "    FAIL %s\n", c.Name)
			for _, d := range c.Diagnostics {
				fmt.Fprintf(w, "        %s\n", d)
			}
		}
	}
	if ex := res.Excerpt; ex != "" {
		lines := strings.Split(ex, "\n")
		if len(lines) > 15 {
			lines = append(lines[:15], fmt.Sprintf("... (%d more lines in the artifacts)", len(lines)-15))
		}
		for _, l := range lines {
			fmt.Fprintf(w, "    | %s\n", l)
		}
	}
	fmt.Fprintf(w, "    artifacts: %s\n", res.ArtifactDir)
}
