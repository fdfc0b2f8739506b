package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// reportSections reports the loaded modules' sections (EvSections) and,
// with cfg.Hold, waits for the rig's Go: the rig stops the machine
// meanwhile and lets a debugger attach and set its breakpoints before the
// module's code runs again (-gdb). There is no deadline here: the guest's
// clock stands still while the machine is stopped, and the rig's -timeout
// bounds the run.
func reportSections(p *port, cfg wire.Config) error {
	ev := wire.Event{Name: wire.EvSections, OK: true, Exit: -1}
	for _, name := range cfg.Debug {
		secs, err := moduleSections(name)
		if err != nil {
			ev.OK, ev.Err = false, err.Error()
			break
		}
		ev.Modules = append(ev.Modules, wire.ModuleSections{Name: name, Sections: secs})
	}
	p.emit(ev)
	for cfg.Hold {
		req, err := p.request()
		if err != nil {
			return fmt.Errorf("wait for the rig's go: %w", err)
		}
		if req.Go {
			break
		}
	}
	return nil
}

// moduleSections reads /sys/module/NAME/sections: a file per section,
// holding its address. The kernel shows the real addresses to root only.
func moduleSections(name string) (map[string]uint64, error) {
	dir := filepath.Join("/sys/module", name, "sections")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("the module's sections: %w (the kernel needs CONFIG_KALLSYMS)", err)
	}
	secs := map[string]uint64{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("the module's sections: %w", err)
		}
		addr, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 64)
		if err != nil {
			return nil, fmt.Errorf("the module's section %s: %w", e.Name(), err)
		}
		secs[e.Name()] = addr
	}
	return secs, nil
}

// pauseOnCrash has the kernel panic at an oops or a warning, once its
// whole report is printed: the panic's pvpanic event then has QEMU pause
// the machine there (-on-crash pause), with the report's registers on the
// console and the faulting stack in memory. A panic no longer reboots
// (panic=0, over the command line's panic=-1): a guest that gdb lets go
// spins in its panic, for the rig to stop again, rather than ending.
func pauseOnCrash() error {
	for _, knob := range []struct{ name, value string }{{"panic_on_oops", "1"}, {"panic_on_warn", "1"}, {"panic", "0"}} {
		if err := os.WriteFile("/proc/sys/kernel/"+knob.name, []byte(knob.value+"\n"), 0o644); err != nil {
			return fmt.Errorf("-on-crash pause: %w", err)
		}
	}
	return nil
}
