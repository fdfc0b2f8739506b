package armtrace

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// textRange is the core kernel's text, [_stext, _etext).
type textRange struct{ start, end uint64 }

func (r textRange) outside(a uint64) bool { return a < r.start || a >= r.end }

var (
	// eventRE finds an event's name and fields in a line of the trace:
	// "  task-1  [000] d..1.  12.345678: timer_start: timer=... function=f ...".
	eventRE = regexp.MustCompile(`: (\w+): (.*)$`)
	// funcRE is an event's function field.
	funcRE = regexp.MustCompile(`\bfunc(?:tion)?=(\S+)`)
	// frameRE is a frame of a stack trace, printed with its address
	// (options/sym-addr): " => delayed_work_timer_fn <ffffffff81234567>".
	frameRE = regexp.MustCompile(`^ => (.*?)\s*<([0-9a-f]+)>$`)
)

// parseTrace reads a trace (tracefs's "trace" file) into r. Every event
// that passed the filters and is not a core helper's arming names a
// function outside the core kernel's text; a helper's arming is judged by
// its stack (arming.judge).
func parseTrace(in io.Reader, text textRange, r *Report) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pending *arming // the helper arming whose stack follows
	done := func() {
		if pending != nil {
			if why := pending.judge(text); why != "" {
				r.own(pending.what + " armed " + why)
			}
			pending = nil
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if m := frameRE.FindStringSubmatch(line); m != nil {
			if a, err := strconv.ParseUint(m[2], 16, 64); err == nil && pending != nil {
				pending.frames = append(pending.frames, stackFrame{m[1], a})
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "[LOST ") {
			r.Lost = true
			continue
		}
		m := eventRE.FindStringSubmatch(line)
		if m == nil {
			continue // "<stack trace>", which follows its event
		}
		done()
		fn := funcRE.FindStringSubmatch(m[2])
		if fn == nil {
			continue
		}
		r.Events++
		if isHelper(fn[1]) {
			pending = &arming{what: m[1] + " of " + fn[1]}
			continue
		}
		r.own(m[1] + " of " + fn[1])
	}
	done()
	return sc.Err()
}

// stackFrame is a frame of an arming's stack: its symbol, and its address.
type stackFrame struct {
	sym  string
	addr uint64
}

// tracing is whether the frame is the tracing's own, which recorded the
// stack.
func (f stackFrame) tracing() bool {
	return strings.HasPrefix(f.sym, "trace_") || strings.HasPrefix(f.sym, "__traceiter_")
}

// arming is a core helper's arming (a delayed work's timer, say) and its
// stack.
type arming struct {
	what   string
	frames []stackFrame
}

// coreContexts run a timer's, an hrtimer's, a work's or an RCU callback's
// function, whose own arming the trace judges: an arming under one of them
// was made by that function, or by what it called.
var coreContexts = []string{"process_one_work", "call_timer_fn", "expire_timers", "__run_timers",
	"__run_hrtimer", "__hrtimer_run_queues", "rcu_do_batch"}

// armingAPI are the functions between a helper's arming and its caller:
// the timer's and the delayed work's own.
var armingAPI = []string{"enqueue_timer", "internal_add_timer", "__mod_timer", "mod_timer", "add_timer", "add_timer_on",
	"__queue_delayed_work", "queue_delayed_work_on", "mod_delayed_work_on", "kthread_queue_delayed_work",
	"kthread_mod_delayed_work", "__kthread_queue_delayed_work", "__call_rcu_common", "__call_rcu", "call_rcu", "queue_rcu_work"}

// coreArmers arm a delayed work of their own when they are the caller of
// armingAPI, whatever context calls them, and call nothing of a module's:
// kvfree_call_rcu its batch monitor, which a process's exit arms.
var coreArmers = []string{"kvfree_call_rcu"}

// caller is the frame that called armingAPI, skipping the tracing's own.
func (a *arming) caller() string {
	for _, f := range a.frames {
		if f.sym == "" || f.tracing() || slices.Contains(armingAPI, f.sym) {
			continue
		}
		return f.sym
	}
	return ""
}

// judge says why a helper's arming may be a module's, or "" when it is
// the core's. A frame outside the core kernel's text is a module's. The
// unwinder does not see a caller that tail-called the helper (a module's
// exit ending in queue_delayed_work), so an arming counts as the core's
// only when it was made under one of coreContexts, and as a module's
// anywhere else: in a system call (a module's init, exit or file
// operations), a kernel thread, an interrupt or a tasklet.
func (a *arming) judge(text textRange) string {
	core := slices.Contains(coreArmers, a.caller())
	for _, f := range a.frames {
		if text.outside(f.addr) {
			return "from " + frame(f.sym, f.addr)
		}
		core = core || slices.Contains(coreContexts, f.sym)
	}
	if !core {
		if len(a.frames) == 0 {
			return "with no stack"
		}
		return "outside a timer, work or RCU callback (" + stackPath(a.frames) + ")"
	}
	return ""
}

// stackPath is a stack's frames, innermost first, without the tracing's
// own: what armed it, and from where.
func stackPath(frames []stackFrame) string {
	var names []string
	for _, f := range frames {
		if f.tracing() {
			continue
		}
		names = append(names, frame(f.sym, f.addr))
	}
	return strings.Join(names, " < ")
}

func isHelper(fn string) bool { return slices.Contains(helperNames(), fn) }

// frame names a frame by its symbol, or its address where it has none
// (the module is gone).
func frame(sym string, a uint64) string {
	if sym == "" || strings.HasPrefix(sym, "0x") {
		return fmt.Sprintf("%#x", a)
	}
	return sym
}

// overrun is whether any CPU's ring buffer dropped or overwrote events.
func overrun(dir string) (bool, error) {
	stats, err := filepath.Glob(filepath.Join(dir, "per_cpu", "cpu*", "stats"))
	if err != nil || len(stats) == 0 {
		return false, fmt.Errorf("no per-CPU trace stats in %s", dir)
	}
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			return false, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok || (k != "overrun" && k != "dropped events") {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n != 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

// taskStacks adds to r every task whose kernel stack has a frame in a
// module ("[name]") or in no symbol at all (a module's freed text).
func taskStacks(proc string, r *Report) error {
	stacks, err := filepath.Glob(filepath.Join(proc, "[0-9]*", "stack"))
	if err != nil {
		return err
	}
	for _, s := range stacks {
		b, err := os.ReadFile(s)
		if err != nil {
			continue // the task exited
		}
		if f := moduleFrame(string(b)); f != "" {
			comm, _ := os.ReadFile(filepath.Join(filepath.Dir(s), "comm"))
			r.own(fmt.Sprintf("task %s (pid %s) runs %s", strings.TrimSpace(string(comm)), filepath.Base(filepath.Dir(s)), f))
		}
	}
	return nil
}

// moduleFrame is the first frame of a /proc/PID/stack ("[<0>] sym+0x1/0x2")
// that lies in a module or in no symbol.
func moduleFrame(stack string) string {
	for _, l := range strings.Split(stack, "\n") {
		_, sym, ok := strings.Cut(l, "] ")
		if !ok {
			continue
		}
		if strings.HasPrefix(sym, "0x") || strings.HasSuffix(sym, "]") {
			return sym
		}
	}
	return ""
}
