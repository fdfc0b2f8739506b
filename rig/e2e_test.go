package main

// End-to-end tests: they build the rig, then run it as a user would, on the
// real kernel, module and QEMU, and judge it by its -json report and its
// exit code. The first one builds the kernel into the shared cache (about
// 4 minutes on 2 cores); the rest reuse it. With -short they build and
// boot nothing.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
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

type rigRun struct {
	code      int
	out       string
	artifacts string
	// rep is the run's -json report; nil for commands that write none.
	rep *result.Run
}

// runRig runs the rig binary with args, its own artifact directory and a
// -json report, and checks that its QEMU is gone afterwards.
func runRig(t *testing.T, args ...string) rigRun {
	t.Helper()
	return runRigEnv(t, nil, args...)
}

// runRigEnv is runRig with env added to its environment, which never
// has the tests' own GITHUB_ACTIONS: in this project's CI, a fixture's
// failure must not become an annotation on the project's pull request.
func runRigEnv(t *testing.T, env []string, args ...string) rigRun {
	t.Helper()
	dir := t.TempDir()
	art, js := filepath.Join(dir, "artifacts"), filepath.Join(dir, "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	own := []string{"-artifacts", art}
	if len(args) == 0 || !slices.Contains([]string{"srcdir", "key"}, args[0]) {
		own = append(own, "-json", js)
	}
	full := append(own, args...)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		full = append(append([]string{args[0]}, own...), args[1:]...)
	}
	cmd := exec.CommandContext(ctx, rigBin, full...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GITHUB_ACTIONS=") }), env...)
	r := collect(t, cmd, art, js)
	t.Logf("rig %s -> exit %d\n%s", strings.Join(args, " "), r.code, r.out)
	return r
}

// collect runs cmd, a rig (or a command that execs one, keeping its pid),
// checks that its QEMU is gone afterwards, and reads its -json report.
func collect(t *testing.T, cmd *exec.Cmd, art, js string) rigRun {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	assertNoQEMU(t, cmd.Process.Pid)
	r := rigRun{out: out.String(), artifacts: art}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run rig: %v", err)
	}
	if b, err := os.ReadFile(js); err == nil {
		doc := parseDoc(t, b)
		if len(doc.Cells) == 0 {
			t.Fatalf("the -json report has no cell:\n%s", b)
		}
		r.rep = &doc.Cells[0].Result
	}
	return r
}

// parseDoc parses a -json document of the current schema.
func parseDoc(t testing.TB, b []byte) result.Document {
	t.Helper()
	var doc result.Document
	if err := json.Unmarshal(b, &doc); err != nil || doc.Schema != result.Schema {
		t.Fatalf("the -json report does not parse as schema %d (%v):\n%s", result.Schema, err, b)
	}
	return doc
}

// readDoc reads a -json document of the current schema.
func readDoc(t testing.TB, path string) result.Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the -json report: %v", err)
	}
	return parseDoc(t, b)
}

// stageOf finds a stage in a run's report, failing the test without it.
func stageOf(t testing.TB, rep *result.Run, name string) result.Stage {
	t.Helper()
	for _, s := range rep.Stages {
		if s.Stage == name {
			return s
		}
	}
	t.Fatalf("no %s stage in the report: %+v", name, rep.Stages)
	return result.Stage{}
}

// wantNoWarnings fails when the module stage of a run's report did not
// pass warning-free with W=1.
func wantNoWarnings(t testing.TB, rep *result.Run, what string) {
	t.Helper()
	if st := stageOf(t, rep, layout.StageModule); st.Failed || len(st.Warnings) > 0 || !strings.HasSuffix(st.Summary, ", 0 warning(s) with W=1") {
		t.Errorf("%s: the driver does not build warning-free with W=1: %+v", what, st)
	}
}

