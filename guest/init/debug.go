package main

import (
	"fmt"
	"os"

	"github.com/mmaprig/mmaprig/guest/kmod"
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
	mods, err := kmod.Sections(cfg.Debug)
	if err != nil {
		ev.OK, ev.Err = false, err.Error()
	}
	ev.Modules = mods
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
