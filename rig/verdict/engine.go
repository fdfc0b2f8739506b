package verdict

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/kreport"
	"github.com/mmaprig/mmaprig/internal/symbolize"
	"github.com/mmaprig/mmaprig/internal/tail"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// Kind is the kind of an input.
type Kind string

// The inputs the engine takes.
const (
	// Console is one line of the serial console.
	Console Kind = "console"
	// Port is one line from the results port, as the guest wrote it.
	Port Kind = "port"
	// PortError: reading the results port failed (not its end at exit).
	PortError Kind = "port-error"
	// SSH is one step the SSH driver ran, a wire.Event as JSON.
	SSH Kind = "ssh"
	// SSHError: the SSH driver failed; Text says how.
	SSHError Kind = "ssh-error"
	// QMP is a QMP event: "STOP", "RESUME", "GUEST_PANICKED", or
	// "SHUTDOWN <reason>"; or "status <state>" from query-status.
	QMP Kind = "qmp"
	// Exit: QEMU exited and every stream was read to its end; Text is
	// QEMU's error, empty if it exited 0.
	Exit Kind = "exit"
	// Tick: time passed.
	Tick Kind = "tick"
)

// Input is one thing that happened, At its time since QEMU started.
type Input struct {
	At   time.Duration
	Kind Kind
	Text string
}

// Grace periods, after which the engine stops waiting for QEMU to exit.
const (
	// CrashGrace is how long the console is read after a report starts,
	// so that the whole trace reaches the verdict.
	CrashGrace = 1500 * time.Millisecond
	// SettleGrace is how long the console is read after the last step (or
	// a failed one), when QEMU does not exit first: a report printed after
	// the last step, from delayed work or an exit path, still counts.
	SettleGrace = time.Second
)

// Exec is how a CheckExec program ended.
type Exec struct {
	Exit   int
	Signal string
	Err    string
	Stderr string
}

// Result is the engine's verdict and what the run produced.
type Result struct {
	Class Class
	// Title names the failure in a few stable words, so that failures
	// group by cause: a crash title that names the guilty function, or the
	// failed check.
	Title string
	// Msg says what failed and what to do next.
	Msg string
	// Excerpt is the console around a crash, or its tail.
	Excerpt string
	// Crash is the kernel's report, when the guest crashed.
	Crash *Crash
	// Step is the plan step the verdict is about; empty for a pass.
	Step string
	// Output is what the reader (or the exec program) printed.
	Output []string
	// Exec is how a CheckExec program ended.
	Exec *Exec
	// Cases are the KTAP program's cases; KTAP its raw output.
	Cases        []wire.Case
	KTAP         string
	ContractTime time.Duration
	// BootToInit is QEMU's start to the init's hello; BootToReady to its
	// SSH server listening (SSH channel).
	BootToInit  time.Duration
	BootToReady time.Duration
	// Completed are the plan steps that arrived.
	Completed []string
	// Coverage are the module's gcov data files (-coverage).
	Coverage []wire.File
	// Settled is how the guest settled after the last step: the window it
	// kept, and why when it ended it early or could not (the settle
	// event's command).
	Settled string
}

// Crash is a kernel report the guest printed: what kind it is, its
// title, the guilty function and the stack, as the kernel printed it.
// File and Line are where the guilty function's code is: where the
// report says ("at file.c:12", a WARNING's), or, after the runner
// decoded the stack, the guilty frame's line.
type Crash struct {
	Kind  string   `json:"kind,omitempty"`
	Title string   `json:"title"`
	Frame string   `json:"frame,omitempty"`
	File  string   `json:"file,omitempty"`
	Line  int      `json:"line,omitempty"`
	Stack []string `json:"stack,omitempty"`
	// Trap is the report's RIP:/pc: line, where the CPU trapped.
	Trap string `json:"trap,omitempty"`
	// Decoded is the stack decoded to source lines, the trap first: the
	// runner fills it in from the debug info, after the verdict.
	Decoded []symbolize.Frame `json:"decoded_stack,omitempty"`
	// Panic is true when the kernel panicked.
	Panic bool `json:"panic,omitempty"`
}

