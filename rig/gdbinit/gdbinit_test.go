package gdbinit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// reports are real and constructed kernel reports, kept with the report
// parser's tests.
const reports = "../../internal/kreport/testdata/reports"

func readReport(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(reports, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		file, goarch string
		cpu          int
		where        string
		want         []string // "name=value", in the order the script sets them
		nregs        int
	}{
		{file: "x86-null-mmap.txt", goarch: "amd64", cpu: 0, where: "nullmmap_mmap+0x0/0x11 [nullmmap]",
			want: []string{"rsp=0xffa00000000f3d70", "r8=0xffa00000000f3c9f", "eflags=0x00000206", "rax=0xffffffffa0001060", "r15=0xff110000004eaab8",
				"rip=(unsigned long)&'nullmmap_mmap' + 0x0"},
			nregs: 18},
		{file: "arm64-null-mmap.txt", goarch: "arm64", cpu: 0, where: "nullmmap_mmap+0x8/0x14 [nullmmap]",
			want: []string{"x30=(unsigned long)&'mmap_file' + 0x1c", "sp=0xffffff8000dc7c30", "x29=0xffffff8000dc7c30", "x9=0xfffffffe001ce930",
				"x0=0x0000000000000000", "pc=(unsigned long)&'nullmmap_mmap' + 0x8"},
			nregs: 33},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, ok := ParseFault(tc.goarch, readReport(t, tc.file))
			if !ok {
				t.Fatal("no registers found")
			}
			if f.CPU != tc.cpu || f.Where != tc.where {
				t.Errorf("CPU %d at %q, want %d at %q", f.CPU, f.Where, tc.cpu, tc.where)
			}
			if len(f.Regs) != tc.nregs {
				t.Errorf("%d registers, want %d: %v", len(f.Regs), tc.nregs, f.Regs)
			}
			got := map[string]string{}
			for _, r := range f.Regs {
				got[r.Name] = r.Value
			}
			for _, w := range tc.want {
				name, value, _ := strings.Cut(w, "=")
				if got[name] != value {
					t.Errorf("$%s = %q, want %q", name, got[name], value)
				}
			}
			if last := f.Regs[len(f.Regs)-1]; last.Name != map[string]string{"amd64": "rip", "arm64": "pc"}[tc.goarch] {
				t.Errorf("the program counter must be set last, after the registers gdb unwinds from; last is $%s", last.Name)
			}
		})
	}
}

func TestParseFaultNone(t *testing.T) {
	// A lockdep report prints no registers: nothing to load.
	if f, ok := ParseFault("amd64", readReport(t, "dbg-lockdep-circular.txt")); ok {
		t.Errorf("found registers in a lockdep report: %+v", f)
	}
}

func TestRender(t *testing.T) {
	fault, ok := ParseFault("amd64", readReport(t, "x86-null-mmap.txt"))
	if !ok {
		t.Fatal("no registers")
	}
	s := Script{
		Vmlinux: "/k/vmlinux", Target: "/run/gdb.sock", KernelScripts: "/k/vmlinux-gdb.py",
		Paths:   []PathMap{{"/mmaprig-src", "/home/a/drv"}},
		Modules: []Module{{KO: "/c/my mod.ko", Sections: map[string]uint64{".text": 0xffffffffc0000000, ".bss": 0xffffffffc0002000, ".data": 0xffffffffc0001000}}},
		Fault:   fault,
	}
	got := s.Render()
	for _, want := range []string{
		"file /k/vmlinux\n",
		"add-auto-load-safe-path /k/\nsource /k/vmlinux-gdb.py\n",
		"set substitute-path /mmaprig-src /home/a/drv\n",
		`add-symbol-file "/c/my mod.ko" 0xffffffffc0000000 -s .bss 0xffffffffc0002000 -s .data 0xffffffffc0001000` + "\n",
		"target remote /run/gdb.sock\n",
		"define mmaprig-fault\n  thread 1\n",
		"  set $rip = (unsigned long)&'nullmmap_mmap' + 0x0\n",
		"end\n",
		"\nmmaprig-fault\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the script lacks %q:\n%s", want, got)
		}
	}
	// Symbols must be loaded before gdb reads the target's frames, and the
	// registers set only once it is attached.
	order := []string{"file ", "add-symbol-file", "target remote", "mmaprig-fault\n"}
	at := -1
	for _, o := range order {
		i := strings.Index(got, o)
		if i < at {
			t.Errorf("%q comes before what precedes it in %v", o, order)
		}
		at = i
	}
}

func TestRenderNoText(t *testing.T) {
	// A module whose sections were not readable gets no add-symbol-file,
	// rather than a wrong one.
	got := Script{Vmlinux: "v", Target: "s", Modules: []Module{{KO: "m.ko", Sections: map[string]uint64{".data": 1}}}}.Render()
	if strings.Contains(got, "add-symbol-file") {
		t.Errorf("add-symbol-file without .text:\n%s", got)
	}
}

// Paths with blanks: gdb reads the script to its end, loads the kernel's
// scripts, and maps the sources to the right directories. Checked by a
// real gdb where there is one: gdb aborts a script at its first bad line.
func TestRenderBlanks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my tree")
	kdir, src := filepath.Join(dir, "kernel build"), filepath.Join(dir, "driver src")
	for _, d := range []string{kdir, src} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := Script{Vmlinux: filepath.Join(kdir, "vmlinux"), Target: filepath.Join(dir, "gdb.sock"),
		KernelScripts: filepath.Join(kdir, "vmlinux-gdb.py"),
		Paths:         []PathMap{{"/mmaprig src", src}, {"/k", kdir}}}
	got := s.Render()
	for _, want := range []string{
		`file "` + s.Vmlinux + `"` + "\n",
		"add-auto-load-safe-path " + kdir + "/\n",
		"source " + s.KernelScripts + "\n",
		`set substitute-path "/mmaprig src" "` + src + `"` + "\n",
		`set substitute-path /k "` + kdir + `"` + "\n",
		"target remote " + s.Target + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the script lacks %q:\n%s", want, got)
		}
	}
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		t.Skip("no gdb to read the script")
	}
	exe, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no ELF file to load as the kernel")
	}
	for name, b := range map[string]string{"vmlinux": string(exe), "vmlinux-gdb.py": `print("kernel scripts loaded")` + "\n"} {
		if err := os.WriteFile(filepath.Join(kdir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// No guest to attach to: the script up to its target.
	script := filepath.Join(dir, "gdbinit")
	if err := os.WriteFile(script, []byte(got[:strings.Index(got, "target remote")]), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gdb, "-batch", "-nx", "-x", script, "-ex", "show substitute-path").CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	for _, want := range []string{"kernel scripts loaded", "`/mmaprig src' -> `" + src + "'", "`/k' -> `" + kdir + "'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gdb's output lacks %q:\n%s", want, out)
		}
	}
}
