package verdict

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// debugRun feeds an engine the start of a run up to the sections event:
// hello, boot, insmod and the modules' sections, one second apart.
type debugRun struct {
	t   *testing.T
	eng *Engine
	seq int
	at  time.Duration
}

func newDebugRun(t *testing.T, debug []string) *debugRun {
	spec := testSpec(wire.ChannelSerial)
	spec.Debug, spec.Hold = debug, len(debug) > 0
	d := &debugRun{t: t, eng: New(spec)}
	d.feed(Port, `{"event":"hello","ok":true,"seq":0,"exit":0,"ms":0}`)
	d.event(wire.Event{Name: wire.EvBoot, OK: true})
	d.event(wire.Event{Name: wire.EvInsmod, OK: true, Cmd: wire.ModulePath})
	return d
}

func (d *debugRun) feed(kind Kind, text string) Status {
	d.at += time.Second
	return d.eng.Feed(Input{At: d.at, Kind: kind, Text: text})
}

func (d *debugRun) event(ev wire.Event) Status {
	ev.Nonce, ev.Seq = "n", d.seq
	d.seq++
	b, err := json.Marshal(ev)
	if err != nil {
		d.t.Fatal(err)
	}
	return d.feed(Port, string(b))
}

func (d *debugRun) tick(after time.Duration) Status {
	d.at += after
	return d.eng.Feed(Input{At: d.at, Kind: Tick})
}

var sectionsEv = wire.Event{Name: wire.EvSections, OK: true, Exit: -1,
	Modules: []wire.ModuleSections{{Name: "mymap", Sections: map[string]uint64{".text": 0xffffffffc0000000}}}}

// A debugged run's sections reach the driver; while the machine is
// stopped (gdb attached, a breakpoint) no step is late however long it
// stays stopped, and once it runs again the step has the time it had
// left. The plan is unchanged: the run passes.
func TestDebugHold(t *testing.T) {
	d := newDebugRun(t, []string{"mymap"})
	st := d.event(sectionsEv)
	if st.Sections == nil || len(st.Sections.Modules) != 1 || st.Sections.Modules[0].Sections[".text"] != 0xffffffffc0000000 {
		t.Fatalf("the sections did not reach the driver: %+v", st.Sections)
	}
	d.feed(QMP, "STOP")
	if st := d.tick(time.Hour); st.Done {
		t.Fatalf("a step timed out while the machine was stopped: %+v", d.eng.Result())
	}
	d.feed(QMP, "RESUME")
	if st := d.tick(3 * time.Second); st.Done {
		t.Fatalf("the device step timed out right after the resume: %+v", d.eng.Result())
	}
	if st := d.tick(10 * time.Second); !st.Done || d.eng.Result().Class != Channel || !strings.Contains(d.eng.Result().Msg, "step device") {
		t.Fatalf("a running machine's late step was not judged: %+v", d.eng.Result())
	}
}

// Without -gdb the steps' deadlines run while the machine is stopped
// (-inject pause), and sections are a channel failure; and with it, they
// come right after insmod or not at all.
func TestDebugRefused(t *testing.T) {
	d := newDebugRun(t, nil)
	d.feed(QMP, "STOP")
	if st := d.tick(time.Minute); !st.Done || d.eng.Result().Class != Channel {
		t.Errorf("a stopped machine of a run without -gdb: %+v", d.eng.Result())
	}
	for _, debug := range [][]string{nil, {"mymap"}} {
		d := newDebugRun(t, debug)
		if debug != nil {
			d.event(wire.Event{Name: wire.EvDevice, OK: true})
		}
		d.event(sectionsEv)
		st := d.tick(5 * time.Second)
		if r := d.eng.Result(); !st.Done || r.Class != Channel || r.Title != "sections nobody asked for" {
			t.Errorf("unasked sections (debug %v): %s %q", debug, r.Class, r.Title)
		}
	}
}

// The guest gets what the spec asks for.
func TestDebugConfig(t *testing.T) {
	spec := testSpec(wire.ChannelSerial)
	spec.Debug, spec.Hold, spec.OnCrash = []string{"dep", "mymap"}, true, wire.OnCrashPause
	cfg := spec.Config()
	if strings.Join(cfg.Debug, ",") != "dep,mymap" || !cfg.Hold || cfg.OnCrash != wire.OnCrashPause {
		t.Errorf("config = %+v", cfg)
	}
}
