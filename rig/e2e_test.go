package main

// End-to-end tests: they build the rig, then run it as a user would, on the
// real kernel, module and QEMU. The first one builds the kernel into the
// shared cache (about 4 minutes on 2 cores); the rest reuse it.
//
// With -short they still build everything, but boot nothing.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/rig/runner"
)

var rigBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rig-e2e-")
	if err != nil {
		panic(err)
	}
	rigBin = filepath.Join(dir, "rig")
	if out, err := exec.Command("go", "build", "-o", rigBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code      int
	out       string
	artifacts string
}

// runRig runs the rig binary with args and its own artifact directory.
func runRig(t *testing.T, args ...string) result {
	t.Helper()
	art := filepath.Join(t.TempDir(), "artifacts")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	full := append([]string{"-artifacts", art}, args...)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		full = append([]string{args[0], "-artifacts", art}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, rigBin, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	assertNoQEMU(t, cmd.Process.Pid)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run rig: %v", err)
	}
	t.Logf("rig %s -> exit %d\n%s", strings.Join(args, " "), code, out.String())
	return result{code: code, out: out.String(), artifacts: art}
}

// assertNoQEMU fails if the QEMU of the rig with this pid is still alive.
func assertNoQEMU(t *testing.T, rigPid int) {
	t.Helper()
	name := runner.QEMUName(rigPid)
	out, _ := exec.Command("pgrep", "-af", "qemu-system").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "-name "+name+" ") {
			t.Errorf("QEMU outlived the rig: %s", line)
		}
	}
}

func fixture(name string) string {
	return filepath.Join("..", "testdata", "modules", name)
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		r := runRig(t, "-build-only")
		if r.code != 0 || !strings.Contains(r.out, "BUILT:") {
			t.Fatalf("-build-only: exit %d; want 0 and BUILT", r.code)
		}
		t.Skip("-short: built everything; skipping the VM")
	}
	r := runRig(t)
	if r.code != 0 {
		t.Fatalf("exit %d; want 0 (pass)", r.code)
	}
	if !strings.Contains(r.out, "\n0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n") {
		t.Error("the output lacks the ten bytes 0..9, one per line")
	}
	if !regexp.MustCompile(`(?m)^PASS: /dev/mymap maps the expected 10 bytes and meets the contract \(7 cases\)`).MatchString(r.out) {
		t.Error("no PASS verdict with the contract")
	}
	assertContract(t, r.out)
	if !strings.Contains(r.out, "mymap.ko, 0 warning(s) with W=1") {
		t.Error("the driver does not build warning-free with W=1")
	}
	for _, stage := range []string{"setup", "kernel", "module", "initramfs", "boot"} {
		if !regexp.MustCompile(`(?m)^  ` + stage + ` +[0-9.]+m?s `).MatchString(r.out) {
			t.Errorf("stage %s did not print its duration", stage)
		}
	}
	for _, f := range []string{"console.log", "qemu.cmdline", "qemu.log", "kernel.config", "mymap.ko", "run.json"} {
		if _, err := os.Stat(filepath.Join(r.artifacts, f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}
	con, _ := os.ReadFile(filepath.Join(r.artifacts, "console.log"))
	if !bytes.Contains(con, []byte("@mmaprig@ end ")) {
		t.Error("console.log lacks the guest's end marker")
	}
	if !bytes.Contains(con, []byte(`@mmaprig@ unload {"ok":true`)) {
		t.Error("the module was not unloaded after the checks")
	}

	// A second run rebuilds nothing.
	r = runRig(t)
	if r.code != 0 {
		t.Fatalf("second run: exit %d", r.code)
	}
	for _, stage := range []string{"kernel", "module"} {
		if !regexp.MustCompile(`(?m)^  ` + stage + ` +\S+  cached `).MatchString(r.out) {
			t.Errorf("second run: the %s stage was not a cache hit", stage)
		}
	}
	if !strings.Contains(r.out, "u-root base cached") {
		t.Error("second run: the u-root base was rebuilt")
	}
}

// Each broken module must make the rig exit 1, name the failure, and point
// at the serial log.
func TestBrokenModules(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		fixture string
		args    []string
		class   string
		says    string
	}{
		{"wrongbytes", nil, "contract", "wrong bytes in the mapped page: got [9 8 7 6 5 4 3 2 1 0], want [0 1 2 3 4 5 6 7 8 9]"},
		{"nobuild", nil, "module-build", "this_symbol_does_not_exist"},
		{"nodevice", nil, "module-load", "the module loaded but created no /dev/mymap"},
		{"hangload", []string{"-load-timeout", "3s"}, "module-load", "module init did not return within 3s"},
		{"nullmmap", nil, "guest-crash", "BUG: kernel NULL pointer dereference"},
		// The seed's driver: it maps 2 pages, offsets and MAP_PRIVATE.
		{"twopages", nil, "contract", "contract case(s) failed: refuses_bad_maps"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := runRig(t, append([]string{"-module", fixture(tc.fixture)}, tc.args...)...)
			if r.code != 1 {
				t.Errorf("exit %d; want 1 (the module failed)", r.code)
			}
			if !strings.Contains(r.out, "FAIL ["+tc.class+"]") {
				t.Errorf("the verdict is not %s", tc.class)
			}
			if !strings.Contains(r.out, tc.says) {
				t.Errorf("the output does not say %q", tc.says)
			}
			if tc.class == "module-build" {
				// Nothing booted: the build log is the log to read.
				if !strings.Contains(r.out, "module-build.log") || !strings.Contains(r.out, "serial log: none; the VM did not start") {
					t.Error("a module that does not build must point at its build log, and say no VM ran")
				}
			} else {
				m := regexp.MustCompile(`(?m)^serial log: (\S+)$`).FindStringSubmatch(r.out)
				if m == nil {
					t.Fatal("the output does not name the serial log")
				}
				if _, err := os.Stat(m[1]); err != nil {
					t.Errorf("serial log %s: %v", m[1], err)
				}
			}
			t.Logf("%s: verdict in %v", tc.fixture, time.Since(start))
		})
	}
}