// Trace is the stack to show: decoded, a line for each function inlined
// at a frame, when the runner decoded it; else as the kernel printed it.
func (c *Crash) Trace() []string {
	if len(c.Decoded) > 0 {
		return symbolize.Format(c.Decoded)
	}
	return c.Stack
}

// Status is what the drivers need after each input.
type Status struct {
	// Done: the verdict is final.
	Done bool
	// Accepted is the step this input completed, if any.
	Accepted *Step
	// Deadline is when the engine wants a Tick at the latest.
	Deadline time.Duration
	// Settling: every step arrived (or the run failed); the engine reads
	// the console until QEMU exits or the grace ends. A driver that keeps
	// the guest alive (the SSH channel) should ask it to power off now,
	// unless the guest has reported its end already.
	Settling bool
	// Ended: the guest reported the end of the run, and powers off by
	// itself.
	Ended bool
	// Sections is the guest's EvSections, when this input was it: the
	// guest waits for the rig's go (-gdb).
	Sections *wire.Event
}

type crash struct {
	start int // index of the report's first line; -1 for pvpanic or taint only
	// kmsg: the report came from the kernel's log on the results port,
	// not from the console.
	kmsg  bool
	at    time.Duration
	title string // for a crash the console did not show
	step  string // the step that was running
	early bool   // before the module was given to the kernel
	// during names the case or Go test that was running, if one was:
	// "contract case unload_reload"; suite and name are its parts.
	during, suite, name string
	// placed: during was set where the report came in the results
	// port's order, which is the guest's: a program's line the init
	// read before the report comes before it. The console is a stream
	// of its own, and a report there may overtake the line that
	// started the case, so a crash the console showed first is placed
	// again when the port brings its records.
	placed bool
	// taint are the bad taint bits that a step's event showed first.
	taint uint64
}

// Engine follows one run. It is not safe for concurrent use; one driver
// loop feeds it.
type Engine struct {
	spec     Spec
	plan     []Step
	insmod   int // the plan's insmod step: from it on, the module's code can run
	next     int
	seq      int
	hello    bool
	now      time.Duration
	lastStep time.Duration
	console  []string
	// kmsg are the kernel's records that the guest forwarded.
	kmsg []string
	// progress follows the program that runs now, from its output as it
	// streams; nil between programs.
	progress *progress
	crash    *crash
	// baseTaint are the bad taint bits the kernel had before insmod.
	baseTaint uint64
	ended     bool
	fail      *Result
	settle    bool
	settleAt  time.Duration
	exited    bool
	exitErr   string
	// poweredOff: the guest asked QEMU to power off.
	poweredOff bool
	vmState    string
	// stopped: the machine is stopped (QMP STOP) in a debugged run
	// (Spec.Debug), since stoppedAt; the steps' deadlines wait.
	stopped   bool
	stoppedAt time.Duration
	// sections is the EvSections the last input brought.
	sections *wire.Event
	res      Result
	done     bool
}

// New returns an engine for the spec's plan.
func New(spec Spec) *Engine {
	plan := spec.Plan()
	insmod := slices.IndexFunc(plan, func(s Step) bool { return s.Event == wire.EvInsmod })
	return &Engine{spec: spec, plan: plan, insmod: insmod, vmState: "running"}
}

// newCrash records a crash in the step the guest is in now.
func (e *Engine) newCrash(start int, title string) {
	e.crash = &crash{start: start, at: e.now, title: title, step: e.stepShort(), early: e.next < e.insmod}
	e.placeCrash()
}

// placeCrash records the case or Go test that runs now as the crash's.
func (e *Engine) placeCrash() {
	c, p := e.crash, e.progress
	c.during, c.suite, c.name = "", "", ""
	if p != nil && p.running != "" {
		c.during, c.suite, c.name = p.during(), p.prog.Suite(), p.running
	}
}

