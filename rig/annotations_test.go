package main

// GitHub Actions annotations: the rig, run as in a workflow
// (GITHUB_ACTIONS=true, GITHUB_WORKSPACE the checkout), prints one
// workflow command per finding, on the file relative to the workspace
// and its line; the tests parse what it printed.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// workflowCommand is an annotation the rig printed.
type workflowCommand struct {
	kind, file, title, msg string
	line                   int
}

var commandRE = regexp.MustCompile(`(?m)^::(error|warning|notice)(?: ([^:]*))?::(.*)$`)

// parseCommands parses the workflow commands in a rig's output as GitHub
// reads them: not between "::stop-commands::TOKEN" and "::TOKEN::".
func parseCommands(t *testing.T, out string) []workflowCommand {
	t.Helper()
	unescape := strings.NewReplacer("%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%")
	var cmds []workflowCommand
	for _, m := range commandRE.FindAllStringSubmatch(readCommands(out), -1) {
		c := workflowCommand{kind: m[1], msg: unescape.Replace(m[3])}
		for _, prop := range strings.Split(m[2], ",") {
			k, v, ok := strings.Cut(prop, "=")
			if !ok && prop != "" {
				t.Errorf("property %q of %q has no value", prop, m[0])
			}
			switch v = unescape.Replace(v); k {
			case "file":
				c.file = v
			case "line":
				c.line, _ = strconv.Atoi(v)
			case "title":
				c.title = v
			}
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// readCommands is the part of out GitHub reads commands from: a line
// "::stop-commands::TOKEN" stops it, and a line "::TOKEN::" resumes it.
func readCommands(out string) string {
	var b strings.Builder
	stopped := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case stopped != "":
			if l == "::"+stopped+"::" {
				stopped = ""
			}
		case strings.HasPrefix(l, "::stop-commands::"):
			stopped = strings.TrimPrefix(l, "::stop-commands::")
		default:
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// workspace copies a fixture to drv/ in a new workspace, and returns the
// workspace.
func workspace(t *testing.T, fixtureDir string) string {
	t.Helper()
	ws := t.TempDir()
	if out, err := exec.Command("cp", "-r", fixtureDir, filepath.Join(ws, "drv")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", fixtureDir, err, out)
	}
	return ws
}

// failingGoTest writes a Go guest test package to tests/fails in ws whose
// one test fails with t.Errorf, and returns the package and that line.
func failingGoTest(t *testing.T, ws string) (string, int) {
	t.Helper()
	dir := filepath.Join(ws, "tests")
	os.MkdirAll(filepath.Join(dir, "fails"), 0o755)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/annot\n\ngo 1.21\n"), 0o644)
	// The test's output tries to silence the rig's annotations and forge
	// one; the rig keeps GitHub from reading commands in the run's output.
	src := "package fails\n\nimport (\n\t\"fmt\"\n\t\"testing\"\n)\n\nfunc TestFails(t *testing.T) {\n\tt.Errorf(\"the page holds %d, want 0\", 1)\n\tfmt.Println(\"::stop-commands::guest\")\n\tfmt.Println(\"::error file=forged.c,line=1::forged\")\n}\n"
	os.WriteFile(filepath.Join(dir, "fails", "fails_test.go"), []byte(src), 0o644)
	return filepath.Join(dir, "fails"), sourceLine(t, filepath.Join(dir, "fails", "fails_test.go"), "\tt.Errorf(\"the page holds %d, want 0\", 1)")
}

// oneError is a module with one compile error, and nothing that follows
// from it (testdata/modules/nobuild's error also ends its function
// without a return, a second error).
var oneError = map[string]string{
	"Kbuild": "obj-m := oneerr.o\n",
	"oneerr.c": `#include <linux/module.h>

static int __init oneerr_init(void)
{
	oneerr_no_such_variable = 1;
	return 0;
}

module_init(oneerr_init);
MODULE_LICENSE("GPL");
`,
}

// lineWith is the number of the first line of the file that holds s.
func lineWith(t *testing.T, path, s string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", path, s)
	return 0
}

// A compile error, a W=1 warning, a failing Go guest test and a crash in
// the module's mmap each give one workflow command, of the right kind, on
// the right file relative to the workspace and at the right line.
// The crash's file and line come from the symbolized report (issue 18,
// part 1): until it is merged, that case fails.
func TestAnnotations(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds modules and boots VMs")
	}
	for _, tc := range []struct {
		name, fixture string
		// files, when set, are the module's, instead of the fixture's.
		files map[string]string
		class verdict.Class
		// kind and file of the one command, and the source line it
		// must be at (in file, relative to the workspace).
		kind, file, at string
		goTest         bool
		args           []string
	}{
		{"compile error", "", oneError, verdict.ModuleBuild, "error", "drv/oneerr.c", "oneerr_no_such_variable = 1;", false, nil},
		{"W=1 warning", "onewarn", nil, verdict.Pass, "warning", "drv/onewarn.c",
			"loff_t onewarn_llseek(struct file *file, loff_t offset, int whence)", false, nil},
		{"failing Go guest test", "", nil, verdict.Contract, "error", "tests/fails/fails_test.go", "", true, []string{"-checks", "none"}},
		{"crash in the module", "nullmmap", nil, verdict.GuestCrash, "error", "drv/nullmmap.c", "WRITE_ONCE(*nullmmap_ptr, 1);", false,
			[]string{"-checks", "reader"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join("..", "module")
			if tc.fixture != "" {
				src = fixture(tc.fixture)
			}
			ws := workspace(t, src)
			if tc.files != nil {
				os.RemoveAll(filepath.Join(ws, "drv"))
				os.Mkdir(filepath.Join(ws, "drv"), 0o755)
				for name, text := range tc.files {
					os.WriteFile(filepath.Join(ws, "drv", name), []byte(text), 0o644)
				}
			}
			args := append([]string{"-module", filepath.Join(ws, "drv")}, tc.args...)
			var line int
			if tc.goTest {
				var pkg string
				pkg, line = failingGoTest(t, ws)
				args = append(args, "-guest-test", pkg)
			} else {
				line = lineWith(t, filepath.Join(ws, tc.file), tc.at)
			}
			r := runRigEnv(t, []string{"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=" + ws}, args...)
			wantVerdict(t, r, tc.class, "")
			cmds := parseCommands(t, r.out)
			if len(cmds) != 1 {
				t.Fatalf("%d workflow commands, want 1: %+v", len(cmds), cmds)
			}
			if c := cmds[0]; c.kind != tc.kind || c.file != tc.file || c.line != line || c.title == "" {
				t.Errorf("the command is %+v; want ::%s at %s:%d, with a title", c, tc.kind, tc.file, line)
			}
		})
	}
}

// Without GITHUB_ACTIONS=true the rig prints no workflow command, even
// for a failure it could put on a line.
func TestNoAnnotationsOutsideGitHub(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a module")
	}
	ws := workspace(t, fixture("nobuild"))
	r := runRigEnv(t, []string{"GITHUB_ACTIONS=false", "GITHUB_WORKSPACE=" + ws}, "-module", filepath.Join(ws, "drv"))
	wantVerdict(t, r, verdict.ModuleBuild, "")
	if cmds := parseCommands(t, r.out); len(cmds) != 0 {
		t.Errorf("GITHUB_ACTIONS=false printed workflow commands: %+v", cmds)
	}
}
