package lint

import (
	"cmp"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestHeadline(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"", ""},
		{"\n  No OCaml compiler found! Install either ocamlopt or ocamlopt.opt\n", "No OCaml compiler found! Install either ocamlopt or ocamlopt.opt"},
		{"init_defs_builtins: /usr/lib/coccinelle/standard.h\nminus: parse error: \n  File \"broken.cocci\", line 5, column 0, charpos = 31\n",
			`minus: parse error: File "broken.cocci", line 5, column 0, charpos = 31`},
		{"  CC [M]  /tmp/m/a.o\nmake[1]: *** No rule to make target 'b.o'.  Stop.\nmake: *** [Makefile:1] Error 2\n",
			"make[1]: *** No rule to make target 'b.o'.  Stop."},
	} {
		if got := headline(c.out); got != c.want {
			t.Errorf("headline(%q) = %q, want %q", c.out, got, c.want)
		}
	}
}

// TestRunTimeLimit: a program out of time is a timeout, not the
// cancellation of the whole run. The limit is over before it starts.
func TestRunTimeLimit(t *testing.T) {
	_, _, err := run(t.Context(), testLog(t), 1, "", "true")
	if !errors.Is(err, errTimedOut) || !strings.Contains(err.Error(), "true timed out after 1ns") {
		t.Errorf("run: %v, want a timeout naming the program", err)
	}
}

func TestResultExitAndWrite(t *testing.T) {
	f := func(s Severity) Finding {
		return Finding{File: "m/a.c", Line: 1, Tool: Checkpatch, Rule: strings.ToUpper(string(s)), Severity: s, Message: string(s) + " here"}
	}
	sparseErr := ToolError{Tool: Sparse, Headline: "make failed: *** no"}
	left := CheckpatchLeftOut(false)
	for _, c := range []struct {
		name          string
		res           Result
		style         bool
		want, notWant []string
		exit          int
	}{
		{"clean", Result{LeftOut: left}, false,
			[]string{"lint: m is clean (checkpatch; out of tree, checkpatch leaves out LINUX_VERSION_CODE, CONSTANT_COMPARISON: -in-tree checks them)"}, nil, ExitClean},
		{"style only", Result{Findings: []Finding{f(SevStyle)}}, false,
			[]string{"m is clean: 1 style finding(s) not shown (-style shows them)"}, []string{"style here"}, ExitClean},
		{"style shown", Result{Findings: []Finding{f(SevStyle)}}, true,
			[]string{"m/a.c:1: checkpatch: style here [style STYLE]"}, nil, ExitClean},
		{"a tool failed", Result{ToolErrors: []ToolError{sparseErr}}, false,
			[]string{"lint: tool error: sparse: make failed: *** no", "1 tool error(s), so not known to be clean"}, []string{"is clean"}, ExitNoVerdict},
		{"findings and a tool error", Result{Findings: []Finding{f(SevWarning), f(SevError), f(SevStyle)}, ToolErrors: []ToolError{sparseErr}}, false,
			[]string{"warning here [warning WARNING]", "error here [error ERROR]", "1 error(s), 1 warning(s); 1 tool error(s)", "1 style finding(s) not shown"},
			[]string{"style here", "is clean"}, ExitFindings},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.res.Module, c.res.Tools = "m", []string{Checkpatch}
			var b strings.Builder
			c.res.Write(&b, c.style, false)
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output does not say %q:\n%s", w, b.String())
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("output says %q:\n%s", w, b.String())
				}
			}
			if got := c.res.ExitCode(); got != c.exit {
				t.Errorf("ExitCode() = %d, want %d", got, c.exit)
			}
		})
	}
	var b strings.Builder
	(&Result{Module: "m", LeftOut: left}).Write(&b, false, true)
	if !strings.Contains(b.String(), "lint: checkpatch leaves out LINUX_VERSION_CODE: code merged into the kernel") {
		t.Errorf("-v does not say why LINUX_VERSION_CODE is left out:\n%s", b.String())
	}
}

// brokenSparseTree is a kernel tree that looks built, and whose make fails.
func brokenSparseTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"Makefile":                     "modules:\n\t@echo 'make[1]: *** this kernel tree cannot build modules.  Stop.' >&2; exit 2\n",
		".config":                      "CONFIG_MODULES=y\n",
		"include/generated/autoconf.h": "#define CONFIG_MODULES 1\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSparseFailsOthersReport: sparse fails, and checkpatch's and
