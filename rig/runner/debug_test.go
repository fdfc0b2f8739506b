package runner

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/gdbinit"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// A -gdb run's driver writes the gdbinit when the guest reports its
// sections, and gives the guest its go once, when the machine runs again
// (gdb's continue), not before: here the recording of a real -gdb run.
func TestDriverHoldsForGDB(t *testing.T) {
	rec := readRecording(t, filepath.Join(corpusDir, "gdb-hold.log"))
	rr := newReplayRun(t, rec, nil)
	kdir := t.TempDir()
	r := rr.d.r
	r.kernel, r.kos, r.opts.ModuleDir, r.opts.GDB = &kernel.Kernel{BuildDir: kdir}, []string{filepath.Join(kdir, "mymap.ko")}, t.TempDir(), true
	if err := os.WriteFile(filepath.Join(r.opts.ModuleDir, "Kbuild"), []byte("obj-m := mymap.o\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := rr.drive(t)
	checkVerdict(t, got, verdict.Pass, "", "")
	var gos int
	for _, req := range rr.f.conn.sent() {
		if req.Go {
			gos++
		}
	}
	if gos != 1 {
		t.Errorf("the driver sent %d go(s), want 1", gos)
	}
	b, err := os.ReadFile(filepath.Join(r.opts.ArtifactDir, layout.GDBInit))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"file " + filepath.Join(kdir, "vmlinux"), "add-symbol-file " + filepath.Join(kdir, "mymap.ko") + " 0xffffffffa0000000 ",
		"-s .data 0xffffffffa0002000", "set substitute-path " + kernel.ModuleDebugRoot + " " + r.opts.ModuleDir,
		"target remote " + filepath.Join(r.opts.ArtifactDir, layout.GDBSocket)} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the gdbinit lacks %q:\n%s", want, b)
		}
	}
}

// The gdbstub's socket is in the artifact directory, unless its path
// would not fit a unix socket's; and only a debugged run has one.
func TestGDBSocket(t *testing.T) {
	long := "/" + strings.Repeat("a", 120)
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{ArtifactDir: "/art"}, ""},
		{Options{ArtifactDir: "/art", GDB: true}, "/art/gdb.sock"},
		{Options{ArtifactDir: "/art", OnCrash: OnCrashPause}, "/art/gdb.sock"},
		{Options{ArtifactDir: long, GDB: true}, "/work/gdb.sock"},
	} {
		r := &run{opts: tc.opts, work: &workDir{dir: "/work"}}
		if got := r.gdbSocket(); got != tc.want {
			t.Errorf("%+v: socket %q, want %q", tc.opts, got, tc.want)
		}
	}
	if r := (&run{opts: Options{OnCrash: OnCrashPause}}); r.onCrash() != wire.OnCrashPause {
		t.Errorf("-on-crash pause does not reach the guest")
	}
}

// A guest of another architecture than the host's takes gdb-multiarch.
func TestGDBCommand(t *testing.T) {
	host, other := arch.Host(), "arm64"
	if host.Name == "arm64" {
		other = "x86_64"
	}
	guest, err := arch.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a    arch.Arch
		want string
	}{
		{host, "gdb -x /art/gdbinit"},
		{guest, "gdb-multiarch -x /art/gdbinit"},
	} {
		if got := (&run{opts: Options{Arch: tc.a, ArtifactDir: "/art"}}).gdbCommand(); got != tc.want {
			t.Errorf("%s guest: %q, want %q", tc.a.Name, got, tc.want)
		}
	}
}

// An SSH step has a host deadline, its slack on top of modctl's bound,
// except in a debugged run: gdb may hold the guest at a breakpoint past
// it, and only -timeout bounds the run.
func TestSSHStepDeadline(t *testing.T) {
	st := verdict.Step{Event: wire.EvRun, Source: verdict.Host, Timeout: time.Minute}
	for _, tc := range []struct {
		debug        []string
		wantDeadline bool
	}{
		{nil, true},
		{[]string{"mymap"}, false},
	} {
		d := (&run{opts: Options{Log: quietLog()}}).newDriver(verdict.Spec{Debug: tc.debug}, nil, nil, nil, wallClock{}, time.Now())
		ctx, cancel := d.stepContext(context.Background(), st)
		dl, ok := ctx.Deadline()
		cancel()
		if ok != tc.wantDeadline {
			t.Errorf("debug %q: the step has a deadline: %v (%v); want %v", tc.debug, ok, dl, tc.wantDeadline)
		}
		if ok && time.Until(dl) > st.Timeout {
			t.Errorf("debug %q: deadline in %v, past the step's %v", tc.debug, time.Until(dl), st.Timeout)
		}
		if ctx.Err() == nil {
			t.Errorf("debug %q: cancel does not end the step's context", tc.debug)
		}
	}
}

// The gdbinit is replaced whole, not rewritten in place: a gdb that reads
// the first one while the rig writes the crash's reads the first, whole.
func TestWriteGDBInitAtomically(t *testing.T) {
	kdir := t.TempDir()
	r := &run{opts: Options{ArtifactDir: t.TempDir(), GDB: true, Log: quietLog()}, work: &workDir{dir: t.TempDir()}}
	r.kernel = &kernel.Kernel{BuildDir: kdir}
	if err := r.writeGDBInit(nil, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.opts.ArtifactDir, layout.GDBInit)
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.writeGDBInit(nil, &gdbinit.Fault{Regs: []gdbinit.Reg{{Name: "rip", Value: "0x1"}}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(f); string(b) != string(first) {
		t.Errorf("the gdbinit open before the rewrite reads:\n%s\nwant the first:\n%s", b, first)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "set $rip = 0x1") {
		t.Errorf("the rewritten gdbinit lacks the fault's registers:\n%s", b)
	}
	if entries, _ := os.ReadDir(r.opts.ArtifactDir); len(entries) != 1 {
		t.Errorf("the artifact directory holds %v; want the gdbinit alone", entries)
	}
}
