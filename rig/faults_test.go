package main

// Fault injection: every failure is classified, comes within a bounded
// time, and leaves nothing behind. Faults come from fixture modules, from
// the kernel command line, and from the host side: QEMU killed, the guest
// frozen through QMP, its network taken down, signals to the rig.

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// live is a rig running in the background whose output can be waited on.
type live struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	code int
}

func startRig(t *testing.T, args ...string) *live {
	t.Helper()
	l := &live{done: make(chan struct{})}
	full := append([]string{"-artifacts", filepath.Join(t.TempDir(), "artifacts")}, args...)
	l.cmd = exec.Command(rigBin, full...)
	pr, pw, _ := os.Pipe()
	l.cmd.Stdout, l.cmd.Stderr = pw, pw
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.mu.Lock()
			l.out.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
		}
		err := l.cmd.Wait()
		l.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			l.code = ee.ExitCode()
		}
		close(l.done)
	}()
	t.Cleanup(func() {
		l.cmd.Process.Kill()
		<-l.done
	})
	return l
}

func (l *live) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// waitFor waits until the output contains s.
func (l *live) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(l.output(), s) {
		select {
		case <-l.done:
			t.Fatalf("the rig exited before printing %q:\n%s", s, l.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v:\n%s", s, timeout, l.output())
		}
	}
}

func (l *live) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(timeout):
		t.Fatalf("the rig did not exit within %v:\n%s", timeout, l.output())
	}
	t.Logf("rig exit %d\n%s", l.code, l.output())
	return l.code
}

// stuckRun are arguments for a run that cannot end on its own for a
// minute: the reader sleeps uninterruptibly in the module's mmap. A test
// that signals the rig, or kills its QEMU, uses it so that the run is
// still going when it acts, however fast a restore is.
func stuckRun(args ...string) []string {
	// -boot cold: the QEMU the test finds is the one that runs the guest,
	// never a restore started early while the module builds. The guest
	// waits in real time (the default; not -skip-idle): a guest that
	// skipped its idle time would reach the reader's deadline in a blink.
	return append([]string{"-boot", "cold", "-module", fixture("stallmmap"), "-module-params", "mode=sleep", "-check-timeout", "60s"}, args...)
}

// qemuOf waits for the QEMU of a running rig and returns its pid.
func (l *live) qemuOf(t *testing.T, timeout time.Duration) int {
	t.Helper()
	name := runner.QEMUName(l.cmd.Process.Pid)
	deadline := time.Now().Add(timeout)
	for {
		out, _ := exec.Command("pgrep", "-f", "--", "-name "+name+" ").Output()
		if pid, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			return pid
		}
		select {
		case <-l.done:
			t.Fatalf("the rig exited before its QEMU appeared:\n%s", l.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rig's QEMU did not appear within %v:\n%s", timeout, l.output())
		}
	}
}

// descendants lists the pids whose ancestry reaches pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		p, _ := strconv.Atoi(filepath.Base(d))
		pp, _ := strconv.Atoi(fields[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func alive(pids []int) []int {
	var out []int
	for _, p := range pids {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
			out = append(out, p)
		}
	}
	return out
}

// verdictWithin runs the rig with -timeout limit and checks class and
// message: a rig that hangs ends interrupted, in the wrong class, rather
// than the test measuring wall time.
func verdictWithin(t *testing.T, limit time.Duration, class verdict.Class, says string, args ...string) *result.Run {
	t.Helper()
	start := time.Now()
	r := runRig(t, append([]string{"-timeout", limit.String()}, args...)...)
	rep := wantVerdict(t, r, class, says)
	t.Logf("%s: %s in %v", class, says, time.Since(start).Round(10*time.Millisecond))
	return rep
}

func TestFaultKernelPanicsDuringBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	verdictWithin(t, 5*time.Minute, verdict.Boot, "Kernel panic - not syncing",
		"-kernel-args", "rdinit=/nonexistent init=/nonexistent", "-checks", "reader")
}

func TestFaultGuestHangsAfterReady(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	rep := verdictWithin(t, 5*time.Minute, verdict.Channel, "VM status paused",
		"-inject", "pause-after-ready", "-load-timeout", "3s", "-checks", "reader")
	if rep.Step != "insmod" {
		t.Errorf("the verdict is about step %q; want insmod, the step the frozen guest never reported", rep.Step)
	}
}

func TestFaultSSHNeverAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	verdictWithin(t, 5*time.Minute, verdict.Channel, "the SSH channel failed",
		"-channel", "ssh", "-inject", "net-down", "-checks", "reader")
}

func TestFaultQEMUKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	l := startRig(t, stuckRun()...)
	qemu := l.qemuOf(t, 3*time.Minute)
	time.Sleep(time.Second) // into the run, which cannot end for a minute
	syscall.Kill(qemu, syscall.SIGKILL)
	// The run could not end for a minute on its own: an exit before that
	// is the rig noticing QEMU's death.
	if code := l.wait(t, 30*time.Second); code != verdict.ExitNoResult || !strings.Contains(l.output(), "FAIL [infra]: QEMU exited") {
		t.Errorf("exit %d; want %d and an infra verdict", code, verdict.ExitNoResult)
	}
}

// A signal at any stage stops everything the rig started, removes its
// temporary files and any partial cache entry, and keeps the artifacts.
func TestSignalsLeaveNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		stage string
		extra time.Duration // after QEMU appeared
		sig   syscall.Signal
	}{
		{"boot", 0, syscall.SIGINT},
		{"checks", 3 * time.Second, syscall.SIGTERM},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			l := startRig(t, stuckRun()...)
			l.qemuOf(t, 3*time.Minute)
			time.Sleep(tc.extra)
			kids := descendants(l.cmd.Process.Pid)
			if len(kids) == 0 {
				t.Fatal("the rig had no child processes to stop")
			}
			l.cmd.Process.Signal(tc.sig)
			code := l.wait(t, 30*time.Second)
			if code == 0 {
				t.Errorf("exit 0 after %v", tc.sig)
			}
			if left := alive(kids); len(left) > 0 {
				t.Errorf("processes the rig started are still running: %v", left)
			}
			if !strings.Contains(l.output(), "artifacts: ") {
				t.Error("the artifact directory was not printed")
			}
		})
	}
	t.Run("kernel build", func(t *testing.T) {
		cache := freshCache(t, false)
		l := startRig(t, "-cache", cache)
		// Unpacking the source and configuring come first: on a fresh
		// machine whose two cores other test runs kept 11 to 15 deep,
		// they took longer than 5 minutes once.
		l.waitFor(t, "building (", 10*time.Minute)
		time.Sleep(2 * time.Second)
		kids := descendants(l.cmd.Process.Pid)
		if len(kids) == 0 {
			t.Fatal("no make running")
		}
		l.cmd.Process.Signal(syscall.SIGTERM)
		l.wait(t, 60*time.Second)
		time.Sleep(500 * time.Millisecond)
		if left := alive(kids); len(left) > 0 {
			t.Errorf("make or compilers still running: %v", left)
		}
		if tmp, _ := filepath.Glob(filepath.Join(cache, "kernel", "*.tmp-*")); len(tmp) > 0 {
			t.Errorf("partial cache entries left: %v", tmp)
		}
		if entries, _ := filepath.Glob(filepath.Join(cache, "kernel", "*")); len(entries) > 0 {
			for _, e := range entries {
				if !strings.HasSuffix(e, ".lock") {
					t.Errorf("an interrupted build became a cache entry: %s", e)
				}
			}
		}
	})
}

// freshCache makes an empty cache that shares the default cache's
// downloads and, if withKernel, its built kernels, by hard links.
func freshCache(t *testing.T, withKernel bool) string {
	t.Helper()
	dirs := []string{"downloads", "apt-versions"}
	if withKernel {
		dirs = append(dirs, "kernel", "src")
	}
	return linkedCache(t, dirs...)
}

// Two rigs started at once on one cache: one builds the u-root base, the
// other waits for it and reuses it.
func TestConcurrentRigsShareTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	cache := freshCache(t, true)
	a := startRig(t, "-cache", cache, "-checks", "reader")
	b := startRig(t, "-cache", cache, "-checks", "reader")
	ca, cb := a.wait(t, 5*time.Minute), b.wait(t, 5*time.Minute)
	if ca != 0 || cb != 0 {
		t.Fatalf("exits %d and %d; want both 0", ca, cb)
	}
	built := strings.Count(a.output()+b.output(), "u-root base built")
	cached := strings.Count(a.output()+b.output(), "u-root base cached")
	if built != 1 || cached != 1 {
		t.Errorf("the base was built %d times and reused %d times; want 1 and 1", built, cached)
	}
}

