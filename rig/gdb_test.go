package main

// gdb on the guest: a real gdb attaches to the guest of a -gdb run with the
// gdbinit the rig wrote, breaks in the module's mmap and lets the run go
// on; and it reads the faulting frame of a guest that -on-crash pause
// kept at its kernel report.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// attachRE is the command the rig prints to attach gdb.
var attachRE = regexp.MustCompile(`(?m)^    (gdb(?:-multiarch)?) -x (\S+/gdbinit)$`)

// attachCommand waits for the rig to say how to attach, and returns the
// gdb binary and the gdbinit.
func attachCommand(t *testing.T, l *live, says string) (string, string) {
	t.Helper()
	l.waitFor(t, says, 20*time.Minute) // the first run may wait for a kernel build
	m := attachRE.FindStringSubmatch(l.output())
	if m == nil {
		t.Fatalf("the rig did not print the command that attaches gdb:\n%s", l.output())
	}
	return m[1], m[2]
}

// gdbBatch runs gdb -batch with the rig's gdbinit and then cmds.
func gdbBatch(t *testing.T, gdb, gdbinit string, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"-batch", "-nx", "-x", gdbinit}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	out, err := exec.CommandContext(ctx, gdb, args...).CombinedOutput()
	t.Logf("%s %s -> %v\n%s", gdb, strings.Join(args, " "), err, out)
	if ctx.Err() != nil {
		t.Fatalf("gdb did not finish within 5 minutes")
	}
	return string(out)
}

// assertNoGDBSocket checks that the gdbstub's socket, which the gdbinit
// names, is gone once the run is.
func assertNoGDBSocket(t *testing.T, gdbinit string) {
	t.Helper()
	b, err := os.ReadFile(gdbinit)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^target remote (.+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("the gdbinit names no socket:\n%s", b)
	}
	if _, err := os.Lstat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the gdbstub's socket %s outlived the run (%v)", m[1], err)
	}
}

// gdb breaks in the module's mmap in a -gdb run, restored or booted cold,
// on either channel:
// the guest waits after insmod until gdb lets it go, the reader's mmap
// hits the breakpoint, bt names the module's source line, and the run
// then passes, however long gdb held the guest.
func TestGDBBreaksInMmap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		name, boot, channel string
		// hold is how long gdb holds the guest at the breakpoint: on SSH,
		// past the reader step's deadline (-check-timeout and the 5 s
		// slack), which the host's wall clock must not enforce.
		hold time.Duration
		more []string
	}{
		{"restored", "auto", "serial", 0, nil},
		{"cold", "cold", "serial", 0, nil},
		{"ssh", "auto", "ssh", 20 * time.Second, []string{"-check-timeout", "10s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boot := tc.boot
			if boot == "auto" {
				// A saved guest to restore.
				wantVerdict(t, runRig(t, "-checks", "reader"), verdict.Pass, "")
			}
			l := startRig(t, append([]string{"-gdb", "-boot", boot, "-checks", "reader", "-channel", tc.channel}, tc.more...)...)
			gdb, gdbinit := attachCommand(t, l, "then continue")
			// Held for longer than the device step's deadline (7 s).
			time.Sleep(10 * time.Second)
			out := gdbBatch(t, gdb, gdbinit, "break mymap_mmap", "continue", "bt", "list mymap_mmap",
				fmt.Sprintf("shell sleep %d", int(tc.hold.Seconds())), "continue")
			if !regexp.MustCompile(`Breakpoint 1, mymap_mmap \(.*\) at \S*mymap\.c:\d+`).MatchString(out) {
				t.Errorf("gdb did not stop in mymap_mmap at a line of mymap.c")
			}
			if !regexp.MustCompile(`(?m)^#0 +mymap_mmap \(.*\) at \S*mymap\.c:\d+$`).MatchString(out) {
				t.Errorf("bt does not start at mymap_mmap, at a line of mymap.c")
			}
			// The debug info names the build's copy; the gdbinit maps it
			// to the author's tree, where gdb finds the source.
			if !strings.Contains(out, "static int mymap_mmap(struct file *file, struct vm_area_struct *vma)") {
				t.Errorf("gdb did not find mymap.c's source in the author's tree")
			}
			if code := l.wait(t, 5*time.Minute); code != 0 || !strings.Contains(l.output(), "PASS:") {
				t.Errorf("exit %d; want a pass after gdb let the guest go", code)
			}
			how := map[string]string{"auto": "restored from a snapshot", "cold": "booted"}[boot]
			if !strings.Contains(l.output(), how) {
				t.Errorf("the guest was not %s", how)
			}
			assertNoQEMU(t, l.cmd.Process.Pid)
			assertNoGDBSocket(t, gdbinit)
		})
	}
}

