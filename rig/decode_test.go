package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/symbolize"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// A module that oopses in its mmap gets its stack decoded: the trap's
// frame is the module's file at the faulting line, found in the source
// by its marker comment, with the functions inlined there (inlineoops's
// helpers, two deep); -json's crash has that file and line, the terminal
// prints the decoded stack, and report.txt holds it. On the debug
// kernel, which has debug info, the kernel's frames decode too, relative
// to its tree.
func TestDecodedStack(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		name, fixture string
		args          []string
		// lines are the trap's, innermost first: function and marker.
		lines [][2]string
		// kernel: a kernel frame that must decode, its function and file.
		kernel [2]string
	}{
		{"nullmmap", "nullmmap", nil, [][2]string{{"nullmmap_mmap", "faults"}}, [2]string{}},
		{"inlined", "inlineoops", nil, [][2]string{{"inlineoops_poke", "faults"}, {"inlineoops_touch", "calls poke"},
			{"inlineoops_mmap", "calls touch"}}, [2]string{}},
		{"debug kernel", "nullmmap", []string{"-config", "debug"}, [][2]string{{"nullmmap_mmap", "faults"}},
			[2]string{"mmap_region", "mm/mmap.c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.args) > 0 {
				nightlyKernel(t, "debug")
			}
			t.Parallel()
			r := runRig(t, append([]string{"-module", fixture(tc.fixture), "-checks", "reader"}, tc.args...)...)
			rep := wantVerdict(t, r, verdict.GuestCrash, "in "+tc.lines[len(tc.lines)-1][0])
			dir, _ := filepath.Abs(fixture(tc.fixture))
			src := filepath.Join(dir, tc.fixture+".c")
			var want []symbolize.Location
			for _, l := range tc.lines {
				want = append(want, symbolize.Location{Function: l[0], File: src, Line: markerLine(t, src, l[1])})
			}
			trap := wantTrap(t, rep, want)
			if c := rep.Crash; c.File != src || c.Line != want[0].Line {
				t.Errorf("-json's crash is at %s:%d; want %s:%d", c.File, c.Line, src, want[0].Line)
			}
			if tc.kernel[0] != "" {
				wantKernelFrame(t, rep, tc.kernel[0], tc.kernel[1])
			}
			shown := symbolize.Format([]symbolize.Frame{trap})
			for _, l := range shown {
				if !strings.Contains(r.out, "--- decoded stack ---\n") || !strings.Contains(r.out, "\n "+l+"\n") {
					t.Errorf("the terminal does not show the decoded frame %q", l)
				}
			}
			txt, err := os.ReadFile(filepath.Join(r.artifacts, layout.Report))
			if err != nil || !strings.Contains(string(txt), shown[len(shown)-1]) || !strings.Contains(string(txt), rep.Crash.Title) {
				t.Errorf("report.txt (%v) lacks the title or %q:\n%s", err, shown[len(shown)-1], txt)
			}
		})
	}
}

// wantTrap checks that the decoded stack starts with the trap, in the
// module, at the lines given, and returns it.
func wantTrap(t *testing.T, rep *result.Run, want []symbolize.Location) symbolize.Frame {
	t.Helper()
	if rep.Crash == nil || len(rep.Crash.Decoded) == 0 {
		t.Fatalf("the crash has no decoded stack: %+v", rep.Crash)
	}
	trap := rep.Crash.Decoded[0]
	if !trap.Trap || !trap.Reliable || trap.Module == "" || !reflect.DeepEqual(trap.Lines, want) {
		t.Errorf("the decoded stack starts with %+v; want the trap in the module at %+v", trap, want)
	}
	return trap
}

// wantKernelFrame checks that a frame of the kernel's function decodes
// to its file, relative to the kernel tree, as every kernel file is.
func wantKernelFrame(t *testing.T, rep *result.Run, function, file string) {
	t.Helper()
	found := false
	for _, f := range rep.Crash.Decoded {
		for _, l := range f.Lines {
			if f.Module == "" && filepath.IsAbs(l.File) {
				t.Errorf("the kernel's frame %s names %s, not relative to the kernel tree", f.Raw, l.File)
			}
		}
		if n := len(f.Lines); f.Function == function && n > 0 && f.Lines[n-1].File == file && f.Lines[n-1].Line > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no frame of %s decodes to %s: %+v", function, file, rep.Crash.Decoded)
	}
}

// markerLine is the line of src whose comment says "mmaprig: marker".
func markerLine(t *testing.T, src, marker string) int {
	t.Helper()
	return lineWith(t, src, "/* mmaprig: "+marker+" */")
}
