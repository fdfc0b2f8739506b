package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree writes files (path: content) under a fresh directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for f, s := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const ldd3Makefile = "ifneq ($(KERNELRELEASE),)\nobj-m := x.o\nelse\ndefault:\n\t$(MAKE) -C $(KERNELDIR) M=$(PWD) LDDINC=$(PWD)/../include modules\nendif\n"

// auto picks dkms.conf first, then Kbuild, then a Makefile that runs
// make -C itself; a Makefile that is a kbuild file builds with kbuild.
func TestDetectMode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		files     map[string]string
		mode, why string
	}{
		{"dkms", map[string]string{"dkms.conf": "", "Makefile": ldd3Makefile, "Kbuild": ""}, BuildDKMS, "it has a dkms.conf"},
		{"kbuild with a wrapper", map[string]string{"Kbuild": "obj-m := x.o\n", "Makefile": "all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n"}, BuildKbuild, "it has a Kbuild file"},
		{"ldd3", map[string]string{"Makefile": ldd3Makefile}, BuildMake,
			`its Makefile runs "$(MAKE) -C $(KERNELDIR) M=$(PWD) LDDINC=$(PWD)/../include modules"`},
		{"plain make", map[string]string{"Makefile": "all:\n\tmake -C /lib/modules/$(shell uname -r)/build M=$(PWD)\n"}, BuildMake,
			`its Makefile runs "make -C /lib/modules/$(shell uname -r)/build M=$(PWD)"`},
		{"obj-m Makefile", map[string]string{"Makefile": "obj-m := x.o\n# make -C is how you build it\n"}, BuildKbuild, "its Makefile is a kbuild file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, why, err := DetectMode(writeTree(t, tc.files))
			if err != nil || mode != tc.mode || why != tc.why {
				t.Errorf("%s, %q, %v; want %s, %q", mode, why, err, tc.mode, tc.why)
			}
		})
	}
}

// Resolve keeps the module inside its root and needs the file of the mode
// asked for.
func TestResolve(t *testing.T) {
	root := writeTree(t, map[string]string{"drv/Kbuild": "obj-m := x.o\n", "include/x.h": ""})
	drv, other := filepath.Join(root, "drv"), t.TempDir()
	for _, tc := range []struct {
		spec ModuleSpec
		want string // an error's text, or the mode
	}{
		{ModuleSpec{Dir: drv, Root: root}, BuildKbuild},
		{ModuleSpec{Dir: drv, Root: other}, "the module directory " + drv + " is not inside the module root " + other},
		{ModuleSpec{Dir: drv, Mode: BuildMake}, drv + " has no Makefile"},
		{ModuleSpec{Dir: drv, Mode: BuildDKMS}, drv + " has no dkms.conf"},
		{ModuleSpec{Dir: drv, Mode: "cmake"}, `unknown build mode "cmake" (want one of auto, kbuild, make, dkms)`},
		{ModuleSpec{Dir: other}, "not an out-of-tree module directory: " + other + " has no Kbuild, Makefile or dkms.conf"},
	} {
		s, _, err := tc.spec.Resolve()
		got := s.Mode
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: %s; want %s", tc.spec, got, tc.want)
		}
	}
	if s := (ModuleSpec{Dir: drv, Root: root}); s.Rel() != "drv" || s.TreeRoot() != root || (ModuleSpec{Dir: drv}).Rel() != "" {
		t.Errorf("Rel %q, TreeRoot %q", s.Rel(), s.TreeRoot())
	}
}

func TestParseMakeArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"DEBUG=y", []string{"DEBUG=y"}},
		{`A=1 B="two words" C='$x' D=`, []string{"A=1", "B=two words", "C=$x", "D="}},
		{`EXTRA="-DX=\"q\""`, []string{`EXTRA=-DX="q"`}},
	} {
		got, err := ParseMakeArgs(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Every input that changes a build changes its key: the mode, the make
// variables, where the module is in its root, and any file of the root.
func TestModuleKeyInputs(t *testing.T) {
	root := writeTree(t, map[string]string{"drv/Makefile": ldd3Makefile, "drv/x.c": "int x;\n", "include/x.h": "#define X 1\n"})
	base := ModuleSpec{Dir: filepath.Join(root, "drv"), Root: root, Mode: BuildMake}
	key := func(s ModuleSpec) string {
		k, err := ModuleKey("kernel", s)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key(base)
	if key(base) != k0 {
		t.Fatal("the key is not stable")
	}
	for name, s := range map[string]ModuleSpec{
		"mode":      {Dir: base.Dir, Root: root, Mode: BuildKbuild},
		"make args": {Dir: base.Dir, Root: root, Mode: BuildMake, MakeArgs: []string{"DEBUG=y"}},
		"no root":   {Dir: base.Dir, Mode: BuildMake},
		"coverage":  {Dir: base.Dir, Root: root, Mode: BuildMake, Coverage: true},
	} {
		if key(s) == k0 {
			t.Errorf("changing the %s left the key as it was", name)
		}
	}
	os.WriteFile(filepath.Join(root, "include/x.h"), []byte("#define X 2\n"), 0o644)
	if key(base) == k0 {
		t.Error("changing ../include/x.h left the key as it was")
	}
}

// The author's files are named relative to the module directory, even
// above it (../include), through dkms's links too; a header's chain
// leads to the author's line that included it.
func TestBuildLogTree(t *testing.T) {
	const out, src, link = "/cache/module/1.tmp", "/home/dev/tree", "/tmp/dkms/tree/p/1/build"
	p := logPaths{out: out, src: src, rel: "drv", aliases: map[string]string{link: out + "/drv"}}
	log := readLog(strings.Join([]string{
		"make: Entering directory '" + testKdir + "'",
		"In file included from " + out + "/drv/../include/x.h:3,",
		"                 from " + link + "/main.c:12:",
		"./include/linux/module.h:184:43: error: expected ';'",
		"  184 | #define MODULE_FILE",
		"./include/linux/module.h:190:1: error: again",
		out + "/include/y.h:2:1: warning: unused",
		"make: Leaving directory '" + testKdir + "'",
	}, "\n"), p)
	errs := log.errors(maxErrors)
	want := []string{
		"../include/x.h:3: the first error is in a header this line includes: " + testKdir + "/include/linux/module.h:184:43: error: expected ';'",
		testKdir + "/include/linux/module.h:184:43: error: expected ';'", "  184 | #define MODULE_FILE",
		testKdir + "/include/linux/module.h:190:1: error: again",
	}
	if !slices.Equal(errs, want) {
		t.Errorf("errors:\n%q\nwant\n%q", errs, want)
	}
	if w := log.warnings(); !slices.Equal(w, []string{"../include/y.h:2:1: warning: unused"}) {
		t.Errorf("warnings %q", w)
	}
	// An error in the author's own files is the headline, wherever it is.
	own := readLog(buildOutput(
		"./include/linux/fs.h:1:1: error: kernel's",
		out+"/drv/main.c:5:2: error: author's",
	), p).errors(maxErrors)
	if len(own) != 2 || own[0] != "main.c:5:2: error: author's" {
		t.Errorf("errors %q; want the author's first", own)
	}
}
