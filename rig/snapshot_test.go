package main

// Snapshots: a restored guest must judge exactly as a booted one does, a
// snapshot that does not restore must cost a cold boot and nothing else,
// and runs from one snapshot must not reach each other.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// bootOf returns how a run's guest came up, from its -json report.
func bootOf(t *testing.T, r rigRun) result.Boot {
	t.Helper()
	b := r.report(t).Boot
	if b == nil {
		t.Fatalf("the -json report says nothing of the boot (exit %d)", r.code)
	}
	return *b
}

// The fixtures give the same verdict, class and title, from a snapshot as
// from a cold boot, crashes included.
func TestSnapshotJudgesAsColdBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		fixture string
		args    []string
	}{
		{"", nil},
		{"wrongbytes", []string{"-checks", "reader"}},
		{"nullmmap", []string{"-checks", "reader"}},
		{"nodevice", nil},
		{"exitwarn", []string{"-checks", "reader"}},
		{"", []string{"-channel", "ssh", "-checks", "reader"}},
	} {
		name := tc.fixture + strings.Join(tc.args, " ")
		t.Run(name, func(t *testing.T) {
			args := tc.args
			if tc.fixture != "" {
				args = append([]string{"-module", fixture(tc.fixture)}, args...)
			}
			runRig(t, args...) // saves the snapshot, if there was none
			warm := runRig(t, args...)
			cold := runRig(t, append([]string{"-boot", "cold"}, args...)...)
			w, c := warm.report(t), cold.report(t)
			if bootOf(t, warm).Mode != result.BootRestored {
				t.Errorf("the second run did not restore a snapshot: %+v", bootOf(t, warm))
			}
			if b := bootOf(t, cold); b.Mode != result.BootCold || b.Saved || b.RestoreFailed != "" {
				t.Errorf("-boot cold used or saved a snapshot: %+v", bootOf(t, cold))
			}
			if w.Class != c.Class || w.Title != c.Title || w.Step != c.Step || warm.code != cold.code {
				t.Errorf("restored: %s %q at %s (exit %d); cold: %s %q at %s (exit %d)",
					w.Class, w.Title, w.Step, warm.code, c.Class, c.Title, c.Step, cold.code)
			}
			// After a restore the guest's clock is sane: no watchdog,
			// unstable clocksource, hung-task or stall messages. (The
			// usual switch from tsc-early to tsc may land after the save.)
			con, _ := os.ReadFile(filepath.Join(warm.artifacts, "console.log"))
			for _, bad := range []string{"unstable", "skew", "watchdog", "hung_task", "blocked for more than", "rcu_sched self-detected", "stall"} {
				if strings.Contains(string(con), bad) {
					t.Errorf("the restored guest's console says %q", bad)
				}
			}
		})
	}
}

// A snapshot that will not restore falls back to a cold boot, which
// passes, says so, and saves a new snapshot.
func TestCorruptSnapshotFallsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	cache := freshCache(t, true)
	first := runRig(t, "-cache", cache, "-checks", "reader")
	if first.report(t).Class != verdict.Pass {
		t.Fatalf("first run: %s", first.rep.Class)
	}
	states, _ := filepath.Glob(filepath.Join(cache, "snapshot", "*", "vm.state"))
	if len(states) != 1 {
		t.Fatalf("the first run saved %d snapshots, want 1", len(states))
	}
	if err := os.WriteFile(states[0], []byte("QEVM but not a saved machine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A checksum that matches, so that this is QEMU's load failing (a
	// mismatch is TestSnapshotChecksumCatchesFlippedByte's).
	if err := vm.WriteSnapshotSum(context.Background(), states[0]); err != nil {
		t.Fatal(err)
	}
	r := runRig(t, "-cache", cache, "-checks", "reader")
	if r.report(t).Class != verdict.Pass {
		t.Errorf("after a corrupt snapshot: %s: %s", r.rep.Class, r.rep.Verdict())
	}
	if bootOf(t, r).RestoreFailed == "" || !bootOf(t, r).Saved {
		t.Errorf("the run did not say it fell back, or did not save a new snapshot: %+v", bootOf(t, r))
	}
	if fi, err := os.Stat(states[0]); err != nil || fi.Size() < 1<<20 {
		t.Errorf("the snapshot was not saved again: %v", err)
	}
	// The failed restore's logs are kept beside the cold boot's.
	if b, err := os.ReadFile(filepath.Join(r.artifacts, "restore-qemu.log")); err != nil || len(b) == 0 {
		t.Errorf("the failed restore's qemu.log was not kept: %v", err)
	}
	r = runRig(t, "-cache", cache, "-checks", "reader")
	if r.report(t).Class != verdict.Pass || bootOf(t, r).Mode != result.BootRestored {
		t.Errorf("the new snapshot did not restore: %s %+v", r.rep.Class, bootOf(t, r))
	}
}

// Two runs restored from one snapshot at once do not disturb each other:
// each passes with its own nonce.
func TestParallelRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	runRig(t, "-checks", "reader") // the snapshot exists after this
	var wg sync.WaitGroup
	results := make([]rigRun, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runRig(t, "-checks", "reader")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.report(t).Class != verdict.Pass || bootOf(t, r).Mode != result.BootRestored {
			t.Errorf("run %d: %s, %+v", i, r.rep.Class, bootOf(t, r))
		}
	}
	if results[0].rep.Nonce == results[1].rep.Nonce {
		t.Error("two runs restored from one snapshot shared a nonce")
	}
}

