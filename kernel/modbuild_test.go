package kernel

import (
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// Real builds of the fixtures against a built kernel tree
// (MMAPRIG_KERNEL_BUILD, as `rig kdir` prints it): what each mode makes,
// and what a build that makes no module says.
func TestBuildModuleModes(t *testing.T) {
	kdir := kernelTree(t)
	fixtures, _ := filepath.Abs("../testdata/modules")
	ldd3 := ModuleSpec{Dir: filepath.Join(fixtures, "ldd3/ldd3map"), Root: filepath.Join(fixtures, "ldd3")}
	for _, tc := range []struct {
		name string
		spec ModuleSpec
		kos  []string
		none *NoModulesError
	}{
		{"ldd3 make", ModuleSpec{Dir: ldd3.Dir, Root: ldd3.Root, Mode: BuildMake}, []string{"ldd3map/ldd3map.ko"}, nil},
		{"ldd3 dkms", ModuleSpec{Dir: ldd3.Dir, Root: ldd3.Root, Mode: BuildDKMS}, []string{"ldd3map/ldd3map.ko"}, nil},
		{"two modules", ModuleSpec{Dir: filepath.Join(fixtures, "twomod"), Mode: BuildKbuild}, []string{"mapdev.ko", "pagecore.ko"}, nil},
		{"empty obj-m", ModuleSpec{Dir: filepath.Join(fixtures, "emptyobjm"), Mode: BuildKbuild}, nil,
			&NoModulesError{Mode: BuildKbuild, ObjM: []string{"Makefile:4: obj-m += $(OBJECT_FILES)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, err := BuildModule(context.Background(), arch.Host(), kdir, tc.spec, out, io.Discard)
			var none *NoModulesError
			switch {
			case tc.none != nil:
				if !errors.As(err, &none) || !slices.Equal(none.ObjM, tc.none.ObjM) || len(none.Objects) != 0 || !errors.Is(err, ErrModuleBuild) {
					t.Errorf("error %v; want built 0 modules naming %q", err, tc.none.ObjM)
				}
			case err != nil:
				t.Fatal(err)
			case !slices.Equal(res.Kos, tc.kos) || res.Mode != tc.spec.Mode:
				t.Errorf("built %q (%s); want %q", res.Kos, res.Mode, tc.kos)
			default:
				if got, err := ReadBuilt(out); err != nil || !slices.Equal(got.Kos, tc.kos) {
					t.Errorf("the recorded build: %+v, %v", got, err)
				}
			}
		})
	}
}

// -make-args reach the compiler in every mode: on make's command line
// (kbuild, make) or through MAKEFLAGS (dkms); and a dkms.conf builds
// several modules, found where it says.
func TestBuildModuleArgsAndDKMSModules(t *testing.T) {
	kdir := kernelTree(t)
	fixtures, _ := filepath.Abs("../testdata/modules")
	ldd3 := ModuleSpec{Dir: filepath.Join(fixtures, "ldd3/ldd3map"), Root: filepath.Join(fixtures, "ldd3")}
	bad := []string{"KCFLAGS=-include /mmaprig-no-such-header.h"}
	for _, mode := range []string{BuildKbuild, BuildMake, BuildDKMS} {
		spec := ModuleSpec{Dir: ldd3.Dir, Root: ldd3.Root, Mode: mode, MakeArgs: bad}
		if mode == BuildKbuild {
			spec = ModuleSpec{Dir: filepath.Join(fixtures, "twomod"), Mode: mode, MakeArgs: bad}
		}
		_, err := BuildModule(context.Background(), arch.Host(), kdir, spec, filepath.Join(t.TempDir(), "out"), io.Discard)
		var be *ModuleBuildError
		if !errors.As(err, &be) || len(be.Errors) == 0 || !strings.Contains(be.Errors[0], "/mmaprig-no-such-header.h: No such file or directory") {
			t.Errorf("%s with %q: %v; want the compiler to miss the header", mode, bad, err)
		}
	}
	// twomod, packaged for dkms: two modules, in the order given.
	tree := t.TempDir()
	for _, f := range []string{"Kbuild", "pagecore.c", "pagecore.h", "mapdev.c"} {
		b, _ := os.ReadFile(filepath.Join(fixtures, "twomod", f))
		os.WriteFile(filepath.Join(tree, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(tree, "dkms.conf"), []byte("PACKAGE_NAME=twomod\nPACKAGE_VERSION=0.1\n"+
		"BUILT_MODULE_NAME[0]=mapdev\nDEST_MODULE_LOCATION[0]=/extra\nBUILT_MODULE_NAME[1]=pagecore\nDEST_MODULE_LOCATION[1]=/extra\n"), 0o644)
	res, err := BuildModule(context.Background(), arch.Host(), kdir, ModuleSpec{Dir: tree, Mode: BuildDKMS}, filepath.Join(t.TempDir(), "out"), io.Discard)
	if err != nil || !slices.Equal(res.Kos, []string{"mapdev.ko", "pagecore.ko"}) {
		t.Errorf("dkms built %q, %v; want mapdev.ko and pagecore.ko, as dkms.conf orders them", res.Kos, err)
	}
}

// Every mode builds its modules with debug info whose file names lie
// under the fixed roots, never the cache's directories, with an author's
// own KCFLAGS beside the rig's: the copy's files under ModuleDebugRoot
// (the module directory at its place in the tree), the kernel's headers
// under KernelDebugRoot.
func TestBuildModuleDebugInfo(t *testing.T) {
	kdir := kernelTree(t)
	fixtures, _ := filepath.Abs("../testdata/modules")
	ldd3 := ModuleSpec{Dir: filepath.Join(fixtures, "ldd3/ldd3map"), Root: filepath.Join(fixtures, "ldd3")}
	author := []string{"KCFLAGS=-DMMAPRIG_AUTHOR_FLAG"}
	for _, tc := range []struct {
		name, ko, src string
		spec          ModuleSpec
	}{
		{"kbuild", "nullmmap.ko", ModuleDebugRoot + "/nullmmap.c", ModuleSpec{Dir: filepath.Join(fixtures, "nullmmap"), Mode: BuildKbuild, MakeArgs: author}},
		{"make", "ldd3map/ldd3map.ko", ModuleDebugRoot + "/ldd3map/main.c", ModuleSpec{Dir: ldd3.Dir, Root: ldd3.Root, Mode: BuildMake, MakeArgs: author}},
		{"dkms", "ldd3map/ldd3map.ko", ModuleDebugRoot + "/ldd3map/main.c", ModuleSpec{Dir: ldd3.Dir, Root: ldd3.Root, Mode: BuildDKMS, MakeArgs: author}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, err := BuildModule(context.Background(), arch.Host(), kdir, tc.spec, out, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.DebugRoot != ModuleDebugRoot || res.Rel != tc.spec.Rel() {
				t.Errorf("the build records the debug root %q and the module at %q; want %q and %q", res.DebugRoot, res.Rel, ModuleDebugRoot, tc.spec.Rel())
			}
			files := debugFiles(t, filepath.Join(out, tc.ko))
			if !slices.Contains(files, tc.src) {
				t.Errorf("the debug info names %q; want %s among them", files, tc.src)
			}
			for _, f := range files {
				if !strings.HasPrefix(f, ModuleDebugRoot+"/") && !strings.HasPrefix(f, KernelDebugRoot+"/") {
					t.Errorf("the debug info names %s, outside %s and %s", f, ModuleDebugRoot, KernelDebugRoot)
				}
			}
		})
	}
}

// debugFiles are the files the line tables of a .ko name.
func debugFiles(t *testing.T, ko string) []string {
	t.Helper()
	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		t.Fatalf("%s has no debug info: %v", ko, err)
	}
	var files []string
	r := d.Reader()
	for {
		cu, err := r.Next()
		if err != nil || cu == nil {
			break
		}
		r.SkipChildren()
		lr, err := d.LineReader(cu)
		if err != nil || lr == nil {
			continue
		}
		for _, lf := range lr.Files() {
			if lf != nil && !slices.Contains(files, lf.Name) {
				files = append(files, lf.Name)
			}
		}
	}
	return files
}

// An author's KCFLAGS reaches the compiler however it is given, beside
// the rig's debug info: in -make-args, in the environment, or assigned by
// the author's own Makefile (which a KCFLAGS on make's command line would
// silently override). The module's source refuses to compile without it.
func TestBuildModuleKeepsAuthorsKCFLAGS(t *testing.T) {
	kdir := kernelTree(t)
	const src = "#include <linux/module.h>\n#ifndef MMAPRIG_AUTHOR_FLAG\n#error the author's KCFLAGS did not reach the compiler\n#endif\nMODULE_LICENSE(\"GPL\");\n"
	const makefile = "obj-m := kcf.o\nKCFLAGS += -DMMAPRIG_AUTHOR_FLAG\nexport KCFLAGS\nall:\n\t$(MAKE) -C $(KDIR) M=$(PWD) modules\n"
	for _, tc := range []struct {
		name, makefile, env string
		mode                string
		args                []string
	}{
		{"make-args", "obj-m := kcf.o\n", "", BuildKbuild, []string{"KCFLAGS=-DMMAPRIG_AUTHOR_FLAG"}},
		{"environment", "obj-m := kcf.o\n", "-DMMAPRIG_AUTHOR_FLAG", BuildKbuild, nil},
		{"makefile", makefile, "", BuildMake, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{"kcf.c": src, "Makefile": tc.makefile} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("KCFLAGS", tc.env)
			out := filepath.Join(t.TempDir(), "out")
			spec := ModuleSpec{Dir: dir, Mode: tc.mode, MakeArgs: tc.args}
			if _, err := BuildModule(context.Background(), arch.Host(), kdir, spec, out, io.Discard); err != nil {
				t.Fatalf("the author's KCFLAGS did not reach the compiler: %v", err)
			}
			if files := debugFiles(t, filepath.Join(out, "kcf.ko")); !slices.Contains(files, ModuleDebugRoot+"/kcf.c") {
				t.Errorf("the rig's debug info is gone: the .ko names %q", files)
			}
		})
	}
}

// kernelTree is the built kernel tree the build tests build against
// (MMAPRIG_KERNEL_BUILD, as `rig kdir` prints it); without one, or under
// -short, the test is skipped.
func kernelTree(t *testing.T) string {
	t.Helper()
	kdir := os.Getenv("MMAPRIG_KERNEL_BUILD")
	if kdir == "" || testing.Short() {
		t.Skip("MMAPRIG_KERNEL_BUILD is not set (or -short); point it at a built kernel tree: go run ./rig kdir")
	}
	return kdir
}
