package runner

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// guestVM is what the driver needs of a running VM: its console, its
// results port, its QMP events and state, its exit, and a way to stop it.
// *vm.VM is one; the tests drive the loop with a fake that replays
// recorded runs.
type guestVM interface {
	Console() *vm.Lines
	Port() net.Conn
	Events() <-chan qmp.Event
	Exited() <-chan struct{}
	ExitErr() error
	Status() (string, error)
	Stop(grace time.Duration)
	// Pause and SetLink are for the -inject faults.
	Pause() error
	SetLink(up bool) error
}

// clock is the driver's time. The loop asks After once per turn, for its
// next deadline, so a test's clock knows when the loop waits.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// recorder keeps every input the engine takes: engine.log's
// *verdict.Recorder.
type recorder interface {
	Record(verdict.Input)
}

// sendTimeout bounds a write to the results port.
const sendTimeout = 10 * time.Second

// stopGrace is how long QEMU has to quit when the driver is done.
const stopGrace = 2 * time.Second

// drainGrace is how long the loop reads the streams QEMU leaves behind
// once it exited.
const drainGrace = time.Second

// driver runs one VM: it feeds everything that happens to the verdict
// engine, and acts on what the engine accepts (the SSH driver, faults, the
// power off). It decides nothing itself.
type driver struct {
	r     *run
	spec  verdict.Spec
	eng   *verdict.Engine
	rec   recorder
	vm    guestVM
	clock clock
	port  *channel.Port
	work  *wire.Work
	// casesTold counts the result lines of the running program that
	// opts.CaseDone heard from its progress events.
	casesTold int
	// start is QEMU's start (a restored guest's resume): inputs are timed
	// from it.
	start time.Time
	// host carries the host steps' inputs and the port writers' errors.
	host chan verdict.Input
	// ctx ends when the loop does; wg counts the goroutines that use it.
	ctx context.Context
	wg  sync.WaitGroup
	// sentWork: the guest said hello and got its work (a restored guest
	// gets it at once: it said hello before it was saved).
	sentWork bool
	// hello, if set, runs when the guest init says hello, before it gets
	// its work: the cold boot saves its snapshot there.
	hello func(ctx context.Context)
	// hostSteps, if set, runs the plan's host steps once the guest's SSH
	// server listens, and reports each through d.report.
	hostSteps func(ctx context.Context)
	// askedOff: the guest was asked to power off.
	askedOff bool
	faults   faults
	// sections are the modules' sections the guest reported (-gdb,
	// -on-crash pause); holding: the rig stopped the guest for gdb, and
	// gives it its go when it runs again.
	sections []wire.ModuleSections
	holding  bool
	// release lets the SSH steps go on after the hold.
	release chan struct{}
	// ticking: the guest follows the host's clock and gets its ticks;
	// untick ends them, once no step bounded on it is left.
	ticking bool
	untick  chan struct{}
}

func (r *run) newDriver(spec verdict.Spec, rec recorder, work *wire.Work, v guestVM, c clock, start time.Time) *driver {
	return &driver{r: r, spec: spec, eng: verdict.New(spec), rec: rec, work: work, vm: v, clock: c, start: start,
		host: make(chan verdict.Input, 16), faults: newFaults(r.opts.Inject), release: make(chan struct{}, 1),
		untick: make(chan struct{})}
}

// drive runs the loop until the engine has a verdict, then stops QEMU and
// waits for the driver's goroutines. It returns the verdict and when it
// came, from the start.
func (d *driver) drive(ctx context.Context) (verdict.Result, time.Duration, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = lctx
	d.port = channel.OpenPort(d.vm.Port())
	// Deferred calls run last first: QEMU stops, which closes the port
	// and ends SSH, and then the driver's goroutines are waited for.
	defer d.wg.Wait()
	defer d.vm.Stop(stopGrace)
	if d.sentWork {
		d.sendWork()
	}
	res, err := d.loop(lctx)
	took := d.clock.Now().Sub(d.start)
	if err == nil && d.r.opts.OnCrash == OnCrashPause && res.Class == verdict.GuestCrash {
		d.pauseAtCrash(lctx, res)
	}
	cancel()
	return res, took, err
}

// streams are what the loop read of QEMU to its end.
type streams struct {
	console, port, qmp, qemu bool
	exitFed                  bool
	// drainBy is when the loop stops waiting for the streams' ends, once
	// QEMU exited.
	drainBy time.Time
}

// ended reports whether QEMU's exit counts: every stream it fed is read
// to its end.
func (s *streams) ended() bool { return s.console && s.port && s.qmp && s.qemu }

