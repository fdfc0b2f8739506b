// Package armtrace watches, with the kernel's event tracing, what the
// modules under test arm for later (timers, hrtimers, work, RCU
// callbacks), so that after their unload the guest init can tell whether
// anything of theirs is left that could still run, and end its settle
// window early when nothing is.
//
// The rule is deliberately blunt. A run is quiet only when, from before
// the first insmod to after the last unload, recording stayed on, the
// kernel recorded no timer, hrtimer, work or RCU callback whose function
// lies outside the core kernel's text, and no delayed work (or its kin)
// armed other than by the core (arming.judge), no event was lost, and no
// task is left with a module's frame on its stack. Whatever a module arms,
// even correctly, makes the run not quiet, and the init then waits out the
// whole window as it does without tracing.
//
// It is a speed option, not a check: what the trace cannot see (a core
// function that calls a pointer of the module's, a function written into
// a timer after it was armed, a task work) only the whole window catches;
// testdata/modules has fixtures of each.
package armtrace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnavailable means the kernel cannot trace what the rule needs: no
// tracefs, or one of the events is missing.
var ErrUnavailable = errors.New("the kernel has no event tracing for timers, work and RCU callbacks")

// Dir is where tracefs is mounted.
const Dir = "/sys/kernel/tracing"

// bufferKB is the ring buffer per CPU. Only events that involve a function
// outside the core kernel's text are recorded, so it is far more than a
// run needs; an overrun makes the run not quiet.
const bufferKB = 2048

// event is a traced event, the name of its function field, and the core
// kernel's helpers that arm it to run, later, a function taken from the
// helper's container: for those, the arming stack says whose it is.
type event struct {
	path, field string
	helpers     []string
}

var events = []event{
	{"timer/timer_start", "function", []string{"delayed_work_timer_fn", "kthread_delayed_work_timer_fn"}},
	{"timer/hrtimer_start", "function", []string{"alarmtimer_fired"}},
	{"workqueue/workqueue_queue_work", "function", nil},
	{"rcu/rcu_callback", "func", []string{"rcu_work_rcufn"}},
}

// helperNames are all the events' helpers.
func helperNames() []string {
	var names []string
	for _, ev := range events {
		names = append(names, ev.helpers...)
	}
	return names
}

// Trace is the tracing set up for a run.
type Trace struct {
	dir  string
	text textRange
}

// Prepare sets up the events, each filtered to functions outside the core
// kernel's text [_stext, _etext) and to its helpers, whose arming stacks
// it records too, with an empty buffer and recording off. It reads
// /proc/kallsyms, which takes a fifth of a second under TCG: the guest
// init prepares once, before the rig saves the booted guest, so that a
// restored guest only has to Start.
func Prepare() (*Trace, error) {
	if err := mountTracefs(Dir); err != nil {
		return nil, err
	}
	syms, err := readKallsyms("/proc/kallsyms", append([]string{"_stext", "_etext"}, helperNames()...))
	if err != nil {
		return nil, err
	}
	t := &Trace{dir: Dir, text: textRange{syms["_stext"], syms["_etext"]}}
	if t.text.start == 0 || t.text.end <= t.text.start {
		return nil, fmt.Errorf("%w: /proc/kallsyms has no core text range", ErrUnavailable)
	}
	steps := [][2]string{{"tracing_on", "0"}, {"buffer_size_kb", strconv.Itoa(bufferKB)}, {"trace", ""},
		{"options/sym-addr", "1"}}
	for _, ev := range events {
		steps = append(steps, ev.setup(t.text, syms)...)
	}
	for _, s := range steps {
		if err := t.write(s[0], s[1]); err != nil {
			t.Stop()
			return nil, err
		}
	}
	return t, nil
}

// Start starts recording, into the buffer that Prepare left empty.
func (t *Trace) Start() error {
	return t.write("tracing_on", "1")
}

