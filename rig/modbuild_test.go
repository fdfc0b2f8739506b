package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// Drivers built the way they ship pass the contract: an LDD3-style tree
// (a driver directory whose Makefile passes ../include from its default
// target, and a register_chrdev major with no node, made by the guest
// from /proc/devices) through its own Makefile and through its dkms.conf,
// with -module-root; and a driver of two modules, one using the other's
// exported symbol, loaded in dependency order on both channels.
func TestModuleBuildModes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	ldd3 := []string{"-module", fixture("ldd3/ldd3map"), "-module-root", fixture("ldd3"), "-device", "/dev/mymap=c:mymap:0"}
	for _, tc := range []struct {
		name, mode, kos string
		args            []string
		modules         []string
	}{
		{"ldd3-makefile", "make", "ldd3map.ko", append([]string{"-build", "make"}, ldd3...), []string{wire.ModulePath}},
		{"ldd3-dkms", "dkms", "ldd3map.ko", ldd3, []string{wire.ModulePath}},
		{"two-modules-serial", "kbuild", "pagecore.ko, mapdev.ko", []string{"-module", fixture("twomod")},
			[]string{wire.DepsDir + "/pagecore.ko", wire.ModulePath}},
		{"two-modules-ssh", "kbuild", "pagecore.ko, mapdev.ko", []string{"-module", fixture("twomod"), "-channel", "ssh"},
			[]string{wire.DepsDir + "/pagecore.ko", wire.ModulePath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runRig(t, tc.args...)
			rep := wantVerdict(t, r, verdict.Pass, "")
			assertContract(t, rep)
			wantNoWarnings(t, rep, tc.name)
			st := stageOf(t, rep, layout.StageModule)
			if !strings.Contains(st.Summary, " "+tc.kos+" ("+tc.mode+"), ") {
				t.Errorf("the module stage says %q; want the modules %s and the %s mode", st.Summary, tc.kos, tc.mode)
			}
			if !strings.Contains(r.out, "\n    "+tc.mode+" build: ") {
				t.Errorf("the output does not say which build mode ran, and why")
			}
			var run struct {
				Config wire.Config `json:"config"`
			}
			b, _ := os.ReadFile(filepath.Join(r.artifacts, "run.json"))
			if err := json.Unmarshal(b, &run); err != nil || !slices.Equal(run.Config.Modules, tc.modules) {
				t.Errorf("run.json loads %q (%v); want %q", run.Config.Modules, err, tc.modules)
			}
		})
	}
}

// The builds that fail say why in their headline: LDD3's tree under plain
// kbuild fails in a kernel header, which the headline says, with the
// author's line that included it; without -module-root its ../include is
// missing; a Makefile whose obj-m names an empty variable builds 0
// modules, which is what the verdict says.
func TestModuleBuildHeadlines(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds modules against the cached kernel")
	}
	ldd3 := fixture("ldd3/ldd3map")
	// The verdict names the directory absolute: it is not below rig/.
	shown := strings.TrimPrefix(ldd3, "../")
	src := filepath.Join(ldd3, "main.c")
	modLine, incLine := sourceLine(t, src, "#include <linux/module.h>"), sourceLine(t, src, `#include "../include/ldd3map.h"`)
	for _, tc := range []struct {
		name string
		args []string
		says []string
	}{
		{"kernel-header", []string{"-module", ldd3, "-module-root", fixture("ldd3"), "-build", "kbuild"},
			[]string{fmt.Sprintf("%s/main.c:%d: the first error is in a header this line includes: /", shown, modLine), "/include/linux/module.h:184:"}},
		{"no-module-root", []string{"-module", ldd3, "-build", "make"},
			[]string{fmt.Sprintf("%s/main.c:%d:10: fatal error: ../include/ldd3map.h: No such file or directory", shown, incLine)}},
		{"empty-obj-m", []string{"-module", fixture("emptyobjm")},
			[]string{"built 0 modules: the kbuild build succeeded and made no .ko file; it built nothing; kbuild's list of modules (obj-m) came out empty from Makefile:4: obj-m += $(OBJECT_FILES)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runRig(t, append([]string{"-build-only"}, tc.args...)...)
			rep := r.report(t)
			for _, s := range tc.says {
				wantVerdict(t, r, verdict.ModuleBuild, s)
			}
			if tc.name == "kernel-header" && !strings.Contains(rep.Excerpt, fmt.Sprintf("%5d | #include <linux/module.h>", modLine)) {
				t.Errorf("the excerpt does not quote the author's line:\n%s", rep.Excerpt)
			}
		})
	}
}

// sourceLine is the number of the first line of the file at path that is
// line, so that a test of a headline follows its fixture's edits.
func sourceLine(t *testing.T, path, line string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if sc.Text() == line {
			return n
		}
	}
	t.Fatalf("%s has no line %q", path, line)
	return 0
}
