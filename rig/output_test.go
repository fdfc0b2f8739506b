package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/symbolize"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// The terminal renders a result as it is: the bytes, the cases by suite,
// and a verdict line that counts what passed and names what was skipped.
func TestPrintResult(t *testing.T) {
	cases := newCases(contractCasesWith(map[string]string{"user_kernel_agree": "no write(): the driver has no write()"}))
	pass := result.Run{Class: verdict.Pass, Accel: "tcg", BootToVerdict: result.Seconds(2520 * time.Millisecond),
		Output: []string{"0", "1"}, Cases: cases, ArtifactDir: "/art"}
	crash := result.Run{Class: verdict.GuestCrash, Message: "the kernel reported BUG (during insmod)", Cause: "exit status 1",
		Excerpt: "[ 1.0] BUG: x", ConsoleLog: "/nonexistent/console.log", ArtifactDir: "/art"}
	decoded := crash
	decoded.Crash = &verdict.Crash{Title: "BUG: x in m_mmap", Frame: "m_mmap", File: "drv/m.c", Line: 27, Decoded: []symbolize.Frame{
		{Function: "m_mmap", Offset: 0xa, Size: 0x17, Module: "m", Reliable: true, Trap: true, Lines: []symbolize.Location{
			{Function: "m_poke", File: "drv/m.c", Line: 17}, {Function: "m_mmap", File: "drv/m.c", Line: 27}}},
		{Function: "mmap_region", Offset: 0x2ea, Size: 0x501, Reliable: true}}}
	caseCrash := crash
	caseCrash.Cases = []result.Case{
		{Suite: "contract", Name: "reader_output", Result: "pass"},
		{Suite: "contract", Name: "unload_reload", Result: "crashed", Reason: "the kernel reported BUG: x while it ran"},
		{Suite: "gt", Name: "TestPanics", Result: "fail", Reason: "panic: boom at example.com/gt/x_test.go:9",
			Diagnostics: []string{"panic: boom [recovered]"}, Time: result.Seconds(10 * time.Millisecond)},
		{Suite: "gt", Name: "TestPlain", Result: "fail", Diagnostics: []string{"x_test.go:3: wrong"}, Time: result.Seconds(10 * time.Millisecond)},
	}
	for _, tc := range []struct {
		name string
		res  result.Run
		want []string
	}{
		{"pass", pass, []string{
			"bytes read through the mapping of /dev/mymap:\n0\n1\n",
			"contract:\n  ok    reader_output",
			"  SKIP  user_kernel_agree              no write(): the driver has no write()\n",
			"PASS: /dev/mymap maps the expected 10 bytes and meets the contract (7 cases, 1 skipped: user_kernel_agree (no write())) (boot to verdict 2.52s, accel tcg)\nartifacts: /art\n",
		}},
		{"a crash in a case, a Go test's panic", caseCrash, []string{
			"contract:\n  ok    reader_output",
			"  CRASH unload_reload                  the kernel reported BUG: x while it ran\n",
			"gt:\n  FAIL  TestPanics               10ms  panic: boom at example.com/gt/x_test.go:9\n          panic: boom [recovered]\n",
			"  FAIL  TestPlain                10ms\n          x_test.go:3: wrong\n",
		}},
		{"crash", crash, []string{
			"FAIL [guest-crash]: the kernel reported BUG (during insmod)\n  cause: exit status 1\n--- excerpt ---\n[ 1.0] BUG: x\n--- end of excerpt ---\n",
			"serial log: none; the VM did not start\nartifacts: /art\n",
		}},
		{"decoded crash", decoded, []string{
			"--- end of excerpt ---\n--- decoded stack ---\n m_poke drv/m.c:17 [inline]\n m_mmap+0xa/0x17 drv/m.c:27 [m]\n mmap_region+0x2ea/0x501\n--- end of decoded stack ---\nserial log:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printResult(&b, tc.res, defaultOptions())
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("the terminal lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// contractCasesWith is the contract's cases, all passed but the skips
// given.
func contractCasesWith(skips map[string]string) []wire.Case {
	var cs []wire.Case
	for i, name := range contractCases {
		c := wire.Case{Number: i + 1, Name: name, Result: wire.Pass, Suite: wire.CmdContract}
		if why, ok := skips[name]; ok {
			c.Result, c.Reason = wire.Skip, why
		}
		cs = append(cs, c)
	}
	return cs
}

// A PASS line says what was proved, and never hides that -run narrowed
// the run: how many of the contract's cases it selected, or none.
func TestPassSummary(t *testing.T) {
	two := newCases(contractCasesWith(nil)[1:3])
	guest := newCases([]wire.Case{{Number: 1, Name: "TestSeed", Result: wire.Pass, Suite: "guesttest"}})
	withRun := defaultOptions()
	withRun.Run = "refuses|shared|Seed"
	none := defaultOptions()
	none.Checks, none.Devices = runner.ChecksNone, []wire.Device{{Path: "/dev/a"}, {Path: "/dev/b", Existing: true}}
	for _, tc := range []struct {
		name  string
		cases []result.Case
		opts  runner.Options
		want  string
	}{
		{"all", newCases(contractCasesWith(nil)), defaultOptions(), "/dev/mymap maps the expected 10 bytes and meets the contract (7 cases)"},
		{"selected", append(two, guest...), withRun,
			"/dev/mymap maps the expected 10 bytes and meets the contract (2 of 7 cases selected by -run) and passes guesttest (1 case, selected by -run)"},
		{"no contract case", guest, withRun,
			"/dev/mymap maps the expected 10 bytes and runs none of the contract's 7 cases (none selected by -run) and passes guesttest (1 case, selected by -run)"},
		{"no checks", nil, none, "the module loads, /dev/a, /dev/b are there, and it unloads"},
	} {
		if got := passSummary(result.Run{Class: verdict.Pass, Cases: tc.cases}, tc.opts); got != tc.want {
			t.Errorf("%s: %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// Annotations name files relative to $GITHUB_WORKSPACE, else to the git
// work tree of the module directory, spelt as the module directory is;
// outside both, paths stay as they are. They are printed only when
// GITHUB_ACTIONS is "true".
func TestAnnotationsPrinted(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	mod := filepath.Join(repo, "drivers", "mymap")
	os.MkdirAll(mod, 0o755)
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	notRepo := t.TempDir()
	ctx := context.Background()
	for _, tc := range []struct {
		ws, dir, want string
	}{
		{"", mod, repo},
		{"/ws", mod, "/ws"},
		{"", notRepo, ""},
	} {
		t.Setenv("GITHUB_WORKSPACE", tc.ws)
		if got := repoRoot(ctx, tc.dir); got != tc.want {
			t.Errorf("repoRoot(%s) with GITHUB_WORKSPACE=%q = %q, want %q", tc.dir, tc.ws, got, tc.want)
		}
	}
	t.Setenv("GITHUB_WORKSPACE", "")
	build := result.Run{Class: verdict.ModuleBuild, Module: "mymap", Build: []result.Diagnostic{
		{Severity: "error", Tool: "compiler", File: filepath.Join(mod, "mymap.c"), Line: 7, Column: 2, Message: "x"}}}
	// A crash's file relative to the working directory, as the terminal
	// shows the author's files, is the file there; the kernel's is not.
	wd, _ := os.Getwd()
	os.WriteFile(filepath.Join(mod, "mymap.c"), nil, 0o644)
	relMod, _ := filepath.Rel(wd, filepath.Join(mod, "mymap.c"))
	crash := result.Run{Class: verdict.GuestCrash, Module: "mymap", Message: "m",
		Crash: &verdict.Crash{Title: "BUG: x in mymap_mmap", File: relMod, Line: 9}}
	kernelCrash := result.Run{Class: verdict.GuestCrash, Module: "mymap", Message: "m",
		Crash: &verdict.Crash{Title: "WARNING in f", File: "mm/memory.c", Line: 9}}
	for _, tc := range []struct {
		env    string
		res    result.Run
		matrix bool
		want   string
	}{
		{"true", build, false, "::error file=drivers/mymap/mymap.c,line=7,col=2,title=mymap%3A compile error::x\n"},
		{"true", build, true, "::error file=drivers/mymap/mymap.c,line=7,col=2,title=6.1%3A mymap%3A compile error::x\n"},
		{"true", crash, false, "::error file=drivers/mymap/mymap.c,line=9,title=BUG%3A x in mymap_mmap::m\n"},
		{"true", kernelCrash, false, "::error title=WARNING in f::mm/memory.c:9: m\n"},
		{"", build, false, ""},
		{"false", build, false, ""},
	} {
		t.Setenv("GITHUB_ACTIONS", tc.env)
		var b strings.Builder
		annotations(ctx, &b, io.Discard, runner.Options{ModuleDir: mod}, []result.Cell{{Name: "6.1", Result: tc.res}}, tc.matrix)
		if b.String() != tc.want {
			t.Errorf("GITHUB_ACTIONS=%q printed %q, want %q", tc.env, b.String(), tc.want)
		}
	}
	if crash.Crash.File != relMod {
		t.Errorf("the caller's crash was changed: file %s", crash.Crash.File)
	}
}
