package kernel

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Each located message of a build becomes one Diagnostic, its file made
// absolute in the author's tree; context lines and unlocated lines give
// none, and a header's error that one of the author's lines led to is
// one finding, on that line.
func TestDiagnostics(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "nolicense.c"), nil, 0o644)
	for _, tc := range []struct {
		name  string
		lines []string
		want  []Diagnostic
	}{
		{"compiler error with context", []string{
			"nobuild.c:7:16: error: 'x' undeclared (first use in this function)",
			"    7 |         return x;",
			"      |                ^"},
			[]Diagnostic{{Severity: "error", Tool: "compiler", File: filepath.Join(dir, "nobuild.c"), Line: 7, Col: 16, Message: "'x' undeclared (first use in this function)"}}},
		{"fatal error, no column", []string{"sub/a.h:3: fatal error: b.h: No such file or directory"},
			[]Diagnostic{{Severity: "error", Tool: "compiler", File: filepath.Join(dir, "sub/a.h"), Line: 3, Message: "b.h: No such file or directory"}}},
		{"W=1 warning", []string{"a.c:3:5: warning: no previous prototype for 'f' [-Wmissing-prototypes]", "    3 | int f(void)", "      |     ^"},
			[]Diagnostic{{Severity: "warning", Tool: "compiler", File: filepath.Join(dir, "a.c"), Line: 3, Col: 5, Message: "no previous prototype for 'f' [-Wmissing-prototypes]"}}},
		{"kernel header keeps its path", []string{"/k/include/linux/mm.h:12:3: warning: x"},
			[]Diagnostic{{Severity: "warning", Tool: "compiler", File: "/k/include/linux/mm.h", Line: 12, Col: 3, Message: "x"}}},
		{"no file", []string{"<command-line>: fatal error: /no-such.h: No such file or directory"},
			[]Diagnostic{{Severity: "error", Tool: "compiler", Message: "/no-such.h: No such file or directory"}}},
		{"header error led there by the author's line", []string{
			"main.c:2: the first error is in a header this line includes: /k/include/linux/module.h:5:1: error: unknown type name 'x'",
			"    2 | #include <linux/module.h>",
			"/k/include/linux/module.h:5:1: error: unknown type name 'x'",
			"/k/include/linux/module.h:9:1: error: another"},
			[]Diagnostic{
				{Severity: "error", Tool: "compiler", File: filepath.Join(dir, "main.c"), Line: 2,
					Message: "the first error is in a header this line includes: /k/include/linux/module.h:5:1: error: unknown type name 'x'"},
				{Severity: "error", Tool: "compiler", File: "/k/include/linux/module.h", Line: 9, Col: 1, Message: "another"}}},
		{"modpost error on the object's source", []string{"ERROR: modpost: missing MODULE_LICENSE() in " + dir + "/nolicense.o"},
			[]Diagnostic{{Severity: "error", Tool: "modpost", File: filepath.Join(dir, "nolicense.c"), Message: "missing MODULE_LICENSE() in " + dir + "/nolicense.o"}}},
		{"modpost error, no source", []string{`ERROR: modpost: "sym" [` + dir + `/multi.ko] undefined!`},
			[]Diagnostic{{Severity: "error", Tool: "modpost", Message: `"sym" [` + dir + `/multi.ko] undefined!`}}},
		{"modpost warning", []string{"WARNING: modpost: " + dir + "/nolicense.o: section mismatch in reference: f -> g"},
			[]Diagnostic{{Severity: "warning", Tool: "modpost", File: filepath.Join(dir, "nolicense.c"), Message: dir + "/nolicense.o: section mismatch in reference: f -> g"}}},
		{"nothing located", []string{"Makefile:3: *** missing separator.  Stop.", "make: *** [all] Error 2", "line 19"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diagnostics(tc.lines, dir); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diagnostics =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// The lines BuildModule reports for a failed build parse back: the
// rewritten log's errors name the author's file.
func TestDiagnosticsOfABuildLog(t *testing.T) {
	out := buildOutput(
		testOut+"/nobuild.c:8:16: error: 'this_symbol_does_not_exist' undeclared (first use in this function)",
		"    8 |         return this_symbol_does_not_exist;",
		"      |                ^~~~~~~~~~~~~~~~~~~~~~~~~~")
	ds := Diagnostics(readBuildLog(out, testOut, testSrc).errors(maxErrors), testSrc)
	if len(ds) != 1 || ds[0].File != testSrc+"/nobuild.c" || ds[0].Line != 8 || ds[0].Col != 16 {
		t.Errorf("Diagnostics = %+v; want one at %s/nobuild.c:8:16", ds, testSrc)
	}
}
