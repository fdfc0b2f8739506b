package annotate

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// A command escapes its message's %, CR and LF, and its properties' colons
// and commas too, as GitHub's toolkit does; it leaves out what is unknown.
func TestCommandString(t *testing.T) {
	for _, tc := range []struct {
		c    Command
		want string
	}{
		{Command{Kind: "error", File: "drv/mymap.c", Line: 7, Col: 16, Title: "mymap: compile error", Message: "'x' undeclared"},
			"::error file=drv/mymap.c,line=7,col=16,title=mymap%3A compile error::'x' undeclared"},
		{Command{Kind: "warning", File: "a,b.c", Line: 3, Title: "6.1, 6.12: w", Message: "100% sure\r\nnext: line"},
			"::warning file=a%2Cb.c,line=3,title=6.1%2C 6.12%3A w::100%25 sure%0D%0Anext: line"},
		{Command{Kind: "error", Title: "BUG: x in f", Message: "no place"},
			"::error title=BUG%3A x in f::no place"},
		{Command{Kind: "error", Line: 3, Col: 2, Message: "a line without a file is no place"},
			"::error::a line without a file is no place"},
		{Command{Kind: "warning", File: "m.c", Message: "a file without a line"},
			"::warning file=m.c::a file without a line"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() =\n%s\nwant\n%s", got, tc.want)
		}
	}
}

// failedRun is a run that failed as class says, in module mymap.
func failedRun(class verdict.Class) result.Run {
	return result.Run{Class: class, Module: "mymap", Title: "t", Message: "m"}
}

