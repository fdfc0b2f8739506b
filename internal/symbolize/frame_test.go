package symbolize

import (
	"reflect"
	"slices"
	"testing"
)

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Frame
		ok   bool
	}{
		{"mymap_mmap+0x1c/0x40 [mymap]", Frame{Raw: "mymap_mmap+0x1c/0x40 [mymap]", Function: "mymap_mmap", Offset: 0x1c, Size: 0x40, Module: "mymap", Reliable: true}, true},
		{" ? mmap_region+0x2ea/0x501", Frame{Raw: "mmap_region+0x2ea/0x501", Function: "mmap_region", Offset: 0x2ea, Size: 0x501}, true},
		{"[<ffffffff8123>] foo.isra.0+0x1/0x2", Frame{Raw: "foo.isra.0+0x1/0x2", Function: "foo.isra.0", Offset: 1, Size: 2, Reliable: true}, true},
		{"RIP: 0010:nullmmap_mmap+0x0/0x11 [nullmmap]", Frame{Raw: "nullmmap_mmap+0x0/0x11 [nullmmap]", Function: "nullmmap_mmap", Size: 0x11, Module: "nullmmap", Reliable: true, Trap: true}, true},
		{"pc : nullmmap_mmap+0x8/0x14 [nullmmap]", Frame{Raw: "nullmmap_mmap+0x8/0x14 [nullmmap]", Function: "nullmmap_mmap", Offset: 8, Size: 0x14, Module: "nullmmap", Reliable: true, Trap: true}, true},
		{"my-mod_fn+0x8/0x14 [my-mod]", Frame{Raw: "my-mod_fn+0x8/0x14 [my-mod]"}, false},
		{"RIP: 0033:0x7f0000001234", Frame{}, false},
		{"<TASK>", Frame{}, false},
		{"", Frame{}, false},
	} {
		got, ok := ParseFrame(tc.line)
		if ok != tc.ok || ok && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFrame(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// The trap is the first frame; a stack that starts with it (arm64's)
// has it once; a guess at its address (x86 pt_regs) is the trap too.
func TestParseStack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trap  string
		stack []string
		want  []string // Raw, with "!" for a trap and "?" for a guess
	}{
		{"x86", "RIP: 0010:f+0x5/0x10 [m]", []string{"<TASK>", "g+0x1/0x2", "h+0x3/0x4", "</TASK>"},
			[]string{"!f+0x5/0x10 [m]", "g+0x1/0x2", "h+0x3/0x4"}},
		{"arm64", "pc : f+0x8/0x14 [m]", []string{"f+0x8/0x14 [m]", "g+0x1/0x2"},
			[]string{"!f+0x8/0x14 [m]", "g+0x1/0x2"}},
		{"x86 pt_regs", "RIP: 0010:f+0x5/0x10 [m]", []string{"? __die+0x1/0x2", "? f+0x5/0x10 [m]", "g+0x1/0x2"},
			[]string{"!f+0x5/0x10 [m]", "?__die+0x1/0x2", "?!f+0x5/0x10 [m]", "g+0x1/0x2"}},
		{"no trap", "", []string{"dump_stack_lvl+0x1/0x2", "f+0x5/0x10 [m]"},
			[]string{"dump_stack_lvl+0x1/0x2", "f+0x5/0x10 [m]"}},
	} {
		var got []string
		for _, f := range parseStack(tc.trap, tc.stack) {
			s := f.Raw
			if f.Trap {
				s = "!" + s
			}
			if !f.Reliable {
				s = "?" + s
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	frames := []Frame{
		{Function: "m_mmap", Offset: 0xa, Size: 0x17, Module: "m", Reliable: true, Lines: []Location{
			{"m_poke", "mod/m.c", 17}, {"m_touch", "mod/m.c", 22}, {"m_mmap", "mod/m.c", 27}}},
		{Function: "mmap_region", Offset: 0x2ea, Size: 0x501, Lines: []Location{{"mmap_region", "mm/mmap.c", 2750}}},
		{Function: "do_mmap", Offset: 1, Size: 2, Reliable: true},
	}
	want := []string{
		"m_poke mod/m.c:17 [inline]",
		"m_touch mod/m.c:22 [inline]",
		"m_mmap+0xa/0x17 mod/m.c:27 [m]",
		"? mmap_region+0x2ea/0x501 mm/mmap.c:2750",
		"do_mmap+0x1/0x2",
	}
	if got := Format(frames); !slices.Equal(got, want) {
		t.Errorf("Format:\n%q\nwant\n%q", got, want)
	}
}

func TestInnermost(t *testing.T) {
	f := Frame{Lines: []Location{{"list_add", "include/linux/list.h", 70}, {"m_open", "/src/m.c", 12}}}
	inSrc := func(file string) bool { return file == "/src/m.c" }
	if l, ok := f.Innermost(inSrc); !ok || l.Line != 12 {
		t.Errorf("Innermost in the module's sources: %+v, %v; want m.c:12", l, ok)
	}
	if l, ok := f.Innermost(func(string) bool { return false }); !ok || l.Line != 70 {
		t.Errorf("Innermost anywhere: %+v, %v; want list.h:70", l, ok)
	}
	if _, ok := (Frame{}).Innermost(inSrc); ok {
		t.Error("a frame without lines has an innermost one")
	}
}

func TestMapFile(t *testing.T) {
	s := &session{objs: Objects{Roots: []Root{{"/mmaprig-src", "/home/a/drv"}, {"/mmaprig-kernel", ""}, {"/cache/src/k", ""}}}}
	for in, want := range map[string]string{
		"/mmaprig-src/m.c":                   "/home/a/drv/m.c",
		"/mmaprig-src/sub/../m.c":            "/home/a/drv/m.c",
		"/mmaprig-kernel/include/linux/mm.h": "include/linux/mm.h",
		"/cache/src/k/mm/mmap.c":             "mm/mmap.c",
		"/mmaprig-srcx/m.c":                  "/mmaprig-srcx/m.c",
		"/elsewhere/x.c":                     "/elsewhere/x.c",
	} {
		if got := s.mapFile(in); got != want {
			t.Errorf("mapFile(%s) = %s; want %s", in, got, want)
		}
	}
}