// kill -9 in the middle of a build leaves nothing a later run trusts.
func TestKill9MidBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds")
	}
	cache := freshCache(t, true)
	l := startRig(t, "-cache", cache, "-checks", "reader")
	l.waitFor(t, "  kernel ", 2*time.Minute) // now the base builds
	time.Sleep(2 * time.Second)
	l.cmd.Process.Signal(syscall.SIGKILL)
	l.wait(t, 10*time.Second)
	entries, _ := filepath.Glob(filepath.Join(cache, "initramfs", "*"))
	for _, e := range entries {
		if !strings.Contains(e, ".tmp-") && !strings.HasSuffix(e, ".lock") {
			t.Fatalf("a killed build left an entry: %s", e)
		}
	}
	r := runRig(t, "-cache", cache, "-checks", "reader")
	if r.code != 0 || !strings.Contains(stageOf(t, r.report(t), layout.StageInitramfs).Summary, "u-root base built") {
		t.Errorf("the run after the kill: exit %d; want 0 and a fresh base build", r.code)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "initramfs", "*.tmp-*")); len(left) > 0 {
		t.Errorf("the killed build's leftovers were not removed: %v", left)
	}
}

// Bad input gets a clear message and exit 2, and never a cache entry.
func TestBadInputPoisonsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: configures a kernel")
	}
	cache := freshCache(t, true)
	before, _ := filepath.Glob(filepath.Join(cache, "kernel", "*"))
	dir := t.TempDir()

	frag := filepath.Join(dir, "bad.config")
	os.WriteFile(frag, []byte("CONFIG_MMAPRIG_NO_SUCH_SYMBOL=y\n# needs CONFIG_KASAN, which is off:\nCONFIG_KASAN_INLINE=y\n"), 0o644)
	r := runRig(t, "-cache", cache, "-config", frag)
	if r.code != 2 {
		t.Errorf("bad fragment: exit %d; want 2", r.code)
	}
	for _, want := range []string{"CONFIG_MMAPRIG_NO_SUCH_SYMBOL=y", "CONFIG_KASAN_INLINE=y", "did not survive olddefconfig"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("bad fragment: the error does not name %q", want)
		}
	}

	corrupt := filepath.Join(dir, "linux-corrupt.tar.xz")
	os.WriteFile(corrupt, []byte("\xfd7zXZ\x00 this is not a tarball"), 0o644)
	r = runRig(t, "-cache", cache, "-kernel-src", corrupt)
	if r.code != 2 || !strings.Contains(r.out, "FAIL [setup]") {
		t.Errorf("corrupt tarball: exit %d; want 2 and a setup failure", r.code)
	}

	r = runRig(t, "-cache", cache, "-kernel-src", "http://127.0.0.1:9/linux-6.6.74.tar.xz", "-kernel-sha256", "nothex")
	if r.code != 2 {
		t.Errorf("malformed sha256: exit %d; want 2", r.code)
	}

	after, _ := filepath.Glob(filepath.Join(cache, "kernel", "*"))
	for _, e := range after {
		if !strings.HasSuffix(e, ".lock") && !slices.Contains(before, e) {
			t.Errorf("bad input left a kernel cache entry: %s", e)
		}
	}
}

// No private key is ever committed: the rig makes fresh keys for each run.
func TestNoPrivateKeysInTheRepository(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		b, err := os.ReadFile(filepath.Join("..", f))
		// The needle is split so that this file does not match itself.
		if err == nil && bytes.Contains(b, []byte("PRIVATE KEY"+"-----")) {
			t.Errorf("%s holds a private key", f)
		}
	}
}

// The run's temporary files, among them the initramfs that holds its SSH
// keys, are gone afterwards; the artifacts stay.
func TestTemporaryFilesRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-v", "-channel", "ssh", "-checks", "reader")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	m := regexp.MustCompile(`msg="working directory" dir=(\S+)`).FindStringSubmatch(r.out)
	if m == nil {
		t.Fatal("-v did not name the working directory")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the working directory %s (initramfs, keys, QMP socket) is still there: %v", m[1], err)
	}
	if _, err := os.Stat(filepath.Join(r.artifacts, "console.log")); err != nil {
		t.Errorf("the artifacts are gone: %v", err)
	}
}