// Each kind of finding is one command, on the file relative to the
// repository when the file is in it, with its place in the message when
// it is not.
func TestRun(t *testing.T) {
	o := Options{Root: "/ws/repo", Module: "dir"}
	build := failedRun(verdict.ModuleBuild)
	build.Build = []result.Diagnostic{
		{Severity: "error", Tool: "compiler", File: "/ws/repo/drv/mymap.c", Line: 7, Column: 16, Message: "'x' undeclared"},
		{Severity: "error", Tool: "compiler", File: "/k/include/linux/mm.h", Line: 3, Column: 1, Message: "expected ';'"},
		{Severity: "error", Tool: "modpost", File: "/ws/repo/drv/mymap.c", Message: "missing MODULE_LICENSE() in /ws/repo/drv/mymap.o"},
		{Severity: "error", Tool: "modpost", Message: `"sym" [/ws/repo/drv/x.ko] undefined!`},
	}
	passWarn := result.Run{Class: verdict.Pass, Module: "mymap", Build: []result.Diagnostic{
		{Severity: "warning", Tool: "compiler", File: "/ws/repo/drv/mymap.c", Line: 3, Column: 5, Message: "no previous prototype for 'f'"},
		{Severity: "warning", Tool: "modpost", File: "/ws/repo/drv/mymap.c", Message: "section mismatch"}}}
	crash := failedRun(verdict.GuestCrash)
	crash.Message = "the kernel reported BUG: kernel NULL pointer dereference in mymap_mmap (during run reader)"
	crash.Crash = &verdict.Crash{Title: "BUG: kernel NULL pointer dereference in mymap_mmap", File: "/ws/repo/drv/mymap.c", Line: 42,
		Stack: []string{"mymap_mmap+0x1c/0x40 [mymap]", "mmap_region+0x2ea/0x501"}}
	kernelWarn := failedRun(verdict.GuestCrash)
	kernelWarn.Crash = &verdict.Crash{Title: "WARNING in vm_insert_page", File: "mm/memory.c", Line: 12}
	cases := failedRun(verdict.Contract)
	cases.Module = ""
	cases.Cases = []result.Case{
		{Suite: "contract", Name: "reader_output", Result: "pass"},
		{Suite: "contract", Name: "refuses_bad_maps", Result: "fail", Reason: "2 pages mapped", Diagnostics: []string{"mmap = 0x7f00"}},
		{Suite: "guesttest", Name: "TestPages", Result: "fail", Reason: "", Diagnostics: []string{"pages_test.go:63: byte 0 = 1"},
			File: "/ws/repo/drv/guesttest/pages_test.go", Line: 63},
		{Suite: "contract", Name: "unload_reload", Result: "crashed"},
	}
	boot := failedRun(verdict.Boot)
	boot.Cause = "the guest stopped"
	for _, tc := range []struct {
		name string
		res  result.Run
		o    Options
		want []Command
	}{
		{"build errors", build, o, []Command{
			{Kind: "error", File: "drv/mymap.c", Line: 7, Col: 16, Title: "mymap: compile error", Message: "'x' undeclared"},
			{Kind: "error", Title: "mymap: compile error", Message: "/k/include/linux/mm.h:3: expected ';'"},
			{Kind: "error", File: "drv/mymap.c", Title: "mymap: modpost error", Message: "missing MODULE_LICENSE() in /ws/repo/drv/mymap.o"},
			{Kind: "error", Title: "mymap: modpost error", Message: `"sym" [/ws/repo/drv/x.ko] undefined!`}}},
		{"warnings of a pass", passWarn, o, []Command{
			{Kind: "warning", File: "drv/mymap.c", Line: 3, Col: 5, Title: "mymap: W=1 warning", Message: "no previous prototype for 'f'"},
			{Kind: "warning", File: "drv/mymap.c", Title: "mymap: modpost warning", Message: "section mismatch"}}},
		{"a pass without warnings", result.Run{Class: verdict.Pass}, o, nil},
		{"crash in the module", crash, o, []Command{{Kind: "error", File: "drv/mymap.c", Line: 42, Title: crash.Crash.Title,
			Message: crash.Message + "\nmymap_mmap+0x1c/0x40 [mymap]\nmmap_region+0x2ea/0x501"}}},
		{"crash in the kernel", kernelWarn, o, []Command{{Kind: "error", Title: "WARNING in vm_insert_page", Message: "mm/memory.c:12: m"}}},
		{"failed cases", cases, o, []Command{
			{Kind: "error", Title: "contract: refuses_bad_maps failed", Message: "2 pages mapped\nmmap = 0x7f00"},
			{Kind: "error", File: "drv/guesttest/pages_test.go", Line: 63, Title: "guesttest: TestPages failed", Message: "pages_test.go:63: byte 0 = 1"}}},
		{"a failure that locates nothing", boot, o, []Command{{Kind: "error", Title: "mymap: t", Message: "m: the guest stopped"}}},
		{"outside the repository", crash, Options{Root: "/elsewhere"}, []Command{{Kind: "error", Title: crash.Crash.Title,
			Message: "/ws/repo/drv/mymap.c:42: " + crash.Message + "\nmymap_mmap+0x1c/0x40 [mymap]\nmmap_region+0x2ea/0x501"}}},
		{"no repository: paths as they are", passWarn, Options{}, []Command{
			{Kind: "warning", File: "/ws/repo/drv/mymap.c", Line: 3, Col: 5, Title: "mymap: W=1 warning", Message: "no previous prototype for 'f'"},
			{Kind: "warning", File: "/ws/repo/drv/mymap.c", Title: "mymap: modpost warning", Message: "section mismatch"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Run(tc.res, tc.o); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Run =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// A matrix annotates each failing cell, titled with its name, and every
// cell's warnings; the same warning in two cells is one command.
func TestCells(t *testing.T) {
	warn := result.Diagnostic{Severity: "warning", Tool: "compiler", File: "/r/m.c", Line: 3, Message: "w"}
	pass := result.Run{Class: verdict.Pass, Module: "m", Build: []result.Diagnostic{warn}}
	crash := result.Run{Class: verdict.GuestCrash, Module: "m", Message: "crashed", Build: []result.Diagnostic{warn},
		Crash: &verdict.Crash{Title: "BUG: x in m_mmap", File: "/r/m.c", Line: 9}}
	cells := []result.Cell{
		result.NewCell("6.1", verdict.Pass, pass, 0),
		result.NewCell("6.12-debug", verdict.Pass, crash, 0),
		result.NewCell("6.6", verdict.GuestCrash, crash, 0), // failed as it must: no error
		result.SkippedCell("stable", verdict.Pass, "needs the internet"),
	}
	want := []Command{
		{Kind: "warning", File: "m.c", Line: 3, Title: "6.1, 6.12-debug, 6.6: m: W=1 warning", Message: "w"},
		{Kind: "error", File: "m.c", Line: 9, Title: "6.12-debug: BUG: x in m_mmap", Message: "crashed"},
	}
	if got := Cells(cells, Options{Root: "/r"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Cells =\n%+v\nwant\n%+v", got, want)
	}
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	cmds := []Command{{Kind: "warning", File: "m.c", Line: 3, Title: "w", Message: "a"}, {Kind: "error", Message: "b"}}
	if err := Write(&b, cmds); err != nil {
		t.Fatal(err)
	}
	if want := "::warning file=m.c,line=3,title=w::a\n::error::b\n"; b.String() != want {
		t.Errorf("Write wrote %q, want %q", b.String(), want)
	}
}
