package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// stream is a running program's stdout: a pipe of its own that the port
// reads without blocking, so that the program's lines and the kernel's
// records go to the rig in the order the init read them. The port drains
// the pipe before it reads the kernel's log, every time: a line the
// program printed before it crashed the kernel reaches the rig before the
// report, and a crash names the case that was running.
type stream struct {
	fd    int // the read end, non-blocking
	cmd   string
	out   wire.Capped
	buf   []byte
	lines wire.LineSplitter
}

// newStream makes the pipe; the program gets the returned write end as
// its stdout, which the caller closes once the program ended.
func newStream(cmd string) (*stream, *os.File, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	if err := unix.SetNonblock(fds[1], false); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	return &stream{fd: fds[0], cmd: cmd, buf: make([]byte, 64<<10)}, os.NewFile(uintptr(fds[1]), "stdout"), nil
}

// drain reads what the pipe holds now, keeps it, and returns the lines
// to forward: the complete ones, up to the cap.
func (s *stream) drain() []string {
	var lines []string
	for {
		n, err := unix.Read(s.fd, s.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 {
			return lines
		}
		s.out.Write(s.buf[:n])
		lines = append(lines, s.lines.Split(s.buf[:n])...)
	}
}

// wait blocks until the pipe has data, or for at most d.
func (s *stream) wait(d time.Duration) {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	unix.Poll(fds, int(d/time.Millisecond))
}

func (s *stream) close() { unix.Close(s.fd) }
