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

	"github.com/mmaprig/mmaprig/internal/arch"
)

// relSource has functions at offset 0 of three sections, as a module's
// .text, .init.text and .exit.text, and an inline chain.
const relSource = `static volatile int *r_ptr;
static inline __attribute__((always_inline)) void r_poke(int v) { *r_ptr = v; }
static inline __attribute__((always_inline)) void r_touch(int v) { r_poke(v * 3); }
int r_mmap(int v) { r_touch(v); return -5; }
__attribute__((section(".init.text"))) int r_init(int v) { r_poke(v); return 0; }
__attribute__((section(".exit.text"))) void r_exit(void) { *r_ptr = 0; }
`

// A relocatable object of each architecture the rig runs, compiled by its
// compiler as a module's objects are, decodes as that architecture's
// addr2line -i says, section by section: its sections all start at 0,
// and the relocations debug/elf applies to its DWARF are that
// architecture's.
func TestDecodeRelocatable(t *testing.T) {
	for _, name := range arch.Names() {
		a, _ := arch.Get(name)
		t.Run(name, func(t *testing.T) {
			cc, a2l := a.CC(), a.CrossCompile+"addr2line"
			if a.Native() {
				a2l = "addr2line"
			}
			for _, tool := range []string{cc, a2l} {
				if _, err := exec.LookPath(tool); err != nil {
					t.Skipf("no %s", tool)
				}
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "r.c"), []byte(relSource), 0o644)
			obj := filepath.Join(dir, "r.o")
			if b, err := exec.Command(cc, "-g", "-O2", "-c", "-o", obj, filepath.Join(dir, "r.c")).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cc, err, b)
			}
			compareAddr2line(t, obj, a2l)
		})
	}
}

// compareAddr2line decodes every address of the object's r_ functions,
// as a trap, and compares with addr2line.
func compareAddr2line(t *testing.T, obj, a2l string) {
	t.Helper()
	objs := Objects{Modules: map[string]string{"r": obj}}
	f, err := elf.Open(obj)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	sections := map[string]bool{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || !strings.HasPrefix(s.Name, "r_") {
			continue
		}
		sec := f.Sections[s.Section].Name
		sections[sec] = true
		for off := uint64(0); off < s.Size; off += 2 {
			line := fmt.Sprintf("RIP: 0010:%s+%#x/%#x [r]", s.Name, off, s.Size)
			got := decodeOne(t, objs, line).Lines
			if want := addr2lineWith(t, a2l, obj, sec, s.Value+off); !reflect.DeepEqual(got, want) {
				t.Errorf("%s (%s+%#x): %+v; %s -i says %+v", line, sec, s.Value+off, got, a2l, want)
			}
		}
	}
	if len(sections) != 3 {
		t.Errorf("the object's functions are in %v; want .text, .init.text and .exit.text", sections)
	}
}