// Feed takes one input and returns what the drivers need to know.
func (e *Engine) Feed(in Input) Status {
	if e.done {
		return Status{Done: true}
	}
	e.now = max(e.now, in.At)
	e.sections = nil
	var acc *Step
	switch in.Kind {
	case Console:
		e.consoleLine(in.Text)
	case Port:
		acc = e.portLine(in.Text)
	case PortError:
		e.channelFail("the results port broke", "the results port broke: "+in.Text)
	case SSH:
		acc = e.sshEvent(in.Text)
	case SSHError:
		e.channelFail("the SSH channel broke", in.Text)
	case QMP:
		e.qmp(in.Text)
	case Exit:
		e.exited, e.exitErr = true, in.Text
	case Tick:
	default:
		e.channelFail("internal error", fmt.Sprintf("internal error: an input of unknown kind %q", in.Kind))
	}
	e.evaluate()
	return Status{Done: e.done, Accepted: acc, Deadline: e.deadline(), Settling: e.settle, Ended: e.ended, Sections: e.sections}
}

// Result is the verdict, final once Feed reported Done.
func (e *Engine) Result() Result { return e.res }

// Console returns the console lines fed so far.
func (e *Engine) Console() []string { return e.console }

// Next is the plan's next step, if the plan is not done.
func (e *Engine) Next() (Step, bool) {
	if e.next < len(e.plan) {
		return e.plan[e.next], true
	}
	return Step{}, false
}

// Kmsg returns the kernel records the guest forwarded.
func (e *Engine) Kmsg() []string { return e.kmsg }

func (e *Engine) consoleLine(line string) {
	e.console = append(e.console, line)
	if e.crash != nil {
		return
	}
	if _, ok := kreport.Match(line); ok {
		e.newCrash(len(e.console)-1, "")
	}
}

func (e *Engine) qmp(text string) {
	name, arg, _ := strings.Cut(text, " ")
	switch name {
	case "STOP":
		e.vmState = "paused"
		if len(e.spec.Debug) > 0 && !e.stopped {
			e.stopped, e.stoppedAt = true, e.now
		}
	case "RESUME":
		e.vmState = "running"
		if e.stopped {
			// The guest's clock stood still too: the step has the time
			// it had left.
			e.stopped, e.lastStep = false, e.lastStep+e.now-e.stoppedAt
		}
	case "status":
		e.vmState = arg
	case "GUEST_PANICKED":
		if e.crash == nil {
			e.newCrash(-1, "kernel panic (reported by pvpanic)")
		}
	case "SHUTDOWN":
		// panic=-1 and a triple fault both reset the guest, and QEMU
		// turns the reset into a shutdown: a guest that resets itself
		// has crashed, report or not. The init's power off is
		// "guest-shutdown"; the rig's own quit "host-qmp-quit".
		if e.crash != nil {
			break
		}
		switch arg {
		case "guest-reset":
			e.newCrash(-1, "the guest reset itself (a triple fault, or a reboot)")
		case "guest-shutdown":
			// Judged at QEMU's exit, once every port line is in: the
			// event can overtake the init's last ones.
			e.poweredOff = true
		}
	}
}

// stepName is the step the guest is in now; stepShort names it without
// its program's arguments, for titles.
func (e *Engine) stepName() string {
	if e.next < len(e.plan) {
		return e.plan[e.next].String()
	}
	return "the power off"
}

func (e *Engine) stepShort() string {
	if e.next < len(e.plan) {
		return e.plan[e.next].Short()
	}
	return "the power off"
}