func TestBadUsage(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"-kernel", "9.99"},
		{"-kernel", "six"},
		{"-module", empty},
		{"-module", filepath.Join(empty, "missing")},
		{"-expect", "1,2,300"},
		{"-config", "nonesuch"},
		{"-boot-timeout", "-1s"},
		{"-accel", "hvf"},
		{"-cell", "no-such-cell"},
		{"-cache", "/proc/mmaprig-cache"},
		{"-channel", "carrier-pigeon"},
		{"-checks", "some"},
		{"-mem", "12"},
		{"-qemu", "/nonexistent/qemu-system-x86_64", "-build-only"},
		{"nonsense-command"},
	} {
		r := runRig(t, args...)
		if r.code != 2 {
			t.Errorf("rig %v: exit %d; want 2 (bad usage or setup)", args, r.code)
		}
		if !strings.Contains(r.out, "rig:") && !strings.Contains(r.out, "FAIL [setup]") {
			t.Errorf("rig %v: no clear error", args)
		}
	}
}

// The driver is clean under the kernel's own checkpatch.pl --strict.
func TestDriverStyle(t *testing.T) {
	src, err := exec.Command(rigBin, "srcdir").Output()
	if err != nil {
		t.Fatalf("rig srcdir: %v", err)
	}
	script := filepath.Join(strings.TrimSpace(string(src)), "scripts", "checkpatch.pl")
	out, err := exec.Command("perl", script, "--strict", "--no-tree", "--show-types", "-f", "../module/mymap.c").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "total: 0 errors, 0 warnings, 0 checks") {
		t.Errorf("checkpatch --strict module/mymap.c: %v\n%s", err, out)
	}
}