// Coccinelle's findings are still reported, beside sparse's failure.
func TestSparseFailsOthersReport(t *testing.T) {
	var opts Options
	for _, tool := range []string{Checkpatch, Coccinelle, MmaprigCocci} {
		opts.KernelSrc = cmp.Or(opts.KernelSrc, needs(t, tool).KernelSrc)
	}
	needTool(t, "sparse", "sparse")
	opts.KernelSrc = oneScript(t, opts.KernelSrc)
	opts.KernelBuild = brokenSparseTree(t)
	opts.ModuleDir, opts.Log = "testdata/sloppy", testLog(t)
	res, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{Checkpatch, Coccinelle, MmaprigCocci} {
		if !slices.ContainsFunc(res.Findings, func(f Finding) bool { return f.Tool == tool }) {
			t.Errorf("no finding from %s:\n%s", tool, findingLines(res.Findings))
		}
	}
	if len(res.ToolErrors) != 1 || res.ToolErrors[0].Tool != Sparse ||
		!strings.Contains(res.ToolErrors[0].Headline, "*** this kernel tree cannot build modules") {
		t.Fatalf("tool errors %v, want sparse's, with make's words", res.ToolErrors)
	}
	var b strings.Builder
	res.Write(&b, false, false)
	if !strings.Contains(b.String(), "lint: tool error: sparse: make -C") || !strings.Contains(b.String(), "1 tool error(s)") {
		t.Errorf("output does not show sparse's failure:\n%s", b.String())
	}
	if res.ExitCode() != ExitFindings {
		t.Errorf("ExitCode() = %d, want %d", res.ExitCode(), ExitFindings)
	}
}

// cocciTree is a kernel tree with checkpatch.pl and the given Coccinelle
// scripts: name (relative to scripts/coccinelle) to text.
func cocciTree(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range scripts {
		p := filepath.Join(dir, "scripts", "coccinelle", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func kernelScript(t *testing.T, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(src, "scripts", "coccinelle", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// brokenCocci is a script in report mode that spatch cannot parse.
const brokenCocci = "virtual report\n\n@r depends on report@\nexpression E;\n@@\n- kfree(E\n"

// TestBrokenCocciScripts: a script that cannot be parsed, and one that
// needs OCaml where there is none, are each a counted tool error; the
// scripts that ran keep their findings, and a module with nothing else to
// report is not clean.
func TestBrokenCocciScripts(t *testing.T) {
	opts := needs(t, Coccinelle)
	spatch, err := exec.LookPath("spatch")
	if err != nil {
		t.Fatal(err)
	}
	// A PATH with spatch and no OCaml compiler.
	bin := t.TempDir()
	if err := os.Symlink(spatch, filepath.Join(bin, "spatch")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	opts.KernelSrc = cocciTree(t, map[string]string{
		"free/ifnullfree.cocci": kernelScript(t, opts.KernelSrc, "free/ifnullfree.cocci"),
		"null/badzero.cocci":    kernelScript(t, opts.KernelSrc, "null/badzero.cocci"), // OCaml
		"misc/broken.cocci":     brokenCocci,
	})
	wantErrs := map[string]string{"misc/broken": "parse error", "null/badzero": "No OCaml compiler found"}
	for _, c := range []struct {
		dir      string
		findings bool
		exit     int
	}{{"testdata/sloppy", true, ExitFindings}, {repoModule, false, ExitNoVerdict}} {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			opts.ModuleDir = c.dir
			res, err := Run(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.ContainsFunc(res.Findings, func(f Finding) bool { return f.Rule == "free/ifnullfree" }); got != c.findings {
				t.Errorf("free/ifnullfree finding: %v, want %v:\n%s", got, c.findings, findingLines(res.Findings))
			}
			if len(res.ToolErrors) != len(wantErrs) {
				t.Errorf("%d tool errors, want %d: %v", len(res.ToolErrors), len(wantErrs), res.ToolErrors)
			}
			for _, e := range res.ToolErrors {
				if w, ok := wantErrs[e.Script]; !ok || e.Tool != Coccinelle || !strings.Contains(e.Headline, w) {
					t.Errorf("tool error %v, want one of %v", e, wantErrs)
				}
			}
			if got := res.ExitCode(); got != c.exit {
				t.Errorf("ExitCode() = %d, want %d", got, c.exit)
			}
		})
	}
}

// TestVersionGuard: a correct driver with a LINUX_VERSION_CODE guard around
// vm_flags_set() is clean under every tool out of tree; -in-tree brings
// back checkpatch's two warnings about the guard's line.
func TestVersionGuard(t *testing.T) {
	const dir = "testdata/versionguard"
	opts := needs(t, Checkpatch)
	opts.ModuleDir = dir
	opts.Tools = []string{Checkpatch, MmaprigCocci}
	if _, err := exec.LookPath("spatch"); err == nil {
		opts.Tools = append(opts.Tools, Coccinelle)
	}
	if b := os.Getenv("MMAPRIG_KERNEL_BUILD"); b != "" {
		opts.KernelBuild, opts.Tools = b, append(opts.Tools, Sparse)
	}
	res, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || len(res.ToolErrors) != 0 || res.ExitCode() != ExitClean {
		t.Errorf("%s with %v: findings\n%s tool errors %v; want clean, exit 0", dir, opts.Tools, findingLines(res.Findings), res.ToolErrors)
	}
	opts.InTree, opts.Tools = true, []string{Checkpatch}
	got := findings(t, opts)
	line := lineOf(t, filepath.Join(dir, "versionguard.c"), "#if LINUX_VERSION_CODE")
	var rules []string
	for _, f := range got {
		if f.Line == line {
			rules = append(rules, f.Rule)
		}
	}
	slices.Sort(rules)
	if want := []string{"CONSTANT_COMPARISON", "LINUX_VERSION_CODE"}; !slices.Equal(rules, want) {
		t.Errorf("-in-tree: %v on line %d, want %v:\n%s", rules, line, want, findingLines(got))
	}
}