func (e *Engine) portLine(text string) *Step {
	ev, err := wire.DecodeEvent([]byte(text))
	if err != nil {
		e.channelFail("a line that is not an event", fmt.Sprintf("the results port sent a line that is not an event (%v): %.200q", err, text))
		return nil
	}
	if ev.Name == wire.EvHello {
		if e.hello || e.next > 0 {
			e.channelFail("a second hello", "the results port said hello twice: the guest init restarted, or something else writes to the port")
			return nil
		}
		e.hello = true
		e.res.BootToInit = e.now
		return nil
	}
	if ev.Nonce != e.spec.Nonce {
		e.channelFail("an event not from this run", fmt.Sprintf("event %s carries nonce %q, not this run's %q: it did not come from this run's init", ev, ev.Nonce, e.spec.Nonce))
		return nil
	}
	if ev.Seq != e.seq {
		if ev.Seq > e.seq {
			e.channelFail(e.missing(), fmt.Sprintf("the results port lost %d event(s): step %s (seq %d) never arrived; the next to come was %s",
				ev.Seq-e.seq, e.stepName(), e.seq, ev))
		} else {
			e.channelFail("an event out of sequence", fmt.Sprintf("event %s arrived out of sequence: seq %d was due", ev, e.seq))
		}
		return nil
	}
	e.seq++
	e.checkTaint(ev)
	switch ev.Name {
	case wire.EvKernel:
		e.kernelRecords(ev)
		return nil
	case wire.EvProgress:
		e.progressLines(Guest, ev)
		return nil
	case wire.EvSections:
		e.sectionsEvent(ev)
		return nil
	}
	return e.accept(Guest, ev)
}

// kernelRecords takes the kernel's records from the guest: a report there
// counts as one on the console does, whatever the console's loglevel.
func (e *Engine) kernelRecords(ev wire.Event) {
	if ev.Lost > 0 {
		e.kmsg = append(e.kmsg, fmt.Sprintf("mmaprig: %d kernel record(s) lost before they could be forwarded", ev.Lost))
	}
	for _, line := range ev.Records {
		e.kmsg = append(e.kmsg, line)
		if _, ok := kreport.Match(line); !ok {
			continue
		}
		switch {
		case e.crash == nil:
			e.newCrash(len(e.kmsg)-1, "")
			e.crash.kmsg, e.crash.placed = true, true
		case e.crash.start < 0 && e.crash.taint != 0:
			// The report behind a taint that a step showed first.
			e.crash.start, e.crash.kmsg = len(e.kmsg)-1, true
		}
		if !e.crash.placed {
			// The console showed it first: place it in the guest's order.
			e.crash.step = e.stepShort()
			e.placeCrash()
			e.crash.placed = true
		}
	}
}

// sectionsEvent takes the modules' sections, which the guest reports
// after insmod when the run is debugged, and only then.
func (e *Engine) sectionsEvent(ev wire.Event) {
	if len(e.spec.Debug) == 0 || e.next == 0 || e.plan[e.next-1].Event != wire.EvInsmod {
		e.channelFail("sections nobody asked for", fmt.Sprintf("the results port sent %s while step %s was due: only a debugged run (-gdb) reports them, right after insmod",
			ev, e.stepName()))
		return
	}
	e.sections = &ev
}

// checkTaint fails the run when a guest event shows a bad taint bit that
// the kernel did not have before insmod. The boot event's taint is the
// baseline.
func (e *Engine) checkTaint(ev wire.Event) {
	if ev.Name == wire.EvBoot {
		e.baseTaint = ev.Taint & wire.BadTaint
		return
	}
	if e.next == 0 {
		// Kernel records forwarded before the boot event: there is no
		// baseline yet, and no module.
		return
	}
	bad := ev.Taint & wire.BadTaint &^ e.baseTaint
	if bad == 0 || e.crash != nil {
		return
	}
	e.newCrash(-1, "kernel tainted "+wire.TaintLetters(bad))
	e.crash.taint, e.crash.placed = bad, true
}

func (e *Engine) sshEvent(text string) *Step {
	ev, err := wire.DecodeEvent([]byte(text))
	if err != nil {
		e.channelFail("internal error", fmt.Sprintf("internal error: the SSH driver's event does not decode: %v", err))
		return nil
	}
	switch ev.Name {
	case wire.EvProgress:
		e.progressLines(Host, ev)
		return nil
	case wire.EvSections:
		e.sectionsEvent(ev)
		return nil
	}
	return e.accept(Host, ev)
}