// loop reads the console, the results port, QMP and the host steps until
// the engine has a verdict.
func (d *driver) loop(ctx context.Context) (verdict.Result, error) {
	console, port := d.vm.Console(), d.port.Lines()
	events, exited := d.vm.Events(), d.vm.Exited()
	var s streams
	st := d.feed(verdict.Tick, "")
	for !st.Done {
		timer := d.clock.After(d.wakeIn(st, &s))
		select {
		case <-console.Notify():
			st = d.consoleLines(console, &s, st)
		case <-port.Notify():
			st = d.portLines(port, &s, st)
		case ev, ok := <-events:
			if !ok {
				s.qmp, events = true, nil
				break
			}
			st = d.feed(verdict.QMP, qmpText(ev))
			d.onQMP(ev.Event)
		case in := <-d.host:
			st = d.feed(in.Kind, in.Text)
		case <-exited:
			s.qemu, exited = true, nil
			s.drainBy = d.clock.Now().Add(drainGrace)
		case <-timer:
			st = d.timer(&s, st)
		case <-ctx.Done():
			return verdict.Result{}, fail(verdict.Infra, ctx.Err(), "interrupted while the guest ran")
		}
		if s.ended() && !s.exitFed && !st.Done {
			s.exitFed = true
			st = d.feed(verdict.Exit, d.exitText())
		}
	}
	return d.eng.Result(), nil
}

// wakeIn is how long the loop may wait: until the engine's deadline, or
// until the streams of a QEMU that exited are drained.
func (d *driver) wakeIn(st verdict.Status, s *streams) time.Duration {
	at := d.start.Add(st.Deadline)
	if !s.drainBy.IsZero() && !(s.console && s.port && s.qmp) && s.drainBy.Before(at) {
		at = s.drainBy
	}
	return at.Sub(d.clock.Now())
}

// timer gives the engine the time, with QMP's view of the VM; or, once
// QEMU exited a while ago, ends the streams it left open.
func (d *driver) timer(s *streams, st verdict.Status) verdict.Status {
	if !s.drainBy.IsZero() && !d.clock.Now().Before(s.drainBy) {
		s.console, s.port, s.qmp = true, true, true
		return st
	}
	if !st.Settling {
		if state, err := d.vm.Status(); err == nil {
			d.feed(verdict.QMP, "status "+state)
		}
	}
	return d.feed(verdict.Tick, "")
}

// consoleLines feeds what the console printed.
func (d *driver) consoleLines(q *vm.Lines, s *streams, st verdict.Status) verdict.Status {
	lines, closed := q.Take()
	for _, l := range lines {
		if st = d.feed(verdict.Console, l); st.Done {
			break
		}
	}
	s.console = closed
	return st
}

// portLines feeds what the guest init sent, answering its hello with the
// work; a port that broke, rather than ended, is an input of its own.
func (d *driver) portLines(q *vm.Lines, s *streams, st verdict.Status) verdict.Status {
	lines, closed := q.Take()
	for _, l := range lines {
		if d.faults.drop(d, l) {
			continue
		}
		if !d.sentWork && isHello(l) {
			d.sentWork = true
			if d.hello != nil {
				d.hello(d.ctx)
			}
			d.sendWork()
		}
		d.caseDone(l)
		if st = d.feed(verdict.Port, l); st.Done {
			break
		}
	}
	if closed && !s.port {
		s.port = true
		if err := d.portErr(); err != nil {
			st = d.feed(verdict.PortError, err.Error())
		}
	}
	return st
}

// caseDone tells opts.CaseDone of each contract case whose result line a
// port line brings: a program's progress events bring them as they come,
// and its run event brings its whole output, of which only the lines not
// yet told are new. It is progress only: the engine judges the lines.
func (d *driver) caseDone(line string) {
	if d.r.opts.CaseDone == nil {
		return
	}
	ev, err := wire.DecodeEvent([]byte(line))
	if err != nil || d.work == nil || ev.Nonce != d.work.Nonce || (ev.Name != wire.EvProgress && ev.Name != wire.EvRun) {
		return
	}
	n := 0
	for _, l := range ev.Stdout {
		c, ok := wire.ResultLine(l)
		if !ok {
			continue
		}
		if n++; ev.Name == wire.EvRun && n <= d.casesTold {
			continue
		}
		d.r.opts.CaseDone(c)
		if ev.Name == wire.EvProgress {
			d.casesTold++
		}
	}
	if ev.Name == wire.EvRun {
		d.casesTold = 0
	}
}

