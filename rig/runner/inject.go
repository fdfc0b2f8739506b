package runner

import (
	"fmt"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// The host-side faults that -inject knows. They exist to test the rig's
// own failure paths against a real VM.
const (
	// FaultPause freezes the guest (QMP stop) once its init took the work
	// (serial) or its SSH server listens (ssh).
	FaultPause = "pause-after-ready"
	// FaultNetDown takes the guest's link down once sshd listens, so the
	// SSH server never answers.
	FaultNetDown = "net-down"
	// FaultDropEvent loses one event of the results port before the verdict
	// engine sees it: "drop-event" loses the device event,
	// "drop-event=NAME" the first event called NAME.
	FaultDropEvent = "drop-event"
)

// Faults lists the -inject values.
var Faults = []string{FaultPause, FaultNetDown, FaultDropEvent, FaultDropEvent + "=EVENT"}

// ParseFault checks an -inject value.
func ParseFault(s string) error {
	name, arg, hasArg := strings.Cut(s, "=")
	switch {
	case s == "", s == FaultPause, s == FaultNetDown, s == FaultDropEvent:
		return nil
	case name == FaultDropEvent && hasArg && arg != "":
		return nil
	}
	return fmt.Errorf("-inject %q: want one of %s", s, strings.Join(Faults, ", "))
}

// faults applies a run's -inject fault when it is due.
type faults struct {
	name string
	// drops is the event name FaultDropEvent loses; done once it did.
	drops string
	done  bool
}

func newFaults(spec string) faults {
	name, arg, _ := strings.Cut(spec, "=")
	f := faults{name: name}
	if name == FaultDropEvent {
		f.drops = wire.EvDevice
		if arg != "" {
			f.drops = arg
		}
	}
	return f
}

// after applies the fault that is due once the engine accepted event.
func (f *faults) after(d *driver, event string) {
	if f.done {
		return
	}
	var err error
	switch {
	case f.name == FaultPause && (event == wire.EvBoot && d.spec.Channel == wire.ChannelSerial || event == wire.EvReady):
		err = d.vm.Pause()
	case f.name == FaultNetDown && event == wire.EvReady:
		err = d.vm.SetLink(false)
	default:
		return
	}
	f.done = true
	d.r.opts.Printer.Printf("  inject     %s after the %s event (err: %v)", f.name, event, err)
}

// drop reports whether the port line is the event the fault loses.
func (f *faults) drop(d *driver, line string) bool {
	if f.drops == "" || f.done {
		return false
	}
	ev, err := wire.DecodeEvent([]byte(line))
	if err != nil || ev.Name != f.drops {
		return false
	}
	f.done = true
	d.r.opts.Printer.Printf("  inject     %s: the %s event (seq %d) is lost", FaultDropEvent, ev.Name, ev.Seq)
	return true
}