// progressLines follows the running program's output. It must come from
// the side that runs the plan's next step, a run of the same program.
func (e *Engine) progressLines(src Source, ev wire.Event) {
	if e.settle {
		return // the verdict is settled; output that was under way changes nothing
	}
	st, ok := e.Next()
	if !ok || st.Program == nil || st.Source != src || ev.Cmd != st.Program.Cmd() {
		e.channelFail("output from no running program", fmt.Sprintf("the %s sent the output of %q while step %s was due", src, ev.Cmd, e.stepName()))
		return
	}
	if e.progress == nil {
		e.progress = newProgress(*st.Program)
	}
	e.progress.add(ev.Stdout)
}

// accept matches an event against the next step of the plan, and judges it.
func (e *Engine) accept(src Source, ev wire.Event) *Step {
	if e.settle {
		if e.fail == nil {
			e.channelFail("an event after the end", fmt.Sprintf("event %s arrived after the end of the run", ev))
		}
		return nil // the run failed already; later steps change nothing
	}
	st := e.plan[e.next]
	switch {
	case st.Source != src:
		e.channelFail("a step from the wrong side", fmt.Sprintf("the %s reported %s, but step %s comes from the %s", src, ev, st, st.Source))
		return nil
	case ev.Name != st.Event:
		e.channelFail(e.missing(), fmt.Sprintf("step %s never arrived: the %s reported %s in its place", st, src, ev))
		return nil
	case st.Program != nil && ev.Cmd != st.Program.Cmd():
		e.channelFail(e.missing(), fmt.Sprintf("step %s never arrived: the %s reported a run of %q in its place", st, src, ev.Cmd))
		return nil
	}
	e.next++
	e.lastStep = e.now
	e.progress = nil // the program's event has its whole output
	e.res.Completed = append(e.res.Completed, st.String())
	e.judge(st, ev)
	if st.Event == wire.EvEnd || e.fail != nil {
		e.startSettling()
	}
	return &st
}

// judge fails the run if the step's event says it failed.
func (e *Engine) judge(st Step, ev wire.Event) {
	stepFail := func(c Class, title, format string, args ...any) {
		e.failWith(Result{Class: c, Title: title, Msg: fmt.Sprintf(format, args...), Step: st.Short()})
	}
	switch st.Event {
	case wire.EvBoot:
		if !ev.OK {
			stepFail(Boot, "the guest init could not set up", "the guest init could not set up: %s", ev.Err)
		}
	case wire.EvReady:
		e.res.BootToReady = e.now
		if !ev.OK {
			stepFail(Boot, "no SSH server", "the guest could not start its SSH server: %s", ev.Err)
		}
	case wire.EvInsmod:
		if !ev.OK {
			stepFail(ModuleLoad, "the module did not load", "the module did not load: %s", ev.Err)
		}
	case wire.EvDevice:
		switch {
		case ev.OK:
		case strings.Contains(ev.Err, wire.ErrPriorNode):
			stepFail(ModuleLoad, "a device node existed before the module loaded", "%s", ev.Err)
		case len(e.spec.Devices) == 1:
			stepFail(ModuleLoad, "no device node", "the module loaded but created no %s: %s", e.spec.Devices[0], ev.Err)
		default:
			stepFail(ModuleLoad, "no device node", "the module loaded but did not create all of %s: %s",
				strings.Join(wire.DeviceSpecs(e.spec.Devices), ", "), ev.Err)
		}
	case wire.EvUnload:
		if !ev.OK {
			stepFail(Contract, "the module would not unload", "the module would not unload after the checks: %s", ev.Err)
		}
	case wire.EvShell:
		if !ev.OK {
			stepFail(Channel, "the shell broke", "the shell broke: %s", ev.Err)
		}
	case wire.EvCoverage:
		e.res.Coverage = ev.Files
		if !ev.OK {
			stepFail(Infra, "no coverage data", "the module's coverage data could not be read: %s", ev.Err)
		}
	case wire.EvSettle:
		e.res.Settled = ev.Cmd
		if !ev.OK {
			stepFail(Infra, "the settle window failed", "the guest could not watch the kernel after the last step: %s", ev.Err)
		}
	case wire.EvEnd:
		e.ended = st.Source == Guest
	case wire.EvRun:
		if r := judgeRun(&e.res, *st.Program, ev, e.spec); r != nil {
			r.Step = st.Short()
			e.failWith(*r)
		}
	}
}

