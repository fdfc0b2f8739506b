package symbolize

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Two files, as a kernel's: inline helpers, and a static function of the
// same name in each, of different sizes.
var execSources = map[string]string{
	"a.c": `static inline __attribute__((always_inline)) int k_inner(volatile int *p) { return *p + 1; }
static __attribute__((noinline)) int k_dup(volatile int *p) { return k_inner(p); }
int k_a(volatile int *p) { return k_dup(p) * 3; }
`,
	"b.c": `static __attribute__((noinline)) int k_dup(volatile int *p) { *p = 1; *p = 2; *p = 3; return *p * 7; }
int k_a(volatile int *p);
int main(void) { volatile int x = 0; return k_a(&x) + k_dup(&x); }
`,
}

// buildExec compiles execSources into an executable, its files named
// under /ksrc in the debug info, as vmlinux names its tree.
func buildExec(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	for name, src := range execSources {
		os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644)
	}
	out := filepath.Join(dir, "prog")
	cmd := exec.Command("gcc", "-g", "-O2", "-fdebug-prefix-map="+dir+"=/ksrc", "-o", out, "a.c", "b.c")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

// An executable (vmlinux's kind of file) decodes as addr2line -i says,
// its files relative to the tree; a static function whose name is not
// unique is told apart by the size the frame gives.
func TestDecodeExecutable(t *testing.T) {
	prog := buildExec(t)
	if _, err := exec.LookPath("addr2line"); err != nil {
		t.Skip("no addr2line (binutils) to compare with")
	}
	objs := Objects{Vmlinux: prog, Roots: []Root{{From: "/ksrc"}}}
	f, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	dups := 0
	for _, s := range syms {
		// main is in .text.startup, which the linker puts before .text:
		// b.c's line table has a sequence above it first.
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || !strings.HasPrefix(s.Name, "k_") && s.Name != "main" {
			continue
		}
		if s.Name == "k_dup" {
			dups++
		}
		for off := uint64(0); off < s.Size; off++ {
			line := fmt.Sprintf("RIP: 0010:%s+%#x/%#x", s.Name, off, s.Size)
			got := decodeOne(t, objs, line).Lines
			want := addr2line(t, prog, "", s.Value+off)
			for i := range want {
				want[i].File = strings.TrimPrefix(want[i].File, "/ksrc/")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %+v; addr2line -i says %+v", line, got, want)
			}
		}
	}
	if dups != 2 {
		t.Errorf("the program has %d functions k_dup; want 2, one in each file", dups)
	}
}

// .debug_aranges finds the same unit for each function as the units'
// own ranges do.
func TestAranges(t *testing.T) {
	prog := buildExec(t)
	o, err := openObject(prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.units) == 0 {
		t.Fatal("no .debug_aranges read")
	}
	for name, syms := range o.syms {
		if !strings.HasPrefix(name, "k_") && name != "main" {
			continue // the C runtime's, without debug info
		}
		for _, s := range syms {
			off, ok := o.units.find(s.Value)
			if !ok {
				t.Errorf("%s (%#x) is in no unit's .debug_aranges", name, s.Value)
				continue
			}
			got, err := seekUnit(o.d.Reader(), off)
			want, err2 := o.d.Reader().SeekPC(s.Value)
			if err != nil || err2 != nil || got.Offset != want.Offset {
				t.Errorf("%s: the unit at %#x (%v); its ranges say %+v (%v)", name, off, err, want, err2)
			}
		}
	}
	if _, ok := o.units.find(1); ok {
		t.Error("address 1 is in a unit")
	}
}