// setup is what starts ev: its filter, the stack trigger for its helpers
// that the kernel has (syms), and its enable.
func (ev event) setup(text textRange, syms map[string]uint64) [][2]string {
	filter := fmt.Sprintf("%[1]s < %#[2]x || %[1]s >= %#[3]x", ev.field, text.start, text.end)
	var helpers []string
	for _, h := range ev.helpers {
		if a := syms[h]; a != 0 {
			helpers = append(helpers, fmt.Sprintf("%s == %#x", ev.field, a))
		}
	}
	var steps [][2]string
	if len(helpers) > 0 {
		cond := strings.Join(helpers, " || ")
		filter += " || " + cond
		steps = append(steps, [2]string{"events/" + ev.path + "/trigger", "stacktrace if " + cond})
	}
	return append(steps, [2]string{"events/" + ev.path + "/filter", filter}, [2]string{"events/" + ev.path + "/enable", "1"})
}

// write writes value to the tracefs file name.
func (t *Trace) write(name, value string) error {
	path := filepath.Join(t.dir, name)
	flags := os.O_WRONLY
	if name == "trace" {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no %s", ErrUnavailable, path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if value == "" {
		return nil
	}
	if _, err := io.WriteString(f, value); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// Stop stops recording, and keeps the buffer for Report. The events stay
// enabled: taking a tracepoint's probe off waits for RCU grace periods,
// tens of milliseconds each under TCG, and recording is off anyway.
func (t *Trace) Stop() {
	t.write("tracing_on", "0")
}

// mountTracefs mounts tracefs at dir, unless it is there already.
func mountTracefs(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "trace")); err == nil {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w: no %s", ErrUnavailable, dir)
	}
	if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("%w: mount tracefs: %v", ErrUnavailable, err)
	}
	return nil
}

// readKallsyms returns the addresses of names, from a /proc/kallsyms; a
// name it does not list is left out.
func readKallsyms(path string, names []string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !want[fields[2]] {
			continue
		}
		if a, err := strconv.ParseUint(fields[0], 16, 64); err == nil && a != 0 {
			out[fields[2]] = a
		}
	}
	return out, sc.Err()
}

// Report is what the trace and the tasks' stacks show once the modules
// are gone.
type Report struct {
	// Events counts the events recorded.
	Events int
	// Owned says what of a module's was armed, or is on a task's stack,
	// one line each, at most maxOwned.
	Owned []string
	// Lost is set when the ring buffer dropped events.
	Lost bool
}

// maxOwned caps Report.Owned: the first few say why.
const maxOwned = 8

// Quiet is whether nothing of a module's can still run: nothing was armed,
// nothing lost, and no task runs a module's code.
func (r Report) Quiet() bool { return !r.Lost && len(r.Owned) == 0 }

// String says what the report found, for the settle step.
func (r Report) String() string {
	switch {
	case r.Lost:
		return "the trace lost events, or its recording was turned off"
	case len(r.Owned) > 0:
		return strings.Join(r.Owned, "; ")
	}
	return fmt.Sprintf("nothing of the module's armed (%d traced events)", r.Events)
}

func (r *Report) own(what string) {
	if len(r.Owned) < maxOwned {
		r.Owned = append(r.Owned, what)
	}
}

// Report stops the trace and reads it, the buffer's overrun counts, and
// the stack of every task. Recording found off (tracing_off(), which a
// module can call) counts as events lost.
func (t *Trace) Report() (Report, error) {
	var r Report
	on, err := os.ReadFile(filepath.Join(t.dir, "tracing_on"))
	if err != nil || strings.TrimSpace(string(on)) != "1" {
		r.Lost = true
	}
	t.Stop()
	f, err := os.Open(filepath.Join(t.dir, "trace"))
	if err != nil {
		return r, err
	}
	defer f.Close()
	if err := parseTrace(f, t.text, &r); err != nil {
		return r, err
	}
	if lost, err := overrun(t.dir); err != nil || lost {
		r.Lost = true
	}
	return r, taskStacks("/proc", &r)
}
