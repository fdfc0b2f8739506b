package symbolize

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/kernel"
)

// buildFixture builds a fixture module the way the rig does, against the
// kernel tree MMAPRIG_KERNEL_BUILD, and returns its .ko.
func buildFixture(t *testing.T, name string) string {
	t.Helper()
	kdir := os.Getenv("MMAPRIG_KERNEL_BUILD")
	if kdir == "" || testing.Short() {
		t.Skip("MMAPRIG_KERNEL_BUILD is not set (or -short); point it at a built kernel tree: go run ./rig kdir")
	}
	dir, _ := filepath.Abs(filepath.Join("../../testdata/modules", name))
	out := filepath.Join(t.TempDir(), "out")
	spec := kernel.ModuleSpec{Dir: dir, Mode: kernel.BuildKbuild}
	if _, err := kernel.BuildModule(context.Background(), arch.Host(), kdir, spec, out, io.Discard); err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return filepath.Join(out, name+".ko")
}

// markerLine is the line of src whose comment says "mmaprig: marker".
func markerLine(t *testing.T, src, marker string) int {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "/* mmaprig: "+marker+" */") {
			return i + 1
		}
	}
	t.Fatalf("%s has no marker %q", src, marker)
	return 0
}

// The fixture's mmap faults in a helper inlined twice deep: the trap
// decodes to the chain of the three functions, each at its marked line,
// in the author's file; its exit function, at the same offset in
// .exit.text as the mmap in .text, decodes to its own line.
func TestDecodeModule(t *testing.T) {
	ko := buildFixture(t, "inlineoops")
	src, _ := filepath.Abs("../../testdata/modules/inlineoops/inlineoops.c")
	objs := Objects{Modules: map[string]string{"inlineoops": ko}, Roots: []Root{{kernel.ModuleDebugRoot, filepath.Dir(src)}}}
	mmap, exit := funcSym(t, ko, "inlineoops_mmap"), funcSym(t, ko, "inlineoops_exit")
	if mmap.Value != exit.Value {
		t.Fatalf("inlineoops_mmap is at %#x in its section, inlineoops_exit at %#x: the fixture no longer tests overlapping sections", mmap.Value, exit.Value)
	}
	faulting := []Location{
		{"inlineoops_poke", src, markerLine(t, src, "faults")},
		{"inlineoops_touch", src, markerLine(t, src, "calls poke")},
		{"inlineoops_mmap", src, markerLine(t, src, "calls touch")},
	}
	found := false
	for off := uint64(0); off < mmap.Size; off++ {
		f := decodeOne(t, objs, fmt.Sprintf("RIP: 0010:inlineoops_mmap+%#x/%#x [inlineoops]", off, mmap.Size))
		found = found || reflect.DeepEqual(f.Lines, faulting)
	}
	if !found {
		t.Errorf("no address of inlineoops_mmap decodes to %+v", faulting)
	}
	f := decodeOne(t, objs, fmt.Sprintf("RIP: 0010:inlineoops_exit+0x0/%#x [inlineoops]", exit.Size))
	if want := (Location{"inlineoops_exit", src, markerLine(t, src, "exit")}); len(f.Lines) == 0 || f.Lines[len(f.Lines)-1] != want {
		t.Errorf("inlineoops_exit+0x0 decodes to %+v; want it to end in %+v", f.Lines, want)
	}
}

// decodeOne decodes a single frame: a trap (a RIP: line) or a return
// address.
func decodeOne(t *testing.T, objs Objects, line string) Frame {
	t.Helper()
	trap, stack := line, []string(nil)
	if !strings.HasPrefix(line, "RIP: ") {
		trap, stack = "", []string{line}
	}
	frames, err := Decode(context.Background(), objs, trap, stack)
	if err != nil || len(frames) != 1 {
		t.Fatalf("Decode(%s) = %+v, %v", line, frames, err)
	}
	return frames[0]
}

// funcSym is the .ko's symbol of a function, as the file has it.
func funcSym(t *testing.T, ko, name string) elf.Symbol {
	t.Helper()
	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s has no symbol %s", ko, name)
	return elf.Symbol{}
}

// Every address of every function of the .ko, in .text, .init.text and
// .exit.text, as a trap and as a return address, decodes as
// binutils' addr2line -i says, given the section.
func TestDecodeAgreesWithAddr2line(t *testing.T) {
	ko := buildFixture(t, "inlineoops")
	if _, err := exec.LookPath("addr2line"); err != nil {
		t.Skip("no addr2line (binutils) to compare with")
	}
	objs := Objects{Modules: map[string]string{"inlineoops": ko}}
	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	n := 0
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section >= elf.SHN_LORESERVE || s.Section == elf.SHN_UNDEF {
			continue
		}
		sec := f.Sections[s.Section].Name
		for off := uint64(0); off < s.Size; off++ {
			for _, trap := range []bool{true, false} {
				line := fmt.Sprintf("%s+%#x/%#x [inlineoops]", s.Name, off, s.Size)
				pc := s.Value + off
				if trap {
					line = "RIP: 0010:" + line
				} else if off == 0 {
					continue
				} else {
					pc--
				}
				got := decodeOne(t, objs, line).Lines
				if want := addr2line(t, ko, sec, pc); !reflect.DeepEqual(got, want) {
					t.Errorf("%s (%s%+#x): %+v; addr2line -i says %+v", line, sec, pc, got, want)
				}
				n++
			}
		}
	}
	if n < 20 {
		t.Errorf("compared only %d addresses", n)
	}
}

// addr2line asks binutils where pc is in the section.
func addr2line(t *testing.T, ko, section string, pc uint64) []Location {
	t.Helper()
	out, err := exec.Command("addr2line", "-i", "-f", "-e", ko, "-j", section, fmt.Sprintf("%#x", pc)).Output()
	if err != nil {
		t.Fatalf("addr2line: %v", err)
	}
	var locs []Location
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		fn := sc.Text()
		if !sc.Scan() {
			break
		}
		file, line, _ := strings.Cut(sc.Text(), ":")
		line, _, _ = strings.Cut(line, " ")
		var n int
		fmt.Sscan(line, &n)
		locs = append(locs, Location{fn, file, n})
	}
	return locs
}
