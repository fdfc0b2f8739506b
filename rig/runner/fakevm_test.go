package runner

// A fake QEMU for the driver's tests: it replays the guest's side of a
// recorded run (rig/verdict's recordings: console and port lines, QMP
// events, QEMU's exit) into the real driver loop and the real engine, on
// a clock of its own, and takes the driver's requests on its results port.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// fakeClock is the driver's time in a replay: it moves only when the
// replay moves it. The loop asks After once per turn, just before it
// waits: that turn is the replay's cue to give it the next input.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	// turns holds the loop's latest turn that the replay has not
	// answered yet.
	turns chan turn
	// fed counts the inputs the driver recorded (testRecorder).
	fed atomic.Int64
}

// turn is one wait of the loop: until its deadline, at.
type turn struct {
	at   time.Time
	fire chan time.Time
	// fed is how many inputs the driver had recorded by then.
	fed int64
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), turns: make(chan turn, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// set moves the clock forward to t; it never goes back.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	t := turn{at: c.Now().Add(d), fire: make(chan time.Time, 1), fed: c.fed.Load()}
	select {
	case <-c.turns: // a turn the replay did not answer is over
	default:
	}
	c.turns <- t
	return t.fire
}

// testRecorder keeps the driver's inputs, as engine.log does, counts them
// on the clock, and says when one of a watched kind comes.
type testRecorder struct {
	rec   *verdict.Recorder
	clock *fakeClock
	watch verdict.Kind
	seen  chan int64
}

func (r *testRecorder) Record(in verdict.Input) {
	r.rec.Record(in)
	n := r.clock.fed.Add(1)
	if in.Kind == r.watch {
		select {
		case r.seen <- n:
		default:
		}
	}
}

// fakeConn is the rig's end of a fake results port: it reads what the
// replay writes, and takes the driver's requests.
type fakeConn struct {
	mu   sync.Mutex
	cond *sync.Cond
	in   []byte
	// readErr ends the reads once in is read: io.EOF when the guest's
	// end closed, another error when the port broke.
	readErr error
	// writeErr fails the driver's writes: the guest's end is gone.
	writeErr error
	requests []wire.Request
	// work is closed once a request brought the work.
	work     chan struct{}
	workOnce sync.Once
	nonce    string
	// failed receives a value for each write that failed.
	failed chan struct{}
}

func newFakeConn() *fakeConn {
	c := &fakeConn{work: make(chan struct{}), failed: make(chan struct{}, 16)}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.in) == 0 && c.readErr == nil {
		c.cond.Wait()
	}
	if len(c.in) > 0 {
		n := copy(b, c.in)
		c.in = c.in[n:]
		return n, nil
	}
	return 0, c.readErr
}

func (c *fakeConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeErr != nil {
		c.failed <- struct{}{}
		return 0, c.writeErr
	}
	// The port writes each request whole, a work's files after its line.
	r := bufio.NewReader(bytes.NewReader(b))
	for {
		req, err := wire.ReadRequest(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("fake port: a request that does not decode: %w", err)
		}
		c.requests = append(c.requests, req)
		if req.Work != nil {
			c.nonce = req.Work.Nonce
			c.workOnce.Do(func() { close(c.work) })
		}
	}
	return len(b), nil
}

// send writes a line from the guest.
func (c *fakeConn) send(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in = append(c.in, line+"\n"...)
	c.cond.Broadcast()
}

// end makes the reads end with err, once what was sent is read.
func (c *fakeConn) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr == nil {
		c.readErr = err
	}
	c.cond.Broadcast()
}

func (c *fakeConn) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr != nil
}

func (c *fakeConn) breakWrites(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeErr = err
}

func (c *fakeConn) sent() []wire.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Request(nil), c.requests...)
}

func (c *fakeConn) runNonce() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nonce
}

func (c *fakeConn) Close() error                     { c.end(net.ErrClosed); return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "results-port" }

