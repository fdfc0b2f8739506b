package main

// Every failure keeps its context: a crash names the case or Go test that
// ran, the cases before it keep their results, and a Go test that
// panicked or hit its deadline says why.

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// exitoops oopses in its exit path, which the contract's unload_reload
// runs first: the verdict names that case, the cases before it passed,
// and unload_reload crashed, in -json, the terminal and the engine.log
// replay, on both channels.
func TestCrashNamesTheContractCase(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, channel := range []string{"serial", "ssh"} {
		t.Run(channel, func(t *testing.T) {
			r := runRig(t, "-module", fixture("exitoops"), "-channel", channel)
			rep := wantVerdict(t, r, verdict.GuestCrash,
				"the kernel reported BUG: kernel NULL pointer dereference in exitoops_release (during contract case unload_reload)")
			var got []string
			for _, c := range rep.Cases {
				got = append(got, c.Name+" "+c.Result)
			}
			want := []string{"reader_output pass", "refuses_bad_maps pass", "shared_coherence pass", "user_kernel_agree pass",
				"concurrent_mappers pass", "unload_reload crashed"}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("-json cases %q, want %q", got, want)
			}
			for _, line := range []string{`(?m)^  ok    concurrent_mappers `, `(?m)^  CRASH unload_reload .*BUG: kernel NULL pointer dereference`} {
				if !regexp.MustCompile(line).MatchString(r.out) {
					t.Errorf("the terminal has no line %s", line)
				}
			}
			assertReplay(t, r.artifacts, verdict.GuestCrash)
		})
	}
}

// guestTests writes a Go module with one test package per name, each
// with a test that opens the device and then the given test body.
func guestTests(t *testing.T, tests map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/ctxtest\n\ngo 1.21\n"), 0o644)
	for name, body := range tests {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		src := fmt.Sprintf(`package %s

import (
	"os"
	"syscall"
	"testing"
)

var _ = syscall.Getpagesize

func TestDeviceOpens(t *testing.T) {
	f, err := os.Open(os.Getenv("MMAPRIG_DEVICE"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

%s
`, name, body)
		os.WriteFile(filepath.Join(dir, name, name+"_test.go"), []byte(src), 0o644)
	}
	return dir
}

// A kernel report while a Go guest test runs names that test, after its
// suite (the package maps); the test before it keeps its pass, and the
// one the crash interrupted is crashed.
func TestCrashNamesTheGoTest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	dir := guestTests(t, map[string]string{
		"maps": "func TestMapCrashes(t *testing.T) {\n\tf, err := os.OpenFile(os.Getenv(\"MMAPRIG_DEVICE\"), os.O_RDWR, 0)\n" +
			"\tif err != nil {\n\t\tt.Fatal(err)\n\t}\n\tdefer f.Close()\n" +
			"\tsyscall.Mmap(int(f.Fd()), 0, os.Getpagesize(), syscall.PROT_READ, syscall.MAP_SHARED)\n}\n",
	})
	r := runRig(t, "-module", fixture("nullmmap"), "-checks", "none", "-guest-test", filepath.Join(dir, "maps"))
	rep := wantVerdict(t, r, verdict.GuestCrash, "in nullmmap_mmap (during maps TestMapCrashes)")
	wantCase(t, rep, "TestDeviceOpens", "pass", "")
	var crashed bool
	for _, c := range rep.Cases {
		crashed = crashed || c.Name == "TestMapCrashes" && c.Result == "crashed"
	}
	if !crashed {
		t.Errorf("-json cases %+v; want TestMapCrashes crashed", rep.Cases)
	}
}

// A Go guest test that panics shows the panic and the test's file:line,
// and one that hangs shows the deadline, in the terminal, -json and
// JUnit.
func TestGoTestSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	dir := guestTests(t, map[string]string{
		"panics": "func TestPanics(t *testing.T) {\n\tvar m map[string]int\n\tm[\"x\"] = 1\n}\n",
		"hangs":  "func TestReadEmptyPipeBlocks(t *testing.T) {\n\tr, w, _ := os.Pipe()\n\tdefer w.Close()\n\tr.Read(make([]byte, 1))\n}\n",
	})
	deadline := []string{"-check-timeout", "8s"}
	panicLine := sourceLine(t, filepath.Join(dir, "panics", "panics_test.go"), "\tm[\"x\"] = 1")
	for _, tc := range []struct {
		pkg, test, reason string
		args              []string
	}{
		{"panics", "TestPanics", fmt.Sprintf("panic: assignment to entry in nil map at example.com/ctxtest/panics/panics_test.go:%d", panicLine), nil},
		{"hangs", "TestReadEmptyPipeBlocks", "it never ended: /mmaprig/tests/hangs.test did not finish within 8s", deadline},
		{"hangs", "TestReadEmptyPipeBlocks", "it never ended: modctl: /mmaprig/tests/hangs.test did not finish within 8s",
			append([]string{"-channel", "ssh"}, deadline...)},
	} {
		t.Run(tc.pkg+strings.Join(tc.args, " "), func(t *testing.T) {
			xmlPath := filepath.Join(t.TempDir(), "junit.xml")
			args := append([]string{"-module", example, "-device", "/dev/pages", "-checks", "none",
				"-guest-test", filepath.Join(dir, tc.pkg), "-junit", xmlPath}, tc.args...)
			r := runRig(t, args...)
			rep := wantVerdict(t, r, verdict.Contract, "guest test "+tc.pkg+" failed: "+tc.test+" ("+tc.reason+")")
			wantCase(t, rep, "TestDeviceOpens", "pass", "")
			wantCase(t, rep, tc.test, "fail", tc.reason)
			if !strings.Contains(r.out, "  FAIL  "+tc.test) || !strings.Contains(r.out, tc.reason) {
				t.Errorf("the terminal does not show %s failing with %q", tc.test, tc.reason)
			}
			if msg := junitFailure(t, xmlPath, tc.test); !strings.Contains(msg, tc.reason) {
				t.Errorf("JUnit's failure of %s is %q; want it to say %q", tc.test, msg, tc.reason)
			}
		})
	}
}

// wantCase checks one case of the -json report.
func wantCase(t *testing.T, rep *result.Run, name, res, reason string) {
	t.Helper()
	for _, c := range rep.Cases {
		if c.Name == name {
			if c.Result != res || c.Reason != reason {
				t.Errorf("-json case %s: %s %q; want %s %q", name, c.Result, c.Reason, res, reason)
			}
			return
		}
	}
	t.Errorf("-json has no case %s: %+v", name, rep.Cases)
}

// junitFailure is the failure message of a test case in a JUnit file.
func junitFailure(t *testing.T, path, name string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junit.Testsuites
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the JUnit file: %v", err)
	}
	for _, s := range doc.Suites {
		for _, c := range s.Testcases {
			if c.Name == name && c.Failure != nil {
				return c.Failure.Message
			}
		}
	}
	t.Errorf("the JUnit file has no failure for %s", name)
	return ""
}
