package kernel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// keptBuild builds spec in its kept directory into a fresh output
// directory, and returns how (the log) and the output directory.
func keptBuild(t *testing.T, kdir string, spec ModuleSpec) (string, string, error) {
	t.Helper()
	log, out, _, err := keptBuildRes(t, kdir, spec)
	return log, out, err
}

func keptBuildRes(t *testing.T, kdir string, spec ModuleSpec) (string, string, ModuleResult, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	var log bytes.Buffer
	res, err := BuildModule(context.Background(), arch.Host(), kdir, spec, out, &log)
	return log.String(), out, res, err
}

const replayed = "kbuild's saved commands replayed for "

// A kept build directory against a real kernel tree: an edit of a .c file
// is replayed, and what the replay builds is what make builds from the
// same sources in the same place; an edit of a header, of the Kbuild file
// or of a flag builds with make; a replay that fails to compile leaves the
// file to remake, and the fix replays.
func TestKeptBuildReplayOrMake(t *testing.T) {
	kdir := kernelTree(t)
	fixtures, _ := filepath.Abs("../testdata/modules")
	tree := t.TempDir()
	for _, f := range []string{"Kbuild", "pagecore.c", "pagecore.h", "mapdev.c"} {
		b, _ := os.ReadFile(filepath.Join(fixtures, "twomod", f))
		os.WriteFile(filepath.Join(tree, f), b, 0o644)
	}
	spec := ModuleSpec{Dir: tree, Mode: BuildKbuild, Work: t.TempDir()}
	edit := func(f, text string) {
		t.Helper()
		fh, err := os.OpenFile(filepath.Join(tree, f), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteString(text)
		fh.Close()
	}
	for i, step := range []struct {
		name, file, text string
		args             []string
		want             string // in the log: the replay's line, or make's reason
		fails            bool
	}{
		{name: "first build", want: "no earlier build in the kept directory"},
		{name: "a .c edit replays", file: "mapdev.c", text: "/* edit */\n", want: replayed + "mapdev.c"},
		{name: "a header edit is make's", file: "pagecore.h", text: "/* edit */\n", want: "pagecore.h changed, and only .c files are replayed"},
		{name: "a Kbuild edit is make's", file: "Kbuild", text: "# edit\n", want: "Kbuild changed, and only .c files are replayed"},
		{name: "a flag is make's", args: []string{"KCFLAGS=-DMMAPRIG_TEST"}, want: "make's command line, its environment or the kernel tree changed"},
		{name: "the flag again, an edit replays", args: []string{"KCFLAGS=-DMMAPRIG_TEST"}, file: "pagecore.c", text: "/* edit */\n", want: replayed + "pagecore.c"},
		{name: "a broken edit fails", args: []string{"KCFLAGS=-DMMAPRIG_TEST"}, file: "pagecore.c", text: "int broken(void) { return x; }\n", want: replayed + "pagecore.c", fails: true},
		{name: "its fix replays", args: []string{"KCFLAGS=-DMMAPRIG_TEST"}, file: "pagecore.c", text: "/* fixed */\n", want: replayed + "pagecore.c"},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.name == "its fix replays" {
				src, _ := os.ReadFile(filepath.Join(tree, "pagecore.c"))
				os.WriteFile(filepath.Join(tree, "pagecore.c"), bytes.ReplaceAll(src, []byte("int broken(void) { return x; }\n"), nil), 0o644)
			}
			if step.file != "" {
				edit(step.file, step.text)
			}
			spec.MakeArgs = step.args
			log, out, err := keptBuild(t, kdir, spec)
			var be *ModuleBuildError
			switch {
			case step.fails && (!errors.As(err, &be) || len(be.Errors) == 0 || !strings.Contains(be.Errors[0], "pagecore.c:")):
				t.Errorf("step %d: %v; want the compiler's error in pagecore.c", i, err)
			case !step.fails && err != nil:
				t.Fatalf("step %d: %v\n%s", i, err, log)
			case !strings.Contains(log, step.want):
				t.Errorf("step %d: the log does not say %q:\n%s", i, step.want, log)
			case !step.fails:
				for _, ko := range []string{"mapdev.ko", "pagecore.ko"} {
					if _, err := os.Stat(filepath.Join(out, ko)); err != nil {
						t.Errorf("step %d: %v", i, err)
					}
				}
			}
		})
	}
	t.Run("the same sources again need no make and no replay", func(t *testing.T) {
		log, out, err := keptBuild(t, kdir, spec)
		if err != nil || !strings.Contains(log, "the kept directory holds this build already (no make)") {
			t.Fatalf("%v\n%s", err, log)
		}
		if _, err := os.Stat(filepath.Join(out, "pagecore.ko")); err != nil {
			t.Error(err)
		}
	})
	t.Run("a replay builds what make builds, warnings and all", func(t *testing.T) {
		// A warning in pagecore.c, then an edit of mapdev.c alone: the
		// replay still reports pagecore.c's warning, as make would.
		edit("pagecore.c", "int pagecore_warns(void) { return 0; }\n")
		if log, _, err := keptBuild(t, kdir, spec); err != nil || !strings.Contains(log, replayed+"pagecore.c") {
			t.Fatalf("%v\n%s", err, log)
		}
		edit("mapdev.c", "/* once more */\n")
		log, replayOut, replayRes, err := keptBuildRes(t, kdir, spec)
		if err != nil || !strings.Contains(log, replayed+"mapdev.c") {
			t.Fatalf("%v\n%s", err, log)
		}
		os.Remove(filepath.Join(spec.Work, keptFile)) // forget it: make builds
		log, makeOut, makeRes, err := keptBuildRes(t, kdir, spec)
		if err != nil || strings.Contains(log, replayed) {
			t.Fatalf("%v\n%s", err, log)
		}
		if !slices.Equal(replayRes.Warnings, makeRes.Warnings) || !strings.Contains(strings.Join(makeRes.Warnings, "\n"), "pagecore_warns") {
			t.Errorf("the replay warned %q; make %q", replayRes.Warnings, makeRes.Warnings)
		}
		for _, ko := range []string{"mapdev.ko", "pagecore.ko"} {
			a, _ := os.ReadFile(filepath.Join(replayOut, ko))
			b, _ := os.ReadFile(filepath.Join(makeOut, ko))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s: the replay built %d bytes, make %d, and they differ", ko, len(a), len(b))
			}
		}
	})
}