// fakeVM is a QEMU that replays a recording's guest side. Console and port
// lines, QMP events and the exit come one per turn of the driver's loop,
// at their recorded times; the recording's status queries answer the
// driver's Status, and its ticks fire the driver's timer. Once the
// recording ends, the timer fires at each deadline the driver asks for:
// a QEMU that stopped talking.
type fakeVM struct {
	rec     *verdict.Recording
	clock   *fakeClock
	console *vm.Lines
	conn    *fakeConn
	events  chan qmp.Event
	exited  chan struct{}
	exitErr error
	// statuses are the answers to Status; none means QMP does not answer.
	statuses chan string
	// reporter receives the driver's way to report host steps, once the
	// guest's SSH server is ready.
	reporter chan func(verdict.Kind, string) bool
	// renonce puts the run's nonce, from its work, in the port lines in
	// place of the recording's.
	renonce bool
	// noExit keeps QEMU's streams open at the recorded exit: only the
	// process ends.
	noExit bool
	// after, if set, runs after each input the replay gave.
	after func(p *player, in verdict.Input) error
	// resumeErr fails Resume.
	resumeErr error
	// log is what the fake QEMU writes to qemu.log, when cfg names an
	// artifact directory.
	log string

	cancel  context.CancelFunc
	done    chan struct{}
	stopped atomic.Bool
	// err is what went wrong in the replay itself.
	err error
}

func newFakeVM(rec *verdict.Recording, c *fakeClock) *fakeVM {
	return &fakeVM{rec: rec, clock: c, console: vm.NewLines(), conn: newFakeConn(), events: make(chan qmp.Event),
		exited: make(chan struct{}), statuses: make(chan string, 16), reporter: make(chan func(verdict.Kind, string) bool, 1),
		done: make(chan struct{})}
}