// -on-crash pause keeps the guest of an oopsing module stopped at its
// report; gdb's bt starts at the faulting frame, in the module's source;
// the guest that gdb let go is stopped again; and Ctrl-C ends the run with
// its usual verdict and leaves no QEMU.
func TestOnCrashPause(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	js := filepath.Join(t.TempDir(), "result.json")
	l := startRig(t, "-on-crash", "pause", "-module", fixture("nullmmap"), "-checks", "reader", "-json", js)
	gdb, gdbinit := attachCommand(t, l, "Ctrl-C ends the run")
	if !strings.Contains(l.output(), "QEMU is guest-panicked") {
		t.Errorf("QEMU did not pause at the kernel's panic")
	}
	qemu := l.qemuOf(t, time.Second)
	out := gdbBatch(t, gdb, gdbinit, "bt 3")
	if !regexp.MustCompile(`(?m)^#0 +(0x[0-9a-f]+ in )?nullmmap_mmap \(.*\) at \S*nullmmap\.c:\d+$`).MatchString(out) {
		t.Errorf("bt does not start at the faulting frame, nullmmap_mmap in nullmmap.c")
	}
	// gdb's detach let the guest run; the rig stops it again.
	l.waitFor(t, "stopped it again", 30*time.Second)
	if err := syscall.Kill(qemu, 0); err != nil {
		t.Fatalf("QEMU is gone before Ctrl-C: %v", err)
	}
	l.cmd.Process.Signal(os.Interrupt)
	if code := l.wait(t, time.Minute); code != verdict.ExitModule || !strings.Contains(l.output(), "FAIL [guest-crash]: the kernel reported BUG: kernel NULL pointer dereference in nullmmap_mmap") {
		t.Errorf("exit %d; want %d and the crash's verdict", code, verdict.ExitModule)
	}
	if rep := readDoc(t, js).Cells[0].Result; rep.Class != verdict.GuestCrash {
		t.Errorf("the -json report's class is %s", rep.Class)
	}
	if err := syscall.Kill(qemu, 0); err == nil {
		t.Errorf("QEMU (pid %d) outlived the rig", qemu)
	}
	assertNoQEMU(t, l.cmd.Process.Pid)
	assertNoGDBSocket(t, gdbinit)
}

// On the debug kernel, which has debug info and the kernel's gdb scripts,
// the gdbinit loads them: lx-dmesg reads the guest's log, and bt names the
// kernel's frames under the module's by their source lines too.
func TestGDBKernelScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	nightlyKernel(t, "debug")
	l := startRig(t, "-gdb", "-config", "debug", "-checks", "reader")
	gdb, gdbinit := attachCommand(t, l, "then continue")
	out := gdbBatch(t, gdb, gdbinit, "lx-dmesg", "break mymap_mmap", "continue", "bt 4", "continue")
	if !strings.Contains(out, "mymap: loading out-of-tree module taints kernel.") {
		t.Errorf("lx-dmesg did not print the guest's log")
	}
	// Debian's 6.1 calls the handler from call_mmap (inlined) in
	// mmap_file, from __mmap_region.
	if !regexp.MustCompile(`(?m)^#[1-3] +(0x[0-9a-f]+ in )?\w*mmap_region \(.*\) at \S*mm/mmap\.c:\d+$`).MatchString(out) {
		t.Errorf("bt does not name the kernel's caller, mmap_region, at its line of mm/mmap.c")
	}
	if code := l.wait(t, 5*time.Minute); code != 0 {
		t.Errorf("exit %d; want a pass", code)
	}
}