func (e *Engine) failWith(r Result) {
	if e.fail == nil {
		e.fail = &r
	}
}

// channelFail fails the run as a broken channel: a step that never
// arrived, arrived out of order, or was not from this run.
func (e *Engine) channelFail(title, msg string) {
	e.failWith(Result{Class: Channel, Title: title, Msg: msg, Step: e.stepShort(), Excerpt: e.tail(20)})
	e.startSettling()
}

// missing is the title of a step that never arrived.
func (e *Engine) missing() string { return "step " + e.stepShort() + " never arrived" }

func (e *Engine) startSettling() {
	if !e.settle {
		e.settle, e.settleAt = true, e.now
	}
}

// evaluate finishes the run once nothing more can change its verdict.
func (e *Engine) evaluate() {
	switch {
	case e.crash != nil:
		if e.exited || e.now >= e.crash.at+CrashGrace {
			e.finish(e.crashResult())
		}
	case e.settle:
		if e.exited || e.now >= e.settleAt+SettleGrace {
			if e.fail != nil {
				e.finish(*e.fail)
			} else {
				e.finish(e.passResult())
			}
		}
	case e.exited:
		e.finish(e.exitResult())
	case e.stopped:
		// A debugger holds the machine: no step is late.
	case e.now >= e.lastStep+e.plan[e.next].Timeout:
		e.finish(e.timeoutResult())
	}
}

func (e *Engine) deadline() time.Duration {
	switch {
	case e.done:
		return e.now
	case e.crash != nil:
		return e.crash.at + CrashGrace
	case e.settle:
		return e.settleAt + SettleGrace
	case e.stopped:
		return e.now + stoppedTick
	default:
		return e.lastStep + e.plan[e.next].Timeout
	}
}

// stoppedTick is how often the engine wants the time while a debugger
// holds the machine.
const stoppedTick = time.Second

// passResult is the verdict of a run whose every step passed: a pass,
// unless -run selected cases and not one ran, which is a mistake in the
// command, not a pass. The rig refuses such a -run before the boot, from
// the contract's names and the Go guest tests' sources; this catches the
// tests that only the guest's binary knows.
func (e *Engine) passResult() Result {
	if e.spec.Run == "" || e.spec.Shell {
		return Result{Class: Pass}
	}
	selectable := map[string]bool{}
	var suites []string
	for _, p := range e.spec.Programs {
		if p.Check == CheckKTAP || p.Check == CheckGoTest {
			selectable[p.Suite()] = true
		}
		if p.Check == CheckGoTest {
			suites = append(suites, p.Suite())
		}
	}
	for _, c := range e.res.Cases {
		if selectable[c.Suite] {
			return Result{Class: Pass}
		}
	}
	if suites == nil {
		return Result{Class: Pass}
	}
	return Result{Class: Setup, Title: "-run matched no case", Step: wire.EvEnd,
		Msg: fmt.Sprintf("-run %q matched no case: none of the contract's (%s), and the Go guest tests %s ran none of theirs (go test -list . in a test's package lists its names)",
			e.spec.Run, strings.Join(wire.ContractCases, ", "), strings.Join(suites, ", "))}
}

// finish records the final verdict, keeping what the run produced.
func (e *Engine) finish(r Result) {
	r.Output, r.Exec, r.KTAP, r.ContractTime = e.res.Output, e.res.Exec, e.res.KTAP, e.res.ContractTime
	r.Cases = e.cases(r)
	r.BootToInit, r.BootToReady, r.Completed = e.res.BootToInit, e.res.BootToReady, e.res.Completed
	r.Coverage, r.Settled = e.res.Coverage, e.res.Settled
	e.res, e.done = r, true
}

