package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A tree rebuilt in place changes its hash, so a module built against
// the old build is not reused: what the module's build reads from the tree
// is hashed, whatever the tree's own cache key.
func TestTreeHashFollowsTheBuild(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Module.symvers":                "0x1 vm_insert_page vmlinux EXPORT_SYMBOL\n",
		".config":                       "CONFIG_MODULES=y\n",
		"include/generated/autoconf.h":  "#define CONFIG_MODULES 1\n",
		"include/config/kernel.release": "6.1.0\n",
	}
	for f, s := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644)
	}
	h1, err := TreeHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	for f := range files {
		old, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(dir, f), append(old, "# changed\n"...), 0o644)
		if h2, _ := TreeHash(dir); h2 == h1 {
			t.Errorf("changing %s left the tree's hash as it was", f)
		}
		os.WriteFile(filepath.Join(dir, f), old, 0o644)
	}
	os.Remove(filepath.Join(dir, "Module.symvers"))
	if _, err := TreeHash(dir); err == nil {
		t.Error("a tree without Module.symvers hashed without an error")
	}
}

// Paths as a module build prints them: make runs in the kernel tree, the
// module builds in the cache's copy of the author's directory.
const (
	testKdir = "/cache/kernel/0123"
	testOut  = "/cache/module/4567.tmp-99"
	testSrc  = "/home/dev/mydriver"
)

func buildOutput(lines ...string) string {
	return strings.Join(append(append([]string{"make: Entering directory '" + testKdir + "'"}, lines...),
		"make: Leaving directory '"+testKdir+"'"), "\n") + "\n"
}

// modpost's errors are the headline, with the author's paths, not the
// copy's: a missing license, an undefined symbol.
func TestBuildErrorsHeadlineModpost(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"license", "ERROR: modpost: missing MODULE_LICENSE() in " + testOut + "/nolicense.o",
			"ERROR: modpost: missing MODULE_LICENSE() in " + testSrc + "/nolicense.o"},
		{"undefined", `ERROR: modpost: "mmaprig_no_such_symbol" [` + testOut + `/undefsym.ko] undefined!`,
			`ERROR: modpost: "mmaprig_no_such_symbol" [` + testSrc + `/undefsym.ko] undefined!`},
		// Without SECTION_MISMATCH_WARN_ONLY, modpost's error names
		// nothing; the warning before it names the file and functions.
		{"mismatch", "WARNING: modpost: " + testOut + "/sm.o: section mismatch in reference: f (section: .text) -> g (section: .init.text)\n" +
			"ERROR: modpost: Section mismatches detected.\nSet CONFIG_SECTION_MISMATCH_WARN_ONLY=y to allow them.",
			"ERROR: modpost: Section mismatches detected: " + testSrc + "/sm.o: section mismatch in reference: f (section: .text) -> g (section: .init.text)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := buildOutput(
				"  CC [M]  "+testOut+"/x.o",
				"  MODPOST "+testOut+"/Module.symvers",
				tc.line,
				"make[1]: *** [scripts/Makefile.modpost:126: "+testOut+"/Module.symvers] Error 1",
				"make: *** [Makefile:1991: modpost] Error 2")
			errs := readBuildLog(out, testOut, testSrc).errors(maxErrors)
			if len(errs) == 0 || errs[0] != tc.want {
				t.Fatalf("errors = %q; want the headline %q", errs, tc.want)
			}
			for _, e := range errs {
				if strings.Contains(e, testOut) {
					t.Errorf("%q names the cache's copy", e)
				}
			}
		})
	}
}

// A compiler error stays first, before anything modpost would say, and
// the author's file is named relative to the module directory.
func TestBuildErrorsCompilerFirst(t *testing.T) {
	out := buildOutput(
		testOut+"/nobuild.c:8:16: error: 'this_symbol_does_not_exist' undeclared (first use in this function)",
		"    8 |         return this_symbol_does_not_exist;",
		"      |                ^~~~~~~~~~~~~~~~~~~~~~~~~~",
		"ERROR: modpost: something later")
	errs := readBuildLog(out, testOut, testSrc).errors(maxErrors)
	if len(errs) != 3 || !strings.HasPrefix(errs[0], "nobuild.c:8:16: error: ") {
		t.Fatalf("errors = %q; want the compiler's error with its context, relative to the module", errs)
	}
}

