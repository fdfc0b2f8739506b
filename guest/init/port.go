package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// port is the init's end of the results port.
type port struct {
	f     *os.File
	in    *bufio.Reader
	mu    sync.Mutex
	nonce string
	seq   int
}

func newPort(f *os.File) *port {
	return &port{f: f, in: bufio.NewReaderSize(f, 64<<10)}
}

// hello tells the rig the init is up, with the kernel's uptime.
func (p *port) hello() error {
	return p.write(wire.Event{Name: wire.EvHello, OK: true, MS: uptimeMS()})
}

// work waits for the rig's Work and takes its nonce.
func (p *port) work() (*wire.Work, error) {
	req, err := p.request()
	if err != nil {
		return nil, err
	}
	if req.Work == nil {
		return nil, fmt.Errorf("the rig sent %+v before any work", req)
	}
	p.nonce = req.Work.Nonce
	return req.Work, nil
}

// request reads the rig's next message.
func (p *port) request() (wire.Request, error) {
	var req wire.Request
	line, err := wire.ReadLine(p.in)
	if err != nil {
		return req, fmt.Errorf("read a request: %w", err)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fmt.Errorf("decode a request: %w", err)
	}
	return req, nil
}

// emit sends the next event of the run, with its nonce and sequence
// number. A failed write cannot be reported anywhere else; the rig sees the
// event missing.
func (p *port) emit(ev wire.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev.Nonce, ev.Seq = p.nonce, p.seq
	p.seq++
	if err := p.writeLocked(ev); err != nil {
		fmt.Fprintf(os.Stdout, "mmaprig-init: results port: %v\n", err)
	}
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