// start starts the replay, and writes the fake QEMU's log into the
// artifact directory, as QEMU would.
func (f *fakeVM) start(artifactDir string) {
	if artifactDir != "" && f.log != "" {
		os.WriteFile(filepath.Join(artifactDir, "qemu.log"), []byte(f.log+"\n"), 0o644)
	}
	select {
	case <-f.clock.turns: // a turn of a driver that is gone
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.replay(ctx)
}

func (f *fakeVM) Console() *vm.Lines       { return f.console }
func (f *fakeVM) Port() net.Conn           { return f.conn }
func (f *fakeVM) Events() <-chan qmp.Event { return f.events }
func (f *fakeVM) Exited() <-chan struct{}  { return f.exited }
func (f *fakeVM) ExitErr() error           { return f.exitErr }
func (f *fakeVM) Pause() error             { return nil }
func (f *fakeVM) SetLink(bool) error       { return nil }
func (f *fakeVM) Resume() error            { return f.resumeErr }
func (f *fakeVM) Cmdline() string          { return "fake-qemu" }

func (f *fakeVM) HostForward(int) (string, error) {
	return "", errors.New("the fake QEMU has no network")
}

func (f *fakeVM) Status() (string, error) {
	select {
	case s := <-f.statuses:
		return s, nil
	default:
		return "", errors.New("QMP query-status: no answer; QEMU is hung")
	}
}

func (f *fakeVM) Save(_ context.Context, path string) error {
	return os.WriteFile(path, []byte("a fake guest's state\n"), 0o644)
}

// Stop ends the replay and closes the port, as QEMU's quit does.
func (f *fakeVM) Stop(time.Duration) {
	f.stopped.Store(true)
	f.cancel()
	<-f.done
	f.conn.Close()
}

func (f *fakeVM) Kill() { f.Stop(0) }

// hostSteps stands for the SSH driver: the replay reports the recording's
// SSH steps through it.
func (f *fakeVM) hostSteps(d *driver) func(context.Context) {
	return func(ctx context.Context) {
		f.reporter <- func(kind verdict.Kind, text string) bool { return d.report(ctx, kind, text) }
		<-ctx.Done()
	}
}

// errReplayOver ends a replay: the driver is done, or the test is.
var errReplayOver = errors.New("the replay is over")

// player is one replay's state.
type player struct {
	f    *fakeVM
	ctx  context.Context
	base time.Time
	// cur is a turn of the loop not used yet.
	cur    *turn
	report func(verdict.Kind, string) bool
}

func (f *fakeVM) replay(ctx context.Context) {
	defer close(f.done)
	p := &player{f: f, ctx: ctx}
	t, err := p.turn()
	if err != nil {
		return
	}
	// The loop's first turn comes right after its start: the recording's
	// times count from here.
	p.base, p.cur = f.clock.Now(), &t
	inputs := f.rec.Inputs
	if len(inputs) > 0 && inputs[0].Kind == verdict.Tick {
		inputs = inputs[1:] // the driver's own first tick
	}
	for _, in := range inputs {
		err := p.give(in)
		if err == nil && f.after != nil {
			err = f.after(p, in)
		}
		if err != nil {
			f.fail(err)
			return
		}
	}
	f.fail(p.deadlines())
}

func (f *fakeVM) fail(err error) {
	if err != nil && !errors.Is(err, errReplayOver) {
		f.err = err
	}
}

// turn waits for the loop to wait.
func (p *player) turn() (turn, error) {
	if p.cur != nil {
		t := *p.cur
		p.cur = nil
		return t, nil
	}
	select {
	case t := <-p.f.clock.turns:
		return t, nil
	case <-p.ctx.Done():
		return turn{}, errReplayOver
	}
}

// turnAfter waits for a turn that began after n inputs were recorded.
func (p *player) turnAfter(n int64) (turn, error) {
	for {
		t, err := p.turn()
		if err != nil || t.fed >= n {
			return t, err
		}
	}
}

// at waits for the loop's turn and moves the clock to the input's time.
func (p *player) at(in verdict.Input) (turn, error) {
	t, err := p.turn()
	if err == nil {
		p.f.clock.set(p.base.Add(in.At))
	}
	return t, err
}

// give plays one input.
func (p *player) give(in verdict.Input) error {
	f := p.f
	if in.Kind == verdict.QMP && strings.HasPrefix(in.Text, "status ") {
		f.statuses <- strings.TrimPrefix(in.Text, "status ")
		return nil
	}
	if in.Kind == verdict.Port && f.conn.ended() {
		return nil // the port broke before: the guest's line is lost
	}
	t, err := p.at(in)
	if err != nil {
		return err
	}
	switch in.Kind {
	case verdict.Tick:
		t.fire <- f.clock.Now()
	case verdict.Console:
		f.console.Add(in.Text)
	case verdict.Port:
		return p.portLine(in.Text)
	case verdict.PortError:
		f.conn.end(errors.New(in.Text))
	case verdict.QMP:
		return p.event(in.Text)
	case verdict.SSH, verdict.SSHError:
		return p.hostStep(in.Kind, in.Text)
	case verdict.Exit:
		return p.exit(in.Text)
	default:
		return fmt.Errorf("the fake QEMU cannot replay a %s input", in.Kind)
	}
	return nil
}

func (p *player) portLine(line string) error {
	f := p.f
	if f.renonce && f.rec.Spec.Nonce != "" && strings.Contains(line, f.rec.Spec.Nonce) {
		// A guest learns its nonce from its work.
		select {
		case <-f.conn.work:
		case <-p.ctx.Done():
			return errReplayOver
		}
		line = strings.ReplaceAll(line, f.rec.Spec.Nonce, f.conn.runNonce())
	}
	f.conn.send(line)
	return nil
}

func (p *player) event(text string) error {
	name, reason, _ := strings.Cut(text, " ")
	ev := qmp.Event{Event: name}
	if reason != "" {
		ev.Data = map[string]any{"reason": reason}
	}
	select {
	case p.f.events <- ev:
		return nil
	case <-p.ctx.Done():
		return errReplayOver
	}
}

func (p *player) hostStep(kind verdict.Kind, text string) error {
	if p.report == nil {
		select {
		case p.report = <-p.f.reporter:
		case <-p.ctx.Done():
			return errReplayOver
		}
	}
	if !p.report(kind, text) {
		return errReplayOver
	}
	return nil
}

// exit ends QEMU: its console, its port and QMP close, one a turn, and
// then the process is gone. The recorded text is the driver's, with the
// log's path it added.
func (p *player) exit(text string) error {
	f := p.f
	if text != "" {
		msg, _, _ := strings.Cut(text, "; see ")
		f.exitErr = errors.New(msg)
	}
	if !f.noExit {
		f.console.Close()
		if !f.conn.ended() {
			if _, err := p.turn(); err != nil {
				return err
			}
			f.conn.end(io.EOF)
		}
		if _, err := p.turn(); err != nil {
			return err
		}
		close(f.events)
		if _, err := p.turn(); err != nil {
			return err
		}
	}
	close(f.exited)
	return nil
}

// deadlines fires the loop's timer at each deadline it asks for, once the
// recording is over: time passes, and nothing else happens.
func (p *player) deadlines() error {
	for range 20 {
		t, err := p.turn()
		if err != nil {
			return err
		}
		p.f.clock.set(t.at)
		t.fire <- p.f.clock.Now()
	}
	return errors.New("the driver asked for 20 deadlines after the recording ended, and never reached a verdict")
}