// A kept directory's inputs: a kernel file newer than the last make, or
// one that is gone, or a generated file among the module's, is make's;
// the changed file and the author's others are the replay's.
func TestKeptCheckDep(t *testing.T) {
	kdir, work := t.TempDir(), t.TempDir()
	tree := t.TempDir()
	for _, f := range []string{filepath.Join(kdir, "include/old.h"), filepath.Join(kdir, "include/new.h"),
		filepath.Join(work, "a.c"), filepath.Join(work, "gen.h"), filepath.Join(tree, "a.c"), filepath.Join(tree, "b.h")} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, nil, 0o644)
	}
	made := time.Now()
	past := made.Add(-time.Hour)
	os.Chtimes(filepath.Join(kdir, "include/old.h"), past, past)
	os.Chtimes(filepath.Join(kdir, "include/new.h"), made.Add(time.Minute), made.Add(time.Minute))
	b := &moduleBuild{kdir: kdir, out: work, spec: ModuleSpec{Dir: tree}}
	changed := map[string]bool{filepath.Join(work, "a.c"): true}
	for _, tc := range []struct{ dep, want string }{
		{"include/old.h", ""},
		{"include/new.h", "include/new.h is newer than the last make build"},
		{"include/gone.h", "include/gone.h, an input of the build, is gone"},
		{filepath.Join(work, "a.c"), "changed"},
		{filepath.Join(work, "b.h"), ""},
		{filepath.Join(work, "gen.h"), "gen.h, an input of the build, is not one of the module's sources"},
	} {
		if got := b.checkDep(tc.dep, changed, made); got != tc.want {
			t.Errorf("checkDep(%s) = %q; want %q", tc.dep, got, tc.want)
		}
	}
}