func (e *Engine) crashResult() Result {
	c := e.crash
	lines := e.console
	if c.kmsg {
		lines = e.kmsg
	}
	title, excerpt := c.title, e.tail(40)
	crash := &Crash{Title: title}
	if rep, ok := kreport.Parse(lines[max(c.start, 0):]); ok {
		start := max(c.start, 0) + rep.Start
		title = rep.Title
		excerpt = strings.Join(lines[max(0, start-3):min(len(lines), start+40)], "\n")
		crash = newCrash(rep)
	}
	if c.early {
		return Result{Class: Boot, Title: title, Step: c.step, Excerpt: excerpt, Crash: crash,
			Msg: "the kernel crashed before the module was loaded: " + title}
	}
	during := c.step
	if c.during != "" {
		during = c.during
	}
	msg := fmt.Sprintf("the kernel reported %s (during %s)", title, during)
	switch {
	case c.start < 0 && title == c.title && c.taint != 0:
		msg = fmt.Sprintf("the kernel tainted itself %s (during %s), with no report on the console or in its log: %s",
			wire.TaintLetters(c.taint), during, wire.DescribeTaint(c.taint))
	case c.start < 0 && title == c.title:
		msg = fmt.Sprintf("%s (during %s), with no kernel report on the console", title, during)
	}
	return Result{Class: GuestCrash, Title: title, Step: c.step, Excerpt: excerpt, Msg: msg, Crash: crash}
}

// atFileRE is where a WARNING's header says its code is: "at
// drivers/foo.c:12 func+0x1/0x2".
var atFileRE = regexp.MustCompile(` at (\S+\.[chS]):(\d+) `)

// newCrash records a parsed kernel report.
func newCrash(rep kreport.Report) *Crash {
	c := &Crash{Kind: rep.Kind, Title: rep.Title, Frame: rep.Frame, Stack: rep.Stack, Trap: rep.Trap, Panic: rep.Panic}
	if m := atFileRE.FindStringSubmatch(rep.Text); m != nil {
		c.File = m[1]
		c.Line, _ = strconv.Atoi(m[2])
	}
	return c
}

// exitResult judges a QEMU that exited before the plan ended.
func (e *Engine) exitResult() Result {
	step := e.stepName()
	r := Result{Step: e.stepShort(), Excerpt: e.tail(20)}
	switch {
	case e.exitErr != "":
		r.Class, r.Title = Infra, "QEMU exited"
		r.Msg = fmt.Sprintf("QEMU exited during %s: %s", step, e.exitErr)
	case e.next == 0:
		r.Class, r.Title = Boot, "the guest stopped before its init reported"
		r.Msg = "the guest stopped before its init reported; see the console"
	case e.poweredOff && e.next >= e.insmod:
		// The init powers off only after its last event, or before the
		// module loads when it cannot go on: this power off came from
		// the module's code.
		r.Class, r.Title = GuestCrash, "the guest powered off"
		r.Msg = fmt.Sprintf("the guest powered itself off during %s, with the module loaded and the plan not done", step)
	default:
		r.Class, r.Title = Channel, e.missing()
		r.Msg = fmt.Sprintf("the guest stopped, but step %s never arrived on the results port", step)
	}
	return r
}

// timeoutResult judges a step that passed the host's deadline. The guest
// enforces each bound itself and reports it; the host's is later by the
// spec's slack, so when it fires first the guest stopped answering.
func (e *Engine) timeoutResult() Result {
	st := e.plan[e.next]
	r := Result{Step: st.Short(), Excerpt: e.tail(20)}
	if e.next == 0 {
		r.Class, r.Title = Boot, "the guest init did not report"
		r.Msg = fmt.Sprintf("the guest init did not report within %v (-boot-timeout); VM status %s", st.Timeout, e.vmState)
		return r
	}
	r.Class, r.Title = Channel, e.missing()
	r.Msg = fmt.Sprintf("step %s did not arrive within %v: the guest stopped answering, it did not even report its own deadline; VM status %s",
		st, st.Timeout, e.vmState)
	return r
}

func (e *Engine) tail(n int) string {
	return strings.Join(tail.Lines(e.console, n), "\n")
}

// SSHEvent renders an event of the SSH driver as an SSH input's text.
func SSHEvent(ev wire.Event) string {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // an Event holds only strings, numbers and bools
	}
	return string(b)
}
