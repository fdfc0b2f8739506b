package main

// A PASS must be earned: these tests attack the verdict with modules that
// forge the rig's events, flood the console, and report after the last
// step, and with a results stream that loses an event.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// A module that prints every rig event, old and new, and a passing KTAP
// run, from its init, but maps nothing, fails on every path.
func TestForgedEventsFail(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, args := range [][]string{
		nil,
		{"-checks", "reader"},
		{"-channel", "ssh"},
	} {
		t.Run(strings.Join(append([]string{"default"}, args...), " "), func(t *testing.T) {
			r := runRig(t, append([]string{"-module", fixture("forger")}, args...)...)
			rep := wantVerdict(t, r, verdict.Contract, "reader failed")
			if len(rep.Output) != 0 {
				t.Errorf("the run took %q for the reader's output", rep.Output)
			}
			if strings.Contains(r.out, "PASS") && !strings.Contains(r.out, "FAIL [contract]") {
				t.Error("the terminal says PASS")
			}
		})
	}
}

// A module that floods the console with printk, marker-like text included,
// while it maps the wrong bytes, fails every time.
func TestFloodedConsoleStillFails(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	const runs = 20
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run("", func(t *testing.T) {
				r := runRig(t, "-module", fixture("floodwrong"), "-checks", "reader")
				rep := r.report(t)
				if rep.Class != verdict.Contract || r.code != 1 || !strings.Contains(rep.Verdict(), "wrong bytes in the mapped page: got [9 8 7 6 5 4 3 2 1 0]") {
					t.Errorf("run %d of %d: %s, exit %d: %s", i+1, runs, rep.Class, r.code, rep.Verdict())
				}
			})
		}()
	}
	wg.Wait()
}

// A kernel WARNING printed about 200 ms after the last program, from the
// module's exit path or its delayed work, fails the run, named by its
// guilty function.
func TestLateReportsFail(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		fixture string
		title   string
	}{
		{"exitwarn", "WARNING in exitwarn_release_all"},
		{"latework", "WARNING in latework_fn"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			r := runRig(t, "-module", fixture(tc.fixture), "-checks", "reader")
			rep := wantVerdict(t, r, verdict.GuestCrash, "the kernel reported WARNING")
			if rep.Title != tc.title {
				t.Errorf("title %q, want %q", rep.Title, tc.title)
			}
		})
	}
}

// A results stream that loses one event fails as channel, naming the step
// that never arrived.
func TestLostEventIsChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	rep := verdictWithin(t, 5*time.Minute, verdict.Channel, "step device (seq ",
		"-inject", "drop-event", "-checks", "reader")
	if rep.Step != "device" {
		t.Errorf("step %q, want device", rep.Step)
	}
	// The kernel's records forwarded between the steps take sequence
	// numbers too, so the device event's is not fixed.
	if !regexp.MustCompile(`step device \(seq \d+\) never arrived`).MatchString(rep.Verdict()) {
		t.Errorf("the verdict %q does not name the step that never arrived", rep.Verdict())
	}
}

// A reused artifact directory never shows an earlier run's files: they
// move to DIR.prev.
func TestArtifactsReused(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	art := filepath.Join(t.TempDir(), "artifacts")
	first := runRig(t, "-artifacts", art, "-checks", "reader")
	os.WriteFile(filepath.Join(art, "stale-from-first-run"), []byte("x"), 0o644)
	second := runRig(t, "-artifacts", art, "-module", fixture("nodevice"), "-checks", "reader")
	if first.report(t).Class != verdict.Pass || second.report(t).Class != verdict.ModuleLoad {
		t.Fatalf("runs: %s then %s", first.rep.Class, second.rep.Class)
	}
	if _, err := os.Stat(filepath.Join(art, "stale-from-first-run")); err == nil {
		t.Error("the second run's artifacts hold a file of the first")
	}
	if _, err := os.Stat(filepath.Join(art+".prev", "stale-from-first-run")); err != nil {
		t.Errorf("the first run's artifacts were lost: %v", err)
	}
}

// SIGHUP stops a run as SIGTERM does.
func TestSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	l := startRig(t, stuckRun()...)
	l.qemuOf(t, 3*time.Minute)
	kids := descendants(l.cmd.Process.Pid)
	l.cmd.Process.Signal(syscall.SIGHUP)
	if code := l.wait(t, 30*time.Second); code != verdict.ExitNoResult || !strings.Contains(l.output(), "FAIL [infra]: interrupted") {
		t.Errorf("exit %d after SIGHUP; want %d, interrupted", code, verdict.ExitNoResult)
	}
	if left := alive(kids); len(left) > 0 {
		t.Errorf("processes the rig started are still running: %v", left)
	}
}
