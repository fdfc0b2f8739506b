package kernel

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BootDrivers are the drivers the rig's guest needs before its init can
// talk to the rig, as module names: the virtio-mmio transport (microvm's
// devices), the console port the results go over, the network for the SSH
// channel, and pvpanic, which tells QEMU about a panic. A distribution
// kernel may build any of them as modules.
var BootDrivers = []string{"virtio_mmio", "virtio_console", "virtio_net", "pvpanic_mmio"}

// BootModules returns, in load order, the module files under modDir (a
// kernel's /lib/modules/RELEASE) that give the kernel the drivers named:
// for each, what modules.dep says it needs first, then itself, as modprobe
// would load them. A driver built into the kernel (modules.builtin) needs
// nothing; one the kernel has in neither form is an error.
func BootModules(modDir string, drivers []string) ([]string, error) {
	deps, err := readModulesDep(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	builtin, err := readBuiltin(filepath.Join(modDir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	o := loadOrder{deps: deps, seen: map[string]bool{}}
	for _, d := range drivers {
		name := moduleName(d)
		switch {
		case builtin[name]:
		case deps[name] != nil:
			o.visit(name)
		default:
			return nil, fmt.Errorf("%w: the kernel in %s has no %s driver, built in or as a module", ErrBadSource, modDir, d)
		}
	}
	files := make([]string, len(o.order))
	for i, name := range o.order {
		files[i] = filepath.Join(modDir, deps[name].path)
	}
	return files, nil
}

// depEntry is one line of modules.dep: a module's file and the modules
// it needs.
type depEntry struct {
	path  string
	needs []string
}

// loadOrder puts modules after what they need, once each.
type loadOrder struct {
	deps  map[string]*depEntry
	seen  map[string]bool
	order []string
}

func (o *loadOrder) visit(name string) {
	if o.seen[name] {
		return
	}
	o.seen[name] = true
	for _, n := range o.deps[name].needs {
		o.visit(n)
	}
	o.order = append(o.order, name)
}

// moduleName is the kernel's name for a module file or driver name:
// without directory and .ko suffix (compressed or not), with dashes as
// underscores.
func moduleName(s string) string {
	s = filepath.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// readModulesDep parses depmod's modules.dep: "path: dep dep ...".
func readModulesDep(path string) (map[string]*depEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	defer f.Close()
	deps := map[string]*depEntry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		e := &depEntry{path: mod}
		for _, d := range strings.Fields(rest) {
			e.needs = append(e.needs, moduleName(d))
		}
		deps[moduleName(mod)] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrBadSource, path, err)
	}
	for name, e := range deps {
		for _, n := range e.needs {
			if deps[n] == nil {
				return nil, fmt.Errorf("%w: %s: %s needs %s, which it does not list", ErrBadSource, path, name, n)
			}
		}
	}
	return deps, nil
}

// readBuiltin parses modules.builtin: the built-in modules' would-be paths.
func readBuiltin(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	m := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		m[moduleName(l)] = true
	}
	return m, nil
}
