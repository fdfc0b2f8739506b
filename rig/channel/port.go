package channel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/vm"
)

// Port is the rig's end of the results port: the guest init's messages,
// line by line, and the rig's requests the other way.
type Port struct {
	conn  net.Conn
	lines *vm.Lines
	mu    sync.Mutex
	err   error
	wmu   sync.Mutex
}

// OpenPort starts reading the port's lines from conn.
func OpenPort(conn net.Conn) *Port {
	p := &Port{conn: conn, lines: vm.NewLines()}
	go p.read()
	return p
}

func (p *Port) read() {
	defer p.lines.Close()
	br := bufio.NewReaderSize(p.conn, 64<<10)
	for {
		line, err := wire.ReadLine(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
			return
		}
		p.lines.Add(string(line))
	}
}

// Lines are the guest's messages; the queue closes when the port does.
func (p *Port) Lines() *vm.Lines { return p.lines }

// Err is why reading stopped, once Lines is closed: nil when the port
// simply ended with QEMU.
func (p *Port) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Send writes one request to the guest, giving up after timeout: the guest
// reads the port only when it waits for the rig.
func (p *Port) Send(req wire.Request, timeout time.Duration) error {
	b, err := wire.MarshalRequest(req)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := p.conn.Write(b); err != nil {
		return fmt.Errorf("send to the guest init: %w", err)
	}
	return nil
}
