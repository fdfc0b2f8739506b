package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// snapshotKey is the fake machine's snapshot key.
const snapshotKey = "fake-machine"

// bootRun is a run at its boot stage, whose QEMUs are fakes that replay
// recordings: a saved guest of the machine being restored, and the cold
// boots it starts.
type bootRun struct {
	r     *run
	out   bytes.Buffer
	clock *fakeClock
	// cold is what each cold boot replays; colds counts them.
	cold  *verdict.Recording
	colds int
}

// newBootRun makes a run that boots the machine the recording
// pass-settled ran on: the reader on /dev/mymap, the unload, a settle
// window.
func newBootRun(t *testing.T) *bootRun {
	dir := t.TempDir()
	c, err := cache.Open(filepath.Join(dir, "cache"), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	b := &bootRun{clock: newFakeClock(), cold: readRecording(t, filepath.Join(corpusDir, "pass-settled.log"))}
	b.r = &run{res: &result.Run{}, opts: Options{
		ArtifactDir: filepath.Join(dir, "artifacts"), Devices: []wire.Device{{Path: "/dev/mymap"}}, Expect: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		Checks: ChecksReader, Channel: wire.ChannelSerial, Boot: BootAuto, Settle: 1200 * time.Millisecond,
		Timeouts: DefaultTimeouts, Cache: c, Printer: progress.NewPrinter(&b.out), Log: quietLog(),
	}}
	os.MkdirAll(b.r.opts.ArtifactDir, 0o755)
	b.r.ko = filepath.Join(dir, "mymap.ko")
	b.r.kos = []string{b.r.ko}
	os.WriteFile(b.r.ko, []byte("a module"), 0o644)
	b.r.kernel, b.r.work = &kernel.Kernel{}, &workDir{dir: dir}
	b.r.vms = vmHost{clock: b.clock, start: func(_ context.Context, cfg vm.Config) (machineVM, error) {
		b.colds++
		f := newFakeVM(b.cold, b.clock)
		f.renonce, f.log = true, "the cold boot's QEMU"
		f.start(cfg.ArtifactDir)
		return f, nil
	}}
	return b
}

// restoring gives the run a saved guest of its machine, restored while
// the module built, which replays rec once it is resumed.
func (b *bootRun) restoring(t *testing.T, rec *verdict.Recording, resumeErr error) {
	dir, _, err := b.r.opts.Cache.Get(context.Background(), "snapshot", snapshotKey, func(_ context.Context, dir string) error {
		return os.WriteFile(filepath.Join(dir, snapshotFile), []byte("an earlier run's guest\n"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeVM(rec, b.clock)
	f.renonce, f.log, f.resumeErr = true, "the restore's QEMU", resumeErr
	f.start(b.r.opts.ArtifactDir)
	done := make(chan struct{})
	close(done)
	snap := &snapshot{key: snapshotKey, path: filepath.Join(dir, snapshotFile)}
	b.r.early = &earlyVM{cfg: vm.Config{ArtifactDir: b.r.opts.ArtifactDir}, snap: snap, done: done, v: f, took: 300 * time.Millisecond}
}

// savedGuest is the recording of the guest pass-settled ran, saved after
// its hello: restored, it takes its work and runs.
func savedGuest(t *testing.T) *verdict.Recording {
	rec := *readRecording(t, filepath.Join(corpusDir, "pass-settled.log"))
	rec.Inputs = nil
	for _, in := range readRecording(t, filepath.Join(corpusDir, "pass-settled.log")).Inputs {
		if in.Kind != verdict.Port || !isHello(in.Text) {
			rec.Inputs = append(rec.Inputs, in)
		}
	}
	return &rec
}

// badRestore is a restored QEMU that cannot load the saved state, and
// exits.
const badRestore = "SPEC: {}\n+0.010000 qmp RESUME\n+0.200000 exit exit status 1\n"

// The boot stage restores the machine's saved guest when it can, and
// otherwise boots cold, says why, keeps the restore's logs, and saves a
// new snapshot; the result's Boot says how the guest came up.
func TestBootRestoreOrFallBack(t *testing.T) {
	silent := &verdict.Recording{Inputs: []verdict.Input{{At: 10 * time.Millisecond, Kind: verdict.QMP, Text: "RESUME"}}}
	exits, err := verdict.ParseRecording(strings.NewReader(badRestore))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		restore   *verdict.Recording
		resumeErr error
		// mode is how the guest came up, and saved whether a snapshot
		// was saved.
		mode  string
		saved bool
		// failure is in RestoreFailed, when the restore failed.
		failure string
	}{
		{name: "restored", restore: savedGuest(t), mode: result.BootRestored},
		{name: "restored QEMU exits", restore: exits, mode: result.BootCold, saved: true, failure: "QEMU exited"},
		{name: "restored guest never takes its work", restore: silent, mode: result.BootCold, saved: true, failure: "did not report"},
		{name: "resume fails", restore: silent, resumeErr: errors.New("QMP cont: Migration is not finalized yet"), mode: result.BootCold, saved: true, failure: "Migration is not finalized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBootRun(t)
			b.restoring(t, tc.restore, tc.resumeErr)
			summary, restored, err := b.r.boot(context.Background(), nil)
			if err != nil {
				t.Fatalf("boot: %v (%s)\n%s", err, summary, b.out.String())
			}
			got := b.r.res.Boot
			if got == nil {
				t.Fatal("the result says nothing of how the guest came up")
			}
			if got.Mode != tc.mode || got.Saved != tc.saved || got.SaveError != "" || !strings.Contains(got.RestoreFailed, tc.failure) || (tc.failure == "") != (got.RestoreFailed == "") {
				t.Errorf("Boot = %+v; want mode %s, saved %v, the restore failing with %q", got, tc.mode, tc.saved, tc.failure)
			}
			if restored != (tc.mode == result.BootRestored) || b.colds != map[bool]int{true: 0, false: 1}[restored] {
				t.Errorf("the stage says restored=%v after %d cold boot(s); want mode %s", restored, b.colds, tc.mode)
			}
			if tc.failure == "" {
				checkRestored(t, b, summary)
			} else {
				checkFellBack(t, b, summary)
			}
		})
	}
}

// checkRestored checks a run that came from the snapshot: its boot time is
// the restore's, and the snapshot stays.
func checkRestored(t *testing.T, b *bootRun, summary string) {
	if !strings.HasPrefix(summary, "restored from a snapshot in 300ms;") {
		t.Errorf("summary %q", summary)
	}
	if b.r.res.BootToInit.D() != 300*time.Millisecond || b.r.res.Boot.Took != b.r.res.BootToInit {
		t.Errorf("BootToInit = %v, boot took %v; want the restore's 300ms", b.r.res.BootToInit.D(), b.r.res.Boot.Took.D())
	}
	if _, ok := b.r.opts.Cache.Lookup("snapshot", snapshotKey); !ok {
		t.Error("the snapshot that restored was removed")
	}
}

// checkFellBack checks a run that booted cold after a failed restore: it
// said so, kept the restore's logs beside its own, and saved the snapshot
// anew.
func checkFellBack(t *testing.T, b *bootRun, summary string) {
	art := b.r.opts.ArtifactDir
	if !strings.Contains(b.out.String(), "booting cold, and saving a new one") || !strings.HasPrefix(summary, "booted, snapshot saved in ") {
		t.Errorf("the run did not say it fell back and saved a snapshot: %q, summary %q", b.out.String(), summary)
	}
	for file, want := range map[string]string{"restore-qemu.log": "the restore's QEMU", "qemu.log": "the cold boot's QEMU"} {
		if got, err := os.ReadFile(filepath.Join(art, file)); err != nil || !strings.Contains(string(got), want) {
			t.Errorf("%s = %q (%v); want %q", file, got, err, want)
		}
	}
	for _, file := range []string{"restore-engine.log", "restore-run.json", "engine.log", "run.json"} {
		if _, err := os.Stat(filepath.Join(art, file)); err != nil {
			t.Error(err)
		}
	}
	dir, ok := b.r.opts.Cache.Lookup("snapshot", snapshotKey)
	if !ok {
		t.Fatal("no snapshot was saved after the restore failed")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, snapshotFile)); string(got) != "a fake guest's state\n" {
		t.Errorf("the snapshot holds %q: the one that failed was not replaced", got)
	}
}

// A restore that fails, then a QEMU that does not start: the stage fails
// as setup, and the result claims no guest came up, only why the restore
// failed.
func TestBootFallBackWithoutQEMU(t *testing.T) {
	exits, err := verdict.ParseRecording(strings.NewReader(badRestore))
	if err != nil {
		t.Fatal(err)
	}
	b := newBootRun(t)
	b.restoring(t, exits, nil)
	b.r.vms.start = func(context.Context, vm.Config) (machineVM, error) {
		return nil, vm.ErrNoQEMU
	}
	_, restored, err := b.r.boot(context.Background(), nil)
	var e *Error
	if !errors.As(err, &e) || e.Class != verdict.Setup || !errors.Is(err, vm.ErrNoQEMU) || restored {
		t.Errorf("boot = %v (restored %v); want a setup failure to start QEMU", err, restored)
	}
	if b.r.res.Boot != nil || !strings.Contains(b.r.restoreFailed, "QEMU exited") {
		t.Errorf("Boot = %+v, restore failed %q; want no boot, and the restore's failure", b.r.res.Boot, b.r.restoreFailed)
	}
}

// A debugged run that falls back to a cold boot restores nothing and saves
// nothing: its gdbstub listened from QEMU's start. Another run saves the
// snapshot anew.
func TestDebuggedColdBootSavesNoSnapshot(t *testing.T) {
	exits, err := verdict.ParseRecording(strings.NewReader(badRestore))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		gdb          bool
		onCrash, say string
		saved        bool
	}{
		{"not debugged", false, OnCrashPowerOff, "booting cold, and saving a new one", true},
		{"-gdb", true, OnCrashPowerOff, "booting cold (a debugged guest is not saved)", false},
		{"-on-crash pause", false, OnCrashPause, "booting cold (a debugged guest is not saved)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBootRun(t)
			b.r.opts.GDB, b.r.opts.OnCrash = tc.gdb, tc.onCrash
			b.restoring(t, exits, nil)
			summary, _, err := b.r.boot(context.Background(), nil)
			if err != nil {
				t.Fatalf("boot: %v (%s)\n%s", err, summary, b.out.String())
			}
			_, ok := b.r.opts.Cache.Lookup("snapshot", snapshotKey)
			if ok != tc.saved || b.r.res.Boot.Saved != tc.saved || b.colds != 1 {
				t.Errorf("a snapshot in the cache: %v, the result says saved: %v, after %d cold boot(s); want %v after 1", ok, b.r.res.Boot.Saved, b.colds, tc.saved)
			}
			if !strings.Contains(b.out.String(), tc.say) || strings.Contains(summary, "snapshot saved") != tc.saved {
				t.Errorf("the run says %q, summary %q; want %q", b.out.String(), summary, tc.say)
			}
		})
	}
}