// The SSH channel proves the same contract as the serial one.
func TestSSHChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-channel", "ssh")
	if r.code != 0 || !strings.Contains(r.out, "\n0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n") {
		t.Fatalf("-channel ssh: exit %d; want 0 and the bytes 0..9", r.code)
	}
	// A wrong module fails the same way over SSH.
	r = runRig(t, "-channel", "ssh", "-module", fixture("wrongbytes"))
	if r.code != 1 || !strings.Contains(r.out, "FAIL [contract]: wrong bytes") {
		t.Errorf("-channel ssh, wrongbytes: exit %d; want 1 and a contract failure", r.code)
	}
}

// u-root's sshd loses a failing command's status; the rig's guest sshd
// must not: a command that exits 3 makes `rig exec` exit 3.
func TestSSHExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "exec", "--", "gosh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
	if r.code != 3 {
		t.Errorf("exit %d; want the guest command's 3", r.code)
	}
	for _, want := range []string{"to-stdout", "to-stderr"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	r = runRig(t, "exec", "--", "cat", "/nonexistent")
	if r.code != 1 {
		t.Errorf("cat /nonexistent: exit %d; want 1, not 255 (exit status missing)", r.code)
	}
}

var contractCases = []string{"reader_output", "refuses_bad_maps", "shared_coherence", "user_kernel_agree",
	"concurrent_mappers", "unload_reload", "kernel_clean"}

// assertContract checks that every contract case ran and passed, and that
// none was skipped: the project's own driver implements all of them.
func assertContract(t *testing.T, out string) {
	t.Helper()
	for _, c := range contractCases {
		if !regexp.MustCompile(`(?m)^  ok    ` + c + `$`).MatchString(out) {
			t.Errorf("contract case %s did not pass", c)
		}
	}
	if strings.Contains(out, "  SKIP  ") {
		t.Error("a contract case was skipped for module/")
	}
}

// A driver without read()/write() passes, with that case skipped and the
// reason shown, rather than failed.
func TestForeignDriverSkips(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-module", fixture("mmaponly"))
	if r.code != 0 {
		t.Fatalf("exit %d; want 0", r.code)
	}
	if !strings.Contains(r.out, "  SKIP  user_kernel_agree: the driver has no read()") {
		t.Error("user_kernel_agree was not skipped with its reason")
	}
}

// The debug kernel: the driver passes the whole contract with no report; a
// mutex under a spinlock passes the default kernel but not the debug one;
// the seed's 2-page mapping fails on both.
func TestDebugKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the debug kernel and boots VMs")
	}
	r := runRig(t, "-config", "debug")
	if r.code != 0 {
		t.Fatalf("module/ on the debug kernel: exit %d; want 0", r.code)
	}
	assertContract(t, r.out)
	con, _ := os.ReadFile(filepath.Join(r.artifacts, "console.log"))
	if !bytes.Contains(con, []byte("KernelAddressSanitizer initialized")) {
		t.Error("the debug kernel did not boot with KASAN")
	}

	r = runRig(t, "-module", fixture("sleepinatomic"))
	if r.code != 0 {
		t.Errorf("sleepinatomic on the default kernel: exit %d; want 0 (it says nothing)", r.code)
	}
	r = runRig(t, "-config", "debug", "-module", fixture("sleepinatomic"))
	if r.code != 1 || !strings.Contains(r.out, "FAIL [guest-crash]: the kernel reported BUG: sleeping function called from invalid context") {
		t.Errorf("sleepinatomic on the debug kernel: exit %d; want 1 with the report's title", r.code)
	}
	r = runRig(t, "-config", "debug", "-module", fixture("twopages"))
	if r.code != 1 || !strings.Contains(r.out, "refuses_bad_maps") {
		t.Errorf("twopages on the debug kernel: exit %d; want 1, refuses_bad_maps", r.code)
	}
}
