package lint

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The repository's driver and the seed's kmalloc driver, from rig/lint.
const (
	repoModule = "../../module"
	twopages   = "../../testdata/modules/twopages"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// warnCounter counts the records at Warn level or above that pass through.
type warnCounter struct {
	slog.Handler
	n *atomic.Int32
}

func (h warnCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h warnCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return warnCounter{h.Handler.WithAttrs(as), h.n}
}

func (h warnCounter) WithGroup(name string) slog.Handler {
	return warnCounter{h.Handler.WithGroup(name), h.n}
}

// needTool skips slow tests under -short, and tests whose program is not
// installed.
func needTool(t *testing.T, program, pkg string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not running %s", program)
	}
	if _, err := exec.LookPath(program); err != nil {
		t.Skipf("%s is not installed (apt package %s; `make deps` installs it)", program, pkg)
	}
}

// kernelTree returns the tree named by env, or skips the test.
func kernelTree(t *testing.T, env string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		t.Skipf("%s is not set; point it at a kernel tree (`make test` does)", env)
	}
	if !isDir(dir) {
		t.Fatalf("%s=%s is not a directory", env, dir)
	}
	return dir
}

// needs skips t unless tool can run here, and returns the options it needs.
func needs(t *testing.T, tool string) Options {
	t.Helper()
	opts := Options{Tools: []string{tool}, Log: testLog(t)}
	switch tool {
	case Checkpatch:
		needTool(t, "perl", "perl")
		opts.KernelSrc = kernelTree(t, "MMAPRIG_KERNEL_SRC")
	case Sparse:
		needTool(t, "sparse", "sparse")
		opts.KernelBuild = kernelTree(t, "MMAPRIG_KERNEL_BUILD")
	case Coccinelle:
		needTool(t, "spatch", "coccinelle")
		opts.KernelSrc = kernelTree(t, "MMAPRIG_KERNEL_SRC")
	case MmaprigCocci:
		needTool(t, "spatch", "coccinelle")
	}
	return opts
}

// lineOf returns the number of the one line of file that contains s.
func lineOf(t *testing.T, file, s string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			if found != 0 {
				t.Fatalf("%s: %q is on lines %d and %d; make it unique", file, s, found, i+1)
			}
			found = i + 1
		}
	}
	if found == 0 {
		t.Fatalf("%s: no line contains %q", file, s)
	}
	return found
}

// snapshot records every file under dir with its size and modification
// time, to show that Run wrote nothing there.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m[p] = fmt.Sprintf("%v %d %v", info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFindingString(t *testing.T) {
	f := Finding{File: "module/mymap.c", Line: 12, Column: 3, Tool: Sparse, Rule: "warning", Severity: SevWarning, Message: "x"}
	if got, want := f.String(), "module/mymap.c:12: sparse: x [warning]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	f = Finding{File: "m/a.c", Line: 3, Tool: Checkpatch, Rule: "LONG_LINE", Severity: SevStyle, Message: "m"}
	if got, want := f.String(), "m/a.c:3: checkpatch: m [style LONG_LINE]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"file":"m/a.c","line":3,"tool":"checkpatch","rule":"LONG_LINE","severity":"style","message":"m"}`; got != want {
		t.Errorf("JSON %s, want %s", got, want)
	}
}