// report returns the run's -json report, failing the test without one.
func (r rigRun) report(t *testing.T) *result.Run {
	t.Helper()
	if r.rep == nil {
		t.Fatalf("the run wrote no -json report (exit %d)", r.code)
	}
	return r.rep
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

// wantVerdict checks a run's class, its exit code, and that its message
// says says.
func wantVerdict(t *testing.T, r rigRun, class verdict.Class, says string) *result.Run {
	t.Helper()
	rep := r.report(t)
	if rep.Class != class || r.code != class.ExitCode() || rep.ExitCode != r.code {
		t.Errorf("class %s, exit %d (report says %d); want %s and exit %d", rep.Class, r.code, rep.ExitCode, class, class.ExitCode())
	}
	if !strings.Contains(rep.Verdict(), says) {
		t.Errorf("the verdict %q does not say %q", rep.Verdict(), says)
	}
	return rep
}

var contractCases = []string{"reader_output", "refuses_bad_maps", "shared_coherence", "user_kernel_agree",
	"concurrent_mappers", "unload_reload", "kernel_clean"}

// assertContract checks that every contract case ran and passed, and that
// none was skipped: the project's own driver implements all of them.
func assertContract(t *testing.T, rep *result.Run) {
	t.Helper()
	var names []string
	for _, c := range rep.Cases {
		names = append(names, c.Name)
		if c.Result != "pass" {
			t.Errorf("contract case %s: %s %s", c.Name, c.Result, c.Reason)
		}
	}
	if !slices.Equal(names, contractCases) {
		t.Errorf("contract cases %q, want %q", names, contractCases)
	}
}

// defaultOptions are the options of a run with the default flags, as far
// as the terminal's rendering of a result needs them.
func defaultOptions() runner.Options {
	return runner.Options{Devices: []wire.Device{{Path: wire.DefaultDevice}}, Expect: wire.DefaultExpect, Checks: runner.ChecksContract}
}

// wantTerminal checks that the run's terminal output ends with what
// printResult renders from its -json report: the terminal shows the
// result the report carries, bytes, cases and verdict line alike.
func wantTerminal(t *testing.T, r rigRun, opts runner.Options) {
	t.Helper()
	var b strings.Builder
	printResult(&b, *r.report(t), opts)
	if !strings.HasSuffix(r.out, b.String()) {
		t.Errorf("the terminal does not end with the report's rendering:\n%s", b.String())
	}
}

var tenBytes = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a kernel and boots VMs")
	}
	r := runRig(t)
	rep := wantVerdict(t, r, verdict.Pass, "")
	if !slices.Equal(rep.Output, tenBytes) {
		t.Errorf("the reader printed %q, want the ten bytes 0..9", rep.Output)
	}
	assertContract(t, rep)
	wantTerminal(t, r, defaultOptions())
	wantNoWarnings(t, rep, "module/")
	var stages []string
	for _, s := range rep.Stages {
		stages = append(stages, s.Stage)
	}
	if !slices.Equal(stages, []string{"setup", "kernel", "initramfs", "module", "boot"}) {
		t.Errorf("stages %q", stages)
	}
	for _, f := range []string{"console.log", "qemu.cmdline", "qemu.log", "kernel.config", "mymap.ko", "run.json", "engine.log", "ktap.txt", "dmesg.txt"} {
		if _, err := os.Stat(filepath.Join(r.artifacts, f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}
	run, _ := os.ReadFile(filepath.Join(r.artifacts, "run.json"))
	if rep.Nonce == "" || !bytes.Contains(run, []byte(`"nonce": "`+rep.Nonce+`"`)) {
		t.Errorf("run.json does not hold the run's nonce %q", rep.Nonce)
	}
	// The engine's recording replays to the same verdict.
	assertReplay(t, r.artifacts, verdict.Pass)

	// A second run rebuilds nothing, and has a fresh nonce.
	r2 := runRig(t)
	rep2 := wantVerdict(t, r2, verdict.Pass, "")
	for _, s := range rep2.Stages {
		if s.Stage != "setup" && s.Stage != "boot" && !s.Cached {
			t.Errorf("second run: the %s stage was not a cache hit", s.Stage)
		}
	}
	if rep2.Nonce == rep.Nonce {
		t.Error("two runs had the same nonce")
	}
}

// assertReplay replays a run's engine.log through a fresh engine.
func assertReplay(t *testing.T, artifacts string, want verdict.Class) {
	t.Helper()
	f, err := os.Open(filepath.Join(artifacts, "engine.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := verdict.ParseRecording(f)
	if err != nil {
		t.Fatalf("engine.log: %v", err)
	}
	if got := rec.Replay(); got.Class != want {
		t.Errorf("engine.log replays to %s (%s), want %s", got.Class, got.Msg, want)
	}
}

// Each broken module must make the rig exit 1 with its class, name the
// failure, and point at the serial log.
func TestBrokenModules(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		fixture string
		args    []string
		class   verdict.Class
		says    string
		title   string
	}{
		{"wrongbytes", nil, verdict.Contract, "wrong bytes in the mapped page: got [9 8 7 6 5 4 3 2 1 0], want [0 1 2 3 4 5 6 7 8 9]", ""},
		{"nobuild", nil, verdict.ModuleBuild, "the module did not compile", ""},
		{"nodevice", nil, verdict.ModuleLoad, "the module loaded but created no /dev/mymap", ""},
		{"hangload", []string{"-load-timeout", "3s"}, verdict.ModuleLoad, "module init did not return within 3s", ""},
		{"nullmmap", nil, verdict.GuestCrash, "BUG: kernel NULL pointer dereference", "nullmmap_mmap"},
		// The seed's driver: it maps 2 pages, offsets and MAP_PRIVATE.
		{"twopages", nil, verdict.Contract, "contract case(s) failed: refuses_bad_maps", ""},
		// A page lost on every load: the leak check must see it.
		{"leaky", nil, verdict.Contract, "unload_reload", ""},
		// vm_insert_page() of a kzalloc(PAGE_SIZE) buffer: it works on
		// SLOB, and fails on the SLUB base kernel as on every distribution's.
		{"slabinsert", nil, verdict.Contract, "mmap /dev/mymap: 4096 bytes, MAP_SHARED: invalid argument", ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			r := runRig(t, append([]string{"-module", fixture(tc.fixture)}, tc.args...)...)
			rep := wantVerdict(t, r, tc.class, tc.says)
			if !strings.Contains(rep.Title, tc.title) {
				t.Errorf("title %q does not name %q", rep.Title, tc.title)
			}
			if tc.class == verdict.ModuleBuild {
				// Nothing booted: the build log is the log to read.
				if !strings.Contains(r.out, "module-build.log") || !strings.Contains(r.out, "serial log: none; the VM did not start") {
					t.Error("a module that does not build must point at its build log, and say no VM ran")
				}
				return
			}
			if _, err := os.Stat(rep.ConsoleLog); err != nil || !strings.Contains(r.out, "serial log: "+rep.ConsoleLog) {
				t.Errorf("the output does not name the serial log %s: %v", rep.ConsoleLog, err)
			}
		})
	}
}

// Bad usage through the built binary: exit 2 and a clear message, from
// each step that finds it (parsing, resolving, the run's stages). Each
// misuse's exact message is checked in process, in cli_test.go; these are
// the ones that need the built rig's child processes, and one of each kind.
func TestBadUsage(t *testing.T) {
	empty := t.TempDir()
	notOurs := t.TempDir()
	os.WriteFile(filepath.Join(notOurs, "thesis.tex"), []byte("precious"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-kernel", "six"}, `rig: -kernel "six": want a version like 6.1 or 6.12, or debian:6.12-cloud for Debian's prebuilt kernel`},
		{[]string{"lint", "-html", "x.html"}, "rig: rig lint has no flag -html (rig run and rig matrix take it); see rig lint -h"},
		{[]string{"exec", "-channel", "serial", "--", "true"}, "rig: rig exec has no flag -channel (rig run, rig matrix and rig watch take it); see rig exec -h"},
		{[]string{"-config", "nonesuch"}, `rig: -config: unknown config fragment "nonesuch" (have: ` + strings.Join(kernel.FragmentNames(), ", ") + ", or give a file's path)"},
		{[]string{"-module", empty}, "FAIL [setup]: -module " + empty + ": give a directory with the module's Kbuild, Makefile or dkms.conf"},
		// Found once the module is built, after the initramfs.
		{[]string{"-checks", "none", "-guest-test", "../testdata/modules/wrongbytes/wrongbytes.c", "-build-only"},
			"FAIL [setup]: -guest-test ../testdata/modules/wrongbytes/wrongbytes.c"},
		{[]string{"-artifacts", notOurs}, "rig: -artifacts " + notOurs + " holds files that are not a rig run's artifacts; give a new or empty directory"},
		{[]string{"nonsense-command"}, `rig: unknown command "nonsense-command"; the commands are run, matrix, exec, shell, watch, lint, key, kdir, srcdir (run is the default); see rig help`},
	} {
		args := tc.args
		if !slices.Contains(args, "-artifacts") {
			i := slices.Index(args, "--")
			if i < 0 {
				i = len(args)
			}
			args = slices.Insert(slices.Clone(args), i, "-artifacts", filepath.Join(t.TempDir(), "artifacts"))
		}
		out, err := exec.Command(rigBin, args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 2 || !slices.Contains(strings.Split(string(out), "\n"), tc.want) {
			t.Errorf("rig %v: exit %d; want 2 (bad usage or setup) and the line %q\n%s", args, code, tc.want, out)
		}
	}
	if !testing.Short() {
		// Checked against the built module's .modinfo: this one builds.
		r := runRig(t, "-module-params", "nosuchparam=1", "-build-only")
		if r.code != 2 || !strings.Contains(r.out, `the module has no parameter "nosuchparam"`) {
			t.Errorf("an unknown module parameter: exit %d; want 2, naming it", r.code)
		}
	}
	if b, err := os.ReadFile(filepath.Join(notOurs, "thesis.tex")); err != nil || string(b) != "precious" {
		t.Error("a directory that is not a rig's artifacts was touched")
	}
}

// The driver is clean under the kernel's own checkpatch.pl --strict.
func TestDriverStyle(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: unpacks the kernel source")
	}
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
	rep := wantVerdict(t, r, verdict.Pass, "")
	assertContract(t, rep)
	if !slices.Equal(rep.Output, tenBytes) {
		t.Errorf("-channel ssh: the reader printed %q", rep.Output)
	}
	assertReplay(t, r.artifacts, verdict.Pass)
	// A wrong module fails the same way over SSH.
	r = runRig(t, "-channel", "ssh", "-module", fixture("wrongbytes"))
	wantVerdict(t, r, verdict.Contract, "wrong bytes")
}

// u-root's sshd loses a failing command's status; the rig's guest sshd
// must not: a command that exits 3 makes `rig exec` exit 3.
func TestSSHExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "exec", "--", "gosh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
	if r.code != 3 || r.report(t).Exec == nil || r.rep.Exec.Exit != 3 {
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

// A driver without read()/write() passes, with that case skipped and the
// reason shown, rather than failed.
func TestForeignDriverSkips(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	rep := wantVerdict(t, runRig(t, "-module", fixture("mmaponly")), verdict.Pass, "")
	for _, c := range rep.Cases {
		if c.Name == "user_kernel_agree" && (c.Result != "skip" || !strings.Contains(c.Reason, "the driver has no read()")) {
			t.Errorf("user_kernel_agree = %s %q; want skip with its reason", c.Result, c.Reason)
		}
	}
}

// The debug kernel: the driver passes the whole contract with no report; a
// mutex under a spinlock passes the default kernel but not the debug one;
// the seed's 2-page mapping fails on both.
func TestDebugKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the debug kernel and boots VMs")
	}
	nightlyKernel(t, "debug")
	// -boot cold: a restored guest's console starts after the boot, and
	// the boot is what must show KASAN.
	r := runRig(t, "-config", "debug", "-boot", "cold")
	assertContract(t, wantVerdict(t, r, verdict.Pass, ""))
	con, _ := os.ReadFile(filepath.Join(r.artifacts, "console.log"))
	if !bytes.Contains(con, []byte("KernelAddressSanitizer initialized")) {
		t.Error("the debug kernel did not boot with KASAN")
	}
	run, _ := os.ReadFile(filepath.Join(r.artifacts, "run.json"))
	if !bytes.Contains(run, []byte("-leak-check=false")) {
		t.Error("the rig did not tell the contract that the debug kernel runs KASAN")
	}

	wantVerdict(t, runRig(t, "-module", fixture("sleepinatomic")), verdict.Pass, "")
	rep := wantVerdict(t, runRig(t, "-config", "debug", "-module", fixture("sleepinatomic")),
		verdict.GuestCrash, "the kernel reported BUG: sleeping function called from invalid context")
	if !strings.Contains(rep.Title, "sleepinatomic_mmap") {
		t.Errorf("title %q does not name the guilty function sleepinatomic_mmap", rep.Title)
	}
	wantVerdict(t, runRig(t, "-config", "debug", "-module", fixture("twopages")), verdict.Contract, "refuses_bad_maps")
}

// rig lint: module/ is clean; the seed's kmalloc+remap driver is flagged
// by the rig's own Coccinelle rule, with its file and line; bad input is
// exit 2.
func TestLint(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the kernel source and a built kernel")
	}
	lintRun := func(args ...string) (int, string) {
		cmd := exec.Command(rigBin, append([]string{"lint"}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		t.Logf("rig lint %s -> exit %d\n%s", strings.Join(args, " "), code, out)
		return code, string(out)
	}
	if code, out := lintRun("-module", "../module"); code != 0 || !strings.Contains(out, "is clean") {
		t.Errorf("module/: exit %d; want 0 and clean", code)
	}
	js := filepath.Join(t.TempDir(), "lint.json")
	code, out := lintRun("-module", fixture("twopages"), "-tools", "mmaprig-cocci", "-json", js)
	want := filepath.Join(fixture("twopages"), "twopages.c") + ":20: mmaprig-cocci: kzalloc() memory"
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("twopages: exit %d; want 1 and %q", code, want)
	}
	if b, err := os.ReadFile(js); err != nil || !bytes.Contains(b, []byte(`"tool": "mmaprig-cocci"`)) {
		t.Errorf("-json: %v %s", err, b)
	}
	for _, args := range [][]string{
		{"-module", t.TempDir()},
		{"-module", "../module", "-tools", "pylint"},
	} {
		if code, _ := lintRun(args...); code != 2 {
			t.Errorf("rig lint %v: exit %d; want 2", args, code)
		}
	}
}