// rig watch prints a verdict at start and on every save: a module copy
// edited into wrong bytes fails, and edited back passes. Ctrl-C leaves
// nothing running.
func TestWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	mod := filepath.Join(t.TempDir(), "module")
	if out, err := exec.Command("cp", "-r", "../module", mod).CombinedOutput(); err != nil {
		t.Fatalf("copy the module: %v: %s", err, out)
	}
	src := filepath.Join(mod, "mymap.c")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(t.TempDir(), "verdict.json")
	cmd := exec.Command(rigBin, "watch", "-module", mod, "-checks", "reader", "-json", js)
	// Its own temporary directory: the session's kept build directory
	// lives there, and must be gone after Ctrl-C.
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Log(sc.Text())
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(what string, timeout time.Duration) {
		t.Helper()
		deadline := time.After(timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("rig watch exited before %q", what)
				}
				if strings.Contains(l, what) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q within %v", what, timeout)
			}
		}
	}
	// The terminal's block says when a verdict is in; the -json document,
	// rewritten after each, says what it was.
	verdictIs := func(cell string, class verdict.Class, output []string) {
		t.Helper()
		doc := readDoc(t, js)
		if len(doc.Cells) != 1 {
			t.Fatalf("watch's -json holds %d cells, want the last verdict's one", len(doc.Cells))
		}
		c := doc.Cells[0]
		if c.Name != cell || c.Result.Class != class || !slices.Equal(c.Result.Output, output) {
			t.Errorf("watch's -json: cell %q, %s %q, output %q; want %q, %s, %q", c.Name, c.Result.Class, c.Result.Verdict(), c.Result.Output, cell, class, output)
		}
	}
	expect("start  PASS", 5*time.Minute)
	verdictIs("start", verdict.Pass, tenBytes)
	expect("watching", 10*time.Second)
	wrong := strings.Replace(string(orig), "data[i] = i;", "data[i] = 9 - i;", 1)
	if wrong == string(orig) {
		t.Fatal("module/mymap.c no longer writes data[i] = i; update the test")
	}
	// New content each time (not in the cache from an earlier test run).
	wrong += fmt.Sprintf("/* %d */\n", time.Now().UnixNano())
	os.WriteFile(src, []byte(wrong), 0o644)
	expect("mymap.c  FAIL [contract]", 2*time.Minute)
	verdictIs("mymap.c", verdict.Contract, []string{"9", "8", "7", "6", "5", "4", "3", "2", "1", "0"})
	// Only mymap.c changed: the session's build directory replayed
	// kbuild's commands, without make (or held the build already, when
	// the save came while watch warmed the directory).
	if log, _ := os.ReadFile(filepath.Join(readDoc(t, js).Cells[0].Result.ArtifactDir, layout.ModuleLog)); !strings.Contains(string(log), "(no make)") {
		t.Errorf("the edit of mymap.c was built with make; its build log:\n%s", log)
	}
	os.WriteFile(src, orig, 0o644)
	expect("mymap.c  PASS", 2*time.Minute)
	verdictIs("mymap.c", verdict.Pass, tenBytes)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("rig watch after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rig watch did not stop after Ctrl-C")
	}
	assertNoQEMU(t, cmd.Process.Pid)
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("rig watch left %s in its temporary directory", left[0].Name())
	}
}
