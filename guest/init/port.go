package main

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// port is the init's end of the results port.
type port struct {
	f     *os.File
	in    *bufio.Reader
	mu    sync.Mutex
	nonce string
	seq   int
	// kmsg, once the run started, forwards the kernel's records.
	kmsg *kmsg
	// kmsgErr is why kmsg could not be read, reported with the settle.
	kmsgErr error
	// stream is the running program's stdout, while one runs.
	stream *stream
	// clock is the host's, for a guest that follows it; nil otherwise,
	// and its After is then time.After.
	clock *hostClock
}

func newPort(f *os.File) *port {
	return &port{f: f, in: bufio.NewReaderSize(f, 64<<10)}
}

// hello tells the rig the init is up, with the kernel's uptime.
func (p *port) hello() error {
	return p.write(wire.Event{Name: wire.EvHello, OK: true, MS: uptimeMS()})
}

// work waits for the rig's Work and takes its nonce. A tick of the host's
// clock before it is no news.
func (p *port) work() (*wire.Work, error) {
	req, err := p.request()
	for err == nil && req.HostMS > 0 && req.Work == nil {
		req, err = p.request()
	}
	if err != nil {
		return nil, err
	}
	if req.Work == nil {
		return nil, fmt.Errorf("the rig sent %+v before any work", req)
	}
	p.nonce = req.Work.Nonce
	return req.Work, nil
}

// followHost keeps p.clock with the rig's ticks, for the rest of the run:
// the rig sends nothing else to a guest that follows its clock.
func (p *port) followHost() {
	for {
		req, err := p.request()
		if err != nil {
			logf(os.Stdout, "the host's clock: %v", err)
			return
		}
		if req.HostMS > 0 {
			p.clock.tick(time.Duration(req.HostMS) * time.Millisecond)
		}
	}
}

// request reads the rig's next message.
func (p *port) request() (wire.Request, error) {
	req, err := wire.ReadRequest(p.in)
	if err != nil {
		return wire.Request{}, fmt.Errorf("read a request: %w", err)
	}
	return req, nil
}

// emit sends the next event of the run, with its nonce and sequence
// number, and the kernel's taint mask. The kernel's records up to now go
// first, so that a report reaches the rig before the taint it set. A
// failed write cannot be reported anywhere else; the rig sees the event
// missing.
func (p *port) emit(ev wire.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forwardLocked()
	t, err := wire.ReadTaint()
	if err != nil && ev.Name == wire.EvSettle && ev.OK {
		ev.OK, ev.Err = false, fmt.Sprintf("read the kernel's taint: %v", err)
	}
	ev.Taint = t
	p.sendLocked(ev)
}

func (p *port) sendLocked(ev wire.Event) {
	ev.Nonce, ev.Seq = p.nonce, p.seq
	p.seq++
	if err := p.writeLocked(ev); err != nil {
		fmt.Fprintf(os.Stdout, "mmaprig-init: results port: %v\n", err)
	}
}

// kmsgPoll is how often the kernel's log is read between steps.
const kmsgPoll = 50 * time.Millisecond

// watchKernel opens the kernel's log and forwards its records from now on,
// between steps as well as before each one.
func (p *port) watchKernel() {
	k, err := openKmsg()
	p.mu.Lock()
	p.kmsg, p.kmsgErr = k, err
	p.mu.Unlock()
	if err != nil {
		return
	}
	go func() {
		for range time.Tick(kmsgPoll) {
			p.mu.Lock()
			p.forwardLocked()
			p.mu.Unlock()
		}
	}()
}

// forwardLocked sends the running program's new lines, if it printed
// any, as one EvProgress event, then the kernel's new records, if there
// are any, as one EvKernel event. Lines first: a program's line that the
// pipe holds now was printed before any record the log holds after it.
func (p *port) forwardLocked() {
	if s := p.stream; s != nil {
		if lines := s.drain(); len(lines) > 0 {
			t, _ := wire.ReadTaint()
			p.sendLocked(wire.Event{Name: wire.EvProgress, OK: true, Exit: -1, Cmd: s.cmd, Stdout: lines, Taint: t})
		}
	}
	if p.kmsg == nil {
		return
	}
	lines, lost, err := p.kmsg.poll()
	if err != nil && p.kmsgErr == nil {
		p.kmsgErr = err
	}
	if len(lines) == 0 && lost == 0 {
		return
	}
	t, _ := wire.ReadTaint()
	p.sendLocked(wire.Event{Name: wire.EvKernel, OK: true, Exit: -1, Records: lines, Lost: lost, Taint: t})
}

// follow forwards s's lines while its program runs, as they come, and
// returns what stops that after the program ended: a last drain of the
// pipe, whose lines go before the program's own event.
func (p *port) follow(s *stream) (stop func()) {
	p.mu.Lock()
	p.stream = s
	p.mu.Unlock()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			s.wait(kmsgPoll)
			p.mu.Lock()
			p.forwardLocked()
			p.mu.Unlock()
		}
	}()
	return func() {
		close(done)
		<-stopped
		p.mu.Lock()
		p.forwardLocked()
		p.stream = nil
		p.mu.Unlock()
		s.close()
	}
}

// kernelErr is why the kernel's log could not be read, if it could not.
func (p *port) kernelErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kmsgErr
}

func (p *port) write(ev wire.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writeLocked(ev)
}

// writeLocked writes one message in one write(2), so messages never
// interleave.
func (p *port) writeLocked(ev wire.Event) error {
	b, err := wire.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = p.f.Write(b)
	return err
}