// fakeModule is a module whose copy holds the given files, for the parsers.
func fakeModule(t *testing.T, userDir string, files ...string) *module {
	t.Helper()
	m := &module{userDir: userDir, copyDir: t.TempDir(), files: files}
	for _, f := range files {
		p := filepath.Join(m.copyDir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestParseCheckpatch(t *testing.T) {
	m := fakeModule(t, "drv", "a.c", "sub/b.h")
	out := `a.c:1: WARNING:SPDX_LICENSE_TAG: Missing or malformed SPDX-License-Identifier tag in line 1
sub/b.h:26: CHECK:LINE_SPACING: Please use a blank line after function/struct/union/enum declarations
a.c:33: ERROR:CODE_INDENT: code indent should use tabs where possible
total: 1 errors, 1 warnings, 1 checks, 40 lines checked
`
	got, n := parseCheckpatch(out+"/usr/src/x.h:3: WARNING:X: outside the module\n", m)
	want := []Finding{
		{File: "drv/a.c", Line: 1, Tool: Checkpatch, Rule: "SPDX_LICENSE_TAG", Severity: SevWarning, Message: "Missing or malformed SPDX-License-Identifier tag in line 1"},
		{File: "drv/sub/b.h", Line: 26, Tool: Checkpatch, Rule: "LINE_SPACING", Severity: SevStyle, Message: "Please use a blank line after function/struct/union/enum declarations"},
		{File: "drv/a.c", Line: 33, Tool: Checkpatch, Rule: "CODE_INDENT", Severity: SevError, Message: "code indent should use tabs where possible"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseCheckpatch:\n got %v\nwant %v", got, want)
	}
	if n != 4 {
		t.Errorf("parseCheckpatch counted %d reports, want 4 (the module's and the one outside it)", n)
	}
}

func TestParseSparse(t *testing.T) {
	m := fakeModule(t, "/home/me/drv", "a.c")
	c := m.copyDir
	out := `  CC [M]  ` + c + `/a.c
  CHECK   ` + c + `/a.c
` + c + `/a.c:13:5: warning: symbol 'sloppy_opens' was not declared. Should it be static?
` + c + `/a.c:20:16: warning: incorrect type in argument 1 (different address spaces)
` + c + `/a.c:20:16:    expected void const volatile [noderef] __user *ptr
` + c + `/a.c:20:16:    got char *
./include/linux/slab.h:12:3: warning: something in a kernel header
` + c + `/a.c:30:1: warning: no previous prototype for 'f' [-Wmissing-prototypes]
a.c:31:2: error: bad constant expression
`
	got := parseSparse(out, m, testLog(t))
	want := []Finding{
		{File: "/home/me/drv/a.c", Line: 13, Column: 5, Tool: Sparse, Rule: "warning", Severity: SevWarning, Message: "symbol 'sloppy_opens' was not declared. Should it be static?"},
		{File: "/home/me/drv/a.c", Line: 20, Column: 16, Tool: Sparse, Rule: "warning", Severity: SevWarning, Message: "incorrect type in argument 1 (different address spaces); expected void const volatile [noderef] __user *ptr; got char *"},
		{File: "/home/me/drv/a.c", Line: 31, Column: 2, Tool: Sparse, Rule: "error", Severity: SevError, Message: "bad constant expression"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseSparse:\n got %v\nwant %v", got, want)
	}
}

func TestParseSpatch(t *testing.T) {
	m := fakeModule(t, "drv", "a.c")
	out := "a.c:50:2-7: WARNING: NULL check before some freeing functions is not needed.\nnot a report\n/elsewhere/x.c:1:0-1: outside\n"
	got := parseSpatch(out, Coccinelle, "free/ifnullfree", m, testLog(t))
	want := []Finding{{File: "drv/a.c", Line: 50, Column: 3, Tool: Coccinelle, Rule: "free/ifnullfree", Severity: SevWarning,
		Message: "WARNING: NULL check before some freeing functions is not needed."}}
	if !slices.Equal(got, want) {
		t.Errorf("parseSpatch:\n got %v\nwant %v", got, want)
	}
	for _, c := range []struct {
		tool, rule, msg string
		want            Severity
	}{
		{MmaprigCocci, "mmap_slab", "kzalloc() memory ...", SevError},
		{Coccinelle, "null/deref_null", "ERROR: x is NULL but dereferenced.", SevError},
		{Coccinelle, "misc/semicolon", "Unneeded semicolon", SevStyle},
		{Coccinelle, "api/alloc/alloc_cast", "WARNING: casting value returned by memory allocation function to (char *) is useless.", SevStyle},
		{Coccinelle, "locks/double_lock", "second lock on line 12", SevWarning},
	} {
		if got := cocciSeverity(c.tool, c.rule, c.msg); got != c.want {
			t.Errorf("cocciSeverity(%s, %s, %q) = %s, want %s", c.tool, c.rule, c.msg, got, c.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1.1.1", "1.0.7", 1}, {"1.0.7", "1.0.7", 0}, {"1.1", "1.1.0", 0}, {"1.0.4", "1.1", -1}, {"1.2", "1.10", -1}} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestKernelScripts checks which of the tree's Coccinelle scripts lint
// runs.
func TestKernelScripts(t *testing.T) {
	src := kernelTree(t, "MMAPRIG_KERNEL_SRC")
	scripts, err := kernelScripts(filepath.Join(src, "scripts", "coccinelle"), "1.1.1", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scripts {
		names = append(names, s.name)
		if strings.Contains(s.path, "..") || !isFile(s.path) {
			t.Errorf("script %s: bad path %s", s.name, s.path)
		}
	}
	t.Logf("%d scripts: %v", len(names), names)
	for _, want := range []string{"free/kfree", "free/devm_free", "api/vma_pages", "api/alloc/alloc_cast", "null/deref_null", "locks/double_lock", "iterators/use_after_iter", "misc/doubleinit"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is not run", want)
		}
	}
	for skipped := range skippedScripts() {
		if slices.Contains(names, strings.TrimSuffix(skipped, ".cocci")) {
			t.Errorf("%s is run, but it should be skipped", skipped)
		}
	}
	if i := slices.Index(names, "misc/array_size_dup"); i < 0 || !slices.Contains(scripts[i].options, "--no-loops") {
		t.Errorf("misc/array_size_dup should run with its --no-loops option")
	}
	// A script that needs a newer spatch is left out.
	old, err := kernelScripts(filepath.Join(src, "scripts", "coccinelle"), "1.0.3", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(old, func(s script) bool { return s.name == "iterators/device_node_continue" }) {
		t.Errorf("iterators/device_node_continue (Requires: 1.0.4) runs with spatch 1.0.3")
	}
}

func TestBadInput(t *testing.T) {
	empty := t.TempDir()
	onlyKbuild := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyKbuild, "Kbuild"), []byte("obj-m := x.o\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noKbuild := t.TempDir()
	if err := os.WriteFile(filepath.Join(noKbuild, "x.c"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(noKbuild, "x.c")
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"no module", Options{}, "pass -module DIR"},
		{"missing module", Options{ModuleDir: filepath.Join(empty, "nope")}, "nope does not exist; pass the module's directory"},
		{"module is a file", Options{ModuleDir: file}, "is not a directory"},
		{"no .c files", Options{ModuleDir: onlyKbuild}, onlyKbuild + " has no .c files"},
		{"unknown tool", Options{ModuleDir: repoModule, Tools: []string{"lint"}}, `unknown lint tool "lint"; the tools are checkpatch, sparse, coccinelle, mmaprig-cocci`},
		{"checkpatch without source", Options{ModuleDir: repoModule, Tools: []string{Checkpatch}}, "checkpatch needs a kernel source tree"},
		{"checkpatch, not a source", Options{ModuleDir: repoModule, KernelSrc: empty, Tools: []string{Checkpatch}}, "has no scripts/checkpatch.pl"},
		{"coccinelle without source", Options{ModuleDir: repoModule, Tools: []string{Coccinelle}}, "coccinelle needs a kernel source tree"},
		{"coccinelle, not a source", Options{ModuleDir: repoModule, KernelSrc: empty, Tools: []string{Coccinelle}}, "has no scripts/coccinelle"},
		{"sparse without build", Options{ModuleDir: repoModule, Tools: []string{Sparse}}, "sparse needs a configured and built kernel tree"},
		{"sparse, unbuilt tree", Options{ModuleDir: repoModule, KernelBuild: empty, Tools: []string{Sparse}}, "has no Makefile; pass a configured and built kernel tree"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(t.Context(), c.opts)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Run: %v, want an *InputError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run: %v, want it to say %q", err, c.want)
			}
		})
	}
}

// TestMissingTool: a program that is not installed is a tool error, which
// names the package, and the result is not clean.
func TestMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	res, err := Run(t.Context(), Options{ModuleDir: repoModule, Tools: []string{MmaprigCocci}})
	if err != nil {
		t.Fatalf("Run: %v, want a result with a tool error", err)
	}
	if len(res.ToolErrors) != 1 || res.ToolErrors[0].Tool != MmaprigCocci {
		t.Fatalf("tool errors %v, want one of %s", res.ToolErrors, MmaprigCocci)
	}
	if want := "spatch is not installed; run `make deps` (or apt-get install coccinelle)"; !strings.Contains(res.ToolErrors[0].Headline, want) {
		t.Errorf("tool error %q, want it to say %q", res.ToolErrors[0].Headline, want)
	}
	if got := res.ExitCode(); got != ExitNoVerdict {
		t.Errorf("ExitCode() = %d, want %d: a tool that did not run is not clean", got, ExitNoVerdict)
	}
}

// flagged is where the rule must report: the use in the mmap path and the
// allocation, each as a file and a unique text on its line.
type flagged struct {
	file, at    string
	alloc       string
	allocFile   string
	allocAt     string
	withMessage string
}

// ruleCase is a fixture and where the rule must report in it: nowhere,
// for the fixtures that map memory the right way.
type ruleCase struct {
	dir  string
	want []flagged
}

func ruleCases() []ruleCase {
	return []ruleCase{
		{twopages, []flagged{{"twopages.c", "virt_to_phys(buffer)", "kzalloc", "twopages.c", "buffer = kzalloc", "slab memory must not be mapped"}}},
		{"testdata/kmallocglobal", []flagged{{"kmallocglobal.c", "virt_to_page(kmg_buf)", "kmalloc", "kmallocglobal.c", "kmg_buf = kmalloc", "kmg_mmap() (file_operations.mmap)"}}},
		{"testdata/kzallocfield", []flagged{{"kzallocfield.c", "virt_to_phys(dev->buf)", "kzalloc", "kzallocfield.c", "kzf->buf = kzalloc", "virt_to_phys()"}}},
		{"testdata/vmallocpfn", []flagged{{"vmallocpfn.c", "virt_to_pfn(vpf_buf)", "vmalloc", "vmallocpfn.c", "vpf_buf = vmalloc", "vmalloc memory is not in the linear map"}}},
		{"testdata/devmprobe", []flagged{{"devmprobe.c", "virt_to_page(priv->buf)", "devm_kzalloc", "devmprobe.c", "buf = devm_kzalloc(&pdev->dev, PAGE_SIZE", "on SLUB and SLAB kernels (every distribution's) vm_insert_page() refuses it"}}},
		{"testdata/twofiles", []flagged{{"tf_mmap.c", "__pa(start)", "kcalloc", "tf_main.c", "tf_buf = kcalloc", "tf_map() (called from tf_do_mmap(), file_operations.mmap)"}}},
		{"testdata/faultslab", []flagged{{"faultslab.c", "virt_to_page(fsl_buf", "kmalloc_array", "faultslab.c", "fsl_buf = kmalloc_array", "fsl_fault() (vm_operations_struct.fault)"}}},
		{"testdata/tricky", []flagged{
			{"tricky.c", "virt_to_phys(trk_bufs[", "kmalloc", "tricky.c", "trk_bufs[i] = kmalloc", "trk_mmap_a()"},
			{"tricky.c", "virt_to_page(p)", "vzalloc", "tricky.c", "trk_vbuf = vzalloc", "trk_mmap_b() (file_operations.mmap)"},
			{"tricky.c", "remap_vmalloc_range(vma, trk_plain", "vmalloc", "tricky.c", "trk_plain = vmalloc", "lacks VM_USERMAP"},
			{"tricky.c", "vmalloc_to_page(trk_kv)", "kvzalloc", "tricky.c", "trk_kv = kvzalloc", "kvmalloc memory may be slab memory"},
		}},
		{"testdata/pfnmath", []flagged{
			// The most common form in tutorials.
			{"pfnmath.c", "virt_to_phys(pm_a)", "kzalloc", "pfnmath.c", "pm_a = kzalloc", "pm_mmap_a() (file_operations.mmap)"},
			{"pfnmath.c", "__pa(pm_b)", "kzalloc", "pfnmath.c", "pm_b = kzalloc", "__pa()"},
			{"pfnmath.c", "virt_to_phys(pm_c)", "kzalloc", "pfnmath.c", "pm_c = kzalloc", "virt_to_phys()"},
			{"pfnmath.c", "virt_to_pfn(pm_d", "kzalloc", "pfnmath.c", "pm_d = kzalloc", "virt_to_pfn()"},
			{"pfnmath.c", "virt_to_page(pm_e)", "kzalloc", "pfnmath.c", "pm_e = kzalloc", "virt_to_page()"},
		}},
		{"testdata/sloppy", []flagged{{"sloppy.c", "virt_to_phys(sloppy_buf)", "kzalloc", "sloppy.c", "sloppy_buf = kzalloc", "__get_free_pages()"}}},
		{repoModule, nil},
		{"testdata/allocpage", nil},
		{"testdata/getfreepage", nil},
		{"testdata/vmallocuser", nil},
	}
}

func TestRuleFixtures(t *testing.T) {
	needs(t, MmaprigCocci)
	for _, c := range ruleCases() {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			t.Parallel()
			got := findings(t, Options{ModuleDir: c.dir, Tools: []string{MmaprigCocci}, Log: testLog(t)})
			if len(got) != len(c.want) {
				t.Errorf("%d findings, want %d:\n%s", len(got), len(c.want), findingLines(got))
			}
			for _, w := range c.want {
				file := filepath.Join(c.dir, w.file)
				line := lineOf(t, file, w.at)
				allocLine := lineOf(t, filepath.Join(c.dir, w.allocFile), w.allocAt)
				i := slices.IndexFunc(got, func(f Finding) bool { return f.File == file && f.Line == line })
				if i < 0 {
					t.Errorf("no finding at %s:%d (%s); got:\n%s", file, line, w.at, findingLines(got))
					continue
				}
				f := got[i]
				if f.Tool != MmaprigCocci || f.Rule != "mmap_slab" || f.Severity != SevError {
					t.Errorf("finding from %s/%s, %s; want an error from %s/mmap_slab", f.Tool, f.Rule, f.Severity, MmaprigCocci)
				}
				wantCol := strings.Index(lineText(t, file, line), strings.SplitN(w.at, "(", 2)[0]) + 1
				if f.Column != wantCol {
					t.Errorf("column %d, want %d", f.Column, wantCol)
				}
				for _, s := range []string{
					w.alloc + "() memory",
					fmt.Sprintf("allocated at %s:%d", w.allocFile, allocLine),
					w.withMessage,
				} {
					if !strings.Contains(f.Message, s) {
						t.Errorf("message %q does not say %q", f.Message, s)
					}
				}
			}
		})
	}
}

func lineText(t *testing.T, file string, line int) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")[line-1]
}

func findingLines(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\t%s\n", f)
	}
	return b.String()
}

// TestModuleClean runs each tool on the repository's driver, which must be
// clean under all of them, and checks that none wrote into it.
func TestModuleClean(t *testing.T) {
	for _, tool := range AllTools() {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			opts := needs(t, tool)
			opts.ModuleDir = repoModule
			// A warning means a check did not run, such as a kernel
			// Coccinelle script that this spatch could not use.
			var warnings atomic.Int32
			opts.Log = slog.New(warnCounter{opts.Log.Handler(), &warnings})
			before := snapshot(t, repoModule)
			start := time.Now()
			got := findings(t, opts)
			t.Logf("%s on %s: %d findings in %v", tool, repoModule, len(got), time.Since(start).Round(time.Millisecond))
			if got == nil {
				t.Errorf("Run returned nil findings; want an empty slice, which JSON shows as []")
			}
			if len(got) != 0 {
				t.Errorf("%s reports on %s, which must be clean:\n%s", tool, repoModule, findingLines(got))
			}
			if after := snapshot(t, repoModule); !mapsEqual(before, after) {
				t.Errorf("%s changed %s: before %v, after %v", tool, repoModule, before, after)
			}
			if n := warnings.Load(); n != 0 {
				t.Errorf("%s logged %d warnings; see the log above", tool, n)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// oneScript returns a kernel source tree that has the real tree's
// checkpatch.pl and only one of its Coccinelle scripts, free/ifnullfree,
// so that the tests of parsing need not run all of them: TestModuleClean
// does that once.
func oneScript(t *testing.T, src string) string {
	t.Helper()
	if src == "" {
		return ""
	}
	dir := t.TempDir()
	cocci := filepath.Join(dir, "scripts", "coccinelle", "free")
	if err := os.MkdirAll(cocci, 0o755); err != nil {
		t.Fatal(err)
	}
	// checkpatch.pl finds its data files beside its real path.
	if err := os.Symlink(filepath.Join(src, "scripts", "checkpatch.pl"), filepath.Join(dir, "scripts", "checkpatch.pl")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(src, "scripts", "coccinelle", "free", "ifnullfree.cocci"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cocci, "ifnullfree.cocci"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSloppy runs each tool on a fixture with something for each to find,
// so that every tool's output is parsed and mapped back to the fixture.
func TestSloppy(t *testing.T) {
	const dir = "testdata/sloppy"
	file := filepath.Join(dir, "sloppy.c")
	for _, c := range []struct {
		tool, rule, at, message string
	}{
		{Checkpatch, "PREFER_PR_LEVEL", `printk(KERN_INFO`, "Prefer [subsystem eg: netdev]_info"},
		{Sparse, "warning", "int sloppy_opens;", "symbol 'sloppy_opens' was not declared. Should it be static?"},
		{Coccinelle, "free/ifnullfree", "kfree(sloppy_buf)", "WARNING: NULL check before some freeing functions is not needed."},
		{MmaprigCocci, "mmap_slab", "virt_to_phys(sloppy_buf)", "kzalloc() memory"},
	} {
		t.Run(c.tool, func(t *testing.T) {
			t.Parallel()
			opts := needs(t, c.tool)
			opts.ModuleDir = dir
			opts.KernelSrc = oneScript(t, opts.KernelSrc)
			before := snapshot(t, dir)
			got := findings(t, opts)
			line := lineOf(t, file, c.at)
			if !slices.ContainsFunc(got, func(f Finding) bool {
				return f.File == file && f.Line == line && f.Tool == c.tool && f.Rule == c.rule && strings.Contains(f.Message, c.message)
			}) {
				t.Errorf("no %s %s finding at %s:%d saying %q; got:\n%s", c.tool, c.rule, file, line, c.message, findingLines(got))
			}
			if after := snapshot(t, dir); !mapsEqual(before, after) {
				t.Errorf("%s changed %s", c.tool, dir)
			}
		})
	}
}

// findings runs Run, which must leave no tool error, and returns the
// findings.
func findings(t *testing.T, opts Options) []Finding {
	t.Helper()
	res, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.ToolErrors {
		t.Errorf("tool error: %v\n%s", e, e.Detail)
	}
	return res.Findings
}

// TestAllTools runs every tool at once, as `rig lint` does.
func TestAllTools(t *testing.T) {
	var opts Options
	for _, tool := range AllTools() {
		o := needs(t, tool)
		opts.KernelSrc = cmp.Or(opts.KernelSrc, o.KernelSrc)
		opts.KernelBuild = cmp.Or(opts.KernelBuild, o.KernelBuild)
	}
	opts.ModuleDir, opts.Log = "testdata/sloppy", testLog(t)
	opts.KernelSrc = oneScript(t, opts.KernelSrc)
	got := findings(t, opts)
	var tools []string
	for _, f := range got {
		if !slices.Contains(tools, f.Tool) {
			tools = append(tools, f.Tool)
		}
	}
	slices.Sort(tools)
	want := slices.Sorted(slices.Values(AllTools()))
	if !slices.Equal(tools, want) {
		t.Errorf("findings from %v, want from each of %v:\n%s", tools, want, findingLines(got))
	}
	if !slices.IsSortedFunc(got, func(a, b Finding) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		return a.Line - b.Line
	}) {
		t.Errorf("findings are not sorted by file and line:\n%s", findingLines(got))
	}
}

func TestCancel(t *testing.T) {
	needs(t, MmaprigCocci)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Run(ctx, Options{ModuleDir: repoModule, Tools: []string{MmaprigCocci}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v, want context.Canceled", err)
	}
}
