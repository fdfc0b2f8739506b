package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// bootModuleWait bounds each boot module's init.
const bootModuleWait = 10 * time.Second

// loadBootModules loads, in order, the modules that a kernel with the
// rig's devices as modules (a distribution's) needs before the results
// port can exist, when the initramfs has them. Like modprobe, it gives
// each module the MODULE.PARAM=VALUE arguments of the kernel command line.
// A module the kernel has already is no error.
func loadBootModules(con *os.File) error {
	order, err := os.ReadFile(wire.BootModulesOrder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	start := time.Now()
	names := strings.Fields(string(order))
	for _, name := range names {
		// The files are NN-FILE.ko[.xz]; a module is named by its file.
		_, file, _ := strings.Cut(name, "-")
		mod, _, _ := strings.Cut(file, ".ko")
		err := kmod.Load(filepath.Join(wire.BootModulesDir, name), moduleParams(string(cmdline), mod), bootModuleWait, nil)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("boot module %s: %w", name, err)
		}
	}
	logf(con, "loaded the kernel's %d boot modules in %v", len(names), time.Since(start).Round(time.Millisecond))
	return nil
}

// moduleParams are the command line's arguments for module name, as
// PARAM=VALUE for its finit_module. Dashes and underscores in the module's
// name are the same, as the kernel has them.
func moduleParams(cmdline, name string) string {
	want := strings.ReplaceAll(name, "-", "_") + "."
	var params []string
	for _, arg := range strings.Fields(cmdline) {
		key, _, _ := strings.Cut(arg, "=")
		mod, _, ok := strings.Cut(key, ".")
		if ok && strings.ReplaceAll(mod, "-", "_")+"." == want {
			params = append(params, strings.TrimPrefix(arg, mod+"."))
		}
	}
	return strings.Join(params, " ")
}