// qmpText is a QMP event as the engine takes it: its name, and a
// shutdown's reason.
func qmpText(ev qmp.Event) string {
	if reason, ok := ev.Data["reason"].(string); ok && ev.Event == "SHUTDOWN" {
		return ev.Event + " " + reason
	}
	return ev.Event
}

// exitText is how QEMU exited, as the engine takes it: empty for a clean
// exit, else the error and where QEMU's log is.
func (d *driver) exitText() string {
	if err := d.vm.ExitErr(); err != nil {
		return err.Error() + "; see " + filepath.Join(d.r.opts.ArtifactDir, layout.QEMULog)
	}
	return ""
}

// feed gives the engine one input, recording it, and acts on what it
// accepted.
func (d *driver) feed(kind verdict.Kind, text string) verdict.Status {
	in := verdict.Input{At: d.clock.Now().Sub(d.start), Kind: kind, Text: text}
	d.rec.Record(in)
	st := d.eng.Feed(in)
	if st.Accepted != nil {
		d.accepted(*st.Accepted)
	}
	if st.Sections != nil {
		d.onSections(*st.Sections)
	}
	if d.ticking && (st.Settling || st.Done || d.nextIs(wire.EvSettle) || d.nextIs(wire.EvEnd)) {
		d.stopTicks()
	}
	if st.Settling && !st.Done && !st.Ended && d.spec.Channel == wire.ChannelSSH && !d.askedOff {
		d.askedOff = true
		d.send(wire.Request{PowerOff: true})
	}
	return st
}

// send writes a request to the guest init without blocking the loop; a
// failure reaches the engine as a broken port.
func (d *driver) send(req wire.Request) {
	d.wg.Go(func() {
		if err := d.port.Send(req, sendTimeout); err != nil {
			d.report(d.ctx, verdict.PortError, err.Error())
		}
	})
}

// portErr is how the port broke, if it did. A reset after the host's
// clock ticks is QEMU closing with a tick the guest never took: it ends
// the port, and QEMU's exit and the guest's steps say how the run went.
func (d *driver) portErr() error {
	err := d.port.Err()
	if d.ticking && errors.Is(err, syscall.ECONNRESET) {
		d.r.opts.Log.Debug("the port was reset, with a tick of the host's clock unread", "err", err)
		return nil
	}
	return err
}

// sendWork sends the guest its work. A guest that follows the host's
// clock (wire.Config.HostClock) then gets its ticks until the loop ends.
func (d *driver) sendWork() {
	d.send(wire.Request{Work: d.work})
	if d.spec.HostClock && !d.ticking {
		d.ticking = true
		d.wg.Go(func() { d.tickHost(d.ctx) })
	}
}

// tickHost sends the host's clock, from the run's start, every
// wire.HostTick until ctx ends or d.untick closes: the settle window is
// the guest's own time, and a tick sent as the guest powers off would be
// left unread. A tick that cannot be written is dropped: a guest that
// stopped reading meets the host's own deadlines, and a port that broke
// reaches the engine from its reader.
func (d *driver) tickHost(ctx context.Context) {
	t := time.NewTicker(wire.HostTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.untick:
			return
		case <-t.C:
			ms := max(d.clock.Now().Sub(d.start).Milliseconds(), 1)
			if err := d.port.Send(wire.Request{HostMS: ms}, wire.HostTick); err != nil {
				d.r.opts.Log.Debug("a tick of the host's clock was not sent", "err", err)
			}
		}
	}
}

// stopTicks ends the host's clock ticks, once.
func (d *driver) stopTicks() {
	select {
	case <-d.untick:
	default:
		close(d.untick)
	}
}

// report hands the loop an input from another goroutine; false once the
// loop is done.
func (d *driver) report(ctx context.Context, kind verdict.Kind, text string) bool {
	select {
	case d.host <- verdict.Input{Kind: kind, Text: text}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *driver) accepted(st verdict.Step) {
	if st.Event == wire.EvReady && d.hostSteps != nil {
		d.wg.Go(func() { d.hostSteps(d.ctx) })
	}
	if st.Source == verdict.Host && d.nextIs(wire.EvSettle) {
		// The rig's last step over SSH is done: the guest settles and
		// ends the run itself.
		d.send(wire.Request{Settle: true})
	}
	d.faults.after(d, st.Event)
}

// nextIs reports whether the plan's next step is event.
func (d *driver) nextIs(event string) bool {
	next, ok := d.eng.Next()
	return ok && next.Event == event
}

// isHello reports whether a port line is the init's hello. The engine
// judges it; the driver only answers it with the work.
func isHello(line string) bool {
	ev, err := wire.DecodeEvent([]byte(line))
	return err == nil && ev.Name == wire.EvHello
}
