package main

// The end of a run is judged as its middle is. A module whose exit leaves
// a timer or delayed work armed crashes the kernel after the unload: the
// guest must still be watching then (the settle window), or the kernel must
// report the leftover at the unload itself (debugobjects, in the base
// kernel). And a report the console does not show, because of "quiet" or a
// module that lowers the console's loglevel, still reaches the verdict from
// /dev/kmsg and the taint flags.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// afterLoad are the steps in which a leftover of the module's exit can
// fail the run: the contract's own unload and reload cycles, the final
// unload, and the settle window after it.
var afterLoad = []string{"run contract", "unload", "settle"}

func TestLeftoverAtUnload(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	params := func(what, where, delay string) []string {
		return []string{"-module-params", "what=" + what + " where=" + where + " delay_ms=" + delay}
	}
	for _, tc := range []struct {
		name  string
		args  []string
		steps []string // the steps the verdict may be about
		title string   // what the title must say
	}{
		// In the module's own memory: debugobjects reports it when the
		// unload frees that memory, whenever it would fire.
		{"timer-static-1s-reader", append([]string{"-checks", "reader"}, params("timer", "static", "1000")...),
			[]string{"unload"}, "ODEBUG: free active timer_list"},
		{"timer-static-200ms", params("timer", "static", "200"), afterLoad, "ODEBUG: free active timer_list"},
		{"work-static-200ms-ssh", append([]string{"-channel", "ssh"}, params("work", "static", "200")...),
			afterLoad, "ODEBUG: free active"},
		// In leaked memory: only its firing shows, inside the settle
		// window.
		{"timer-heap-200ms-reader", append([]string{"-checks", "reader"}, params("timer", "heap", "200")...),
			[]string{"settle"}, ""},
		{"timer-heap-1s-reader", append([]string{"-checks", "reader"}, params("timer", "heap", "1000")...),
			[]string{"settle"}, ""},
		{"work-heap-1s-ssh-reader", append([]string{"-channel", "ssh", "-checks", "reader"}, params("work", "heap", "1000")...),
			[]string{"settle"}, ""},
		{"timer-heap-1s-cold", append([]string{"-boot", "cold"}, params("timer", "heap", "1000")...), afterLoad, ""},
		// A guest that skips its idle time covers the same window of its
		// own time in a blink, and a timer or work due inside it still
		// fires inside it.
		{"timer-heap-1s-skip-idle-reader", append([]string{"-skip-idle", "-checks", "reader"}, params("timer", "heap", "1000")...),
			[]string{"settle"}, ""},
		{"work-heap-1s-skip-idle-reader", append([]string{"-skip-idle", "-checks", "reader"}, params("work", "heap", "1000")...),
			[]string{"settle"}, ""},
		{"work-heap-200ms-cold-ssh-reader", append([]string{"-boot", "cold", "-channel", "ssh", "-checks", "reader"}, params("work", "heap", "200")...),
			[]string{"settle"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, append([]string{"-module", fixture("leftover")}, tc.args...)...)
			rep := wantVerdict(t, r, verdict.GuestCrash, "")
			if !slices.Contains(tc.steps, rep.Step) {
				t.Errorf("the verdict is about step %q (%s); want one of %q", rep.Step, rep.Verdict(), tc.steps)
			}
			if !strings.Contains(rep.Title, tc.title) {
				t.Errorf("title %q does not say %q", rep.Title, tc.title)
			}
		})
	}
}

// A WARN that the console was told not to show fails the run all the same:
// the guest reads it from /dev/kmsg, and the taint flags say W.
func TestQuietWarn(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		name  string
		args  []string
		step  string
		title string
	}{
		{"mmap-quiet", []string{"-kernel-args", "quiet", "-module-params", "at=mmap"}, "run reader", "WARNING in quietwarn_mmap"},
		{"exit-quiet", []string{"-kernel-args", "quiet", "-checks", "reader", "-module-params", "at=exit"}, "unload", "WARNING in quietwarn_exit"},
		{"exit-lowered-loglevel", []string{"-checks", "reader", "-module-params", "at=exit lower=1"}, "unload", "WARNING in quietwarn_exit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, append([]string{"-module", fixture("quietwarn")}, tc.args...)...)
			rep := wantVerdict(t, r, verdict.GuestCrash, "")
			if rep.Step != tc.step || rep.Title != tc.title {
				t.Errorf("step %q, title %q; want %q, %q (%s)", rep.Step, rep.Title, tc.step, tc.title, rep.Verdict())
			}
			b, err := os.ReadFile(filepath.Join(r.artifacts, "kmsg.txt"))
			if err != nil || !strings.Contains(string(b), "WARNING: CPU:") {
				t.Errorf("kmsg.txt (%v) lacks the WARNING the guest forwarded from /dev/kmsg:\n%s", err, b)
			}
		})
	}
}

// With the kernel's event tracing (-config tracing) and -settle-early, a
// module that never armed anything to run later settles in 100 ms instead
// of the whole window, and one that did still gets the whole window, in
// which its leftover fires and fails the run: the delayed work too, which
// the module's exit arms by a tail call that leaves no frame of its own on
// the arming's stack.
func TestSettleEarly(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the tracing kernel and boots VMs")
	}
	nightlyKernel(t, "tracing")
	const early = "100ms: nothing of the module's armed"
	t.Run("quiet module", func(t *testing.T) {
		rep := wantVerdict(t, runRig(t, "-config", "tracing", "-settle-early"), verdict.Pass, "")
		if !strings.HasPrefix(rep.Settled, early) {
			t.Errorf("settled %q; want %q...", rep.Settled, early)
		}
	})
	t.Run("quiet module, without -settle-early", func(t *testing.T) {
		rep := wantVerdict(t, runRig(t, "-config", "tracing", "-checks", "reader"), verdict.Pass, "")
		if rep.Settled != "1.1s" {
			t.Errorf("settled %q; want the whole window, 1.1s", rep.Settled)
		}
	})
	for _, what := range []string{"timer", "work"} {
		t.Run("leftover "+what, func(t *testing.T) {
			r := runRig(t, "-config", "tracing", "-settle-early", "-module", fixture("leftover"), "-checks", "reader",
				"-module-params", "what="+what+" where=heap delay_ms=1000")
			if rep := wantVerdict(t, r, verdict.GuestCrash, ""); rep.Step != "settle" {
				t.Errorf("the verdict is about step %q (%s); want settle", rep.Step, rep.Verdict())
			}
		})
	}
}

// Leftovers that the early end's trace cannot see (written to fool it:
// testdata/modules/README.md says how each hides) crash inside the whole
// window, on the tracing kernel as on the base. With -settle-early they
// pass: the holes that keep it off by default.
func TestSettleHiddenLeftovers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the tracing kernel and boots VMs")
	}
	nightlyKernel(t, "tracing")
	for _, fx := range []string{"perfclk", "timerswap", "exitwork", "asynctail"} {
		t.Run(fx, func(t *testing.T) {
			r := runRig(t, "-config", "tracing", "-module", fixture(fx), "-checks", "reader")
			if rep := wantVerdict(t, r, verdict.GuestCrash, ""); rep.Step != "settle" {
				t.Errorf("the verdict is about step %q (%s); want settle", rep.Step, rep.Verdict())
			}
		})
	}
}