// A line that is not the author's is never named as if it were: make's
// messages relative to the kernel tree, and the kernel's own headers, get
// their absolute paths.
func TestBuildErrorsNeverBlameTheAuthorForTheKernel(t *testing.T) {
	stale := buildOutput(
		"Makefile:2: /gone/cache/src/89ab/Makefile: No such file or directory",
		"make: *** No rule to make target '/gone/cache/src/89ab/Makefile'.  Stop.")
	errs := readBuildLog(stale, testOut, testSrc).errors(maxErrors)
	want := testKdir + "/Makefile:2: /gone/cache/src/89ab/Makefile: No such file or directory"
	if len(errs) != 2 || errs[0] != want {
		t.Fatalf("errors = %q; want %q first", errs, want)
	}
	header := buildOutput("./include/linux/kernel.h:12:3: error: expected ';'")
	if errs := readBuildLog(header, testOut, testSrc).errors(maxErrors); len(errs) != 1 || errs[0] != testKdir+"/include/linux/kernel.h:12:3: error: expected ';'" {
		t.Errorf("errors = %q; want the kernel's header by its absolute path", errs)
	}
	own := buildOutput(testOut + "/Makefile:3: *** missing separator.  Stop.")
	if errs := readBuildLog(own, testOut, testSrc).errors(maxErrors); len(errs) != 1 || errs[0] != "Makefile:3: *** missing separator.  Stop." {
		t.Errorf("errors = %q; want the author's Makefile, relative to the module", errs)
	}
}

// With nothing recognisable, the last lines of the output are shown.
func TestBuildErrorsTail(t *testing.T) {
	var lines []string
	for i := range 20 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	errs := readBuildLog(strings.Join(lines, "\n"), testOut, testSrc).errors(maxErrors)
	if len(errs) != 15 || errs[14] != "line 19" {
		t.Errorf("errors = %q; want the last 15 lines", errs)
	}
}

// modpost's warnings, such as a section mismatch, count as the module's
// warnings, after the compiler's.
func TestBuildWarnings(t *testing.T) {
	out := buildOutput(
		testOut+"/a.c:3:5: warning: no previous prototype for 'f' [-Wmissing-prototypes]",
		"    3 | int f(void)",
		"      |     ^",
		"WARNING: modpost: "+testOut+"/a.o: section mismatch in reference: f (section: .text) -> g (section: .init.text)")
	w := readBuildLog(out, testOut, testSrc).warnings()
	want := []string{"a.c:3:5: warning: no previous prototype for 'f' [-Wmissing-prototypes]", "    3 | int f(void)", "      |     ^",
		"WARNING: modpost: " + testSrc + "/a.o: section mismatch in reference: f (section: .text) -> g (section: .init.text)"}
	if !slices.Equal(w, want) {
		t.Errorf("warnings = %q\nwant %q", w, want)
	}
}

// The compiler's diagnostics that name no line (from its command line)
// are errors too, not make's bare "Error 2"; make's own warnings are not
// the compiler's.
func TestBuildErrorsWithoutALine(t *testing.T) {
	out := buildOutput(
		"make[1]: warning: jobserver unavailable: using -j1.",
		"<command-line>: fatal error: /no-such.h: No such file or directory",
		"compilation terminated.",
		"make[2]: *** [scripts/Makefile.build:255: "+testOut+"/x.o] Error 1")
	l := readBuildLog(out, testOut, testSrc)
	if errs := l.errors(maxErrors); len(errs) != 1 || errs[0] != "<command-line>: fatal error: /no-such.h: No such file or directory" {
		t.Errorf("errors = %q; want the compiler's", errs)
	}
	if w := l.warnings(); len(w) != 0 {
		t.Errorf("warnings = %q; want none: make's warning is not the module's", w)
	}
}

// A command the build runs and the host lacks (pahole, for a Debian
// kernel's BTF) is the headline, not make's "Deleting file" after it.
func TestBuildErrorsMissingCommand(t *testing.T) {
	for _, line := range []string{"/bin/sh: 1: pahole: not found", "sh: pahole: command not found", "/bin/bash: line 1: pahole: command not found"} {
		out := buildOutput(
			"  BTF [M] "+testOut+"/mymap.ko",
			line,
			"make[2]: *** [scripts/Makefile.modfinal:64: "+testOut+"/mymap.ko] Error 127",
			"make[2]: *** Deleting file '"+testOut+"/mymap.ko'")
		errs := readBuildLog(out, testOut, testSrc).errors(maxErrors)
		if len(errs) != 1 || !strings.HasPrefix(errs[0], line+" (the build runs pahole, which is not installed; `make deps`") {
			t.Errorf("%s: errors = %q; want the missing command first", line, errs)
		}
	}
}
