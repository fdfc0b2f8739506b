package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/kreport"
)

// The init forwards the kernel's log records to the rig from /dev/kmsg,
// which holds every record whatever the console's loglevel: neither
// "quiet" on the command line nor a module that lowers console_loglevel
// can hide a report from it.
const (
	// forwardLevel: records at this level or more urgent are forwarded
	// (KERN_WARNING; reports print at it or above, and so do their
	// traces at the default message level).
	forwardLevel = 4
	// reportWindow is how many records after a report's first line are
	// forwarded whatever their level, so that the rig sees its trace
	// even when the default message level was changed.
	reportWindow = 200
	// maxForward caps the records forwarded in one run, so that a module
	// that floods the log cannot flood the results port.
	maxForward = 4000
	// maxRecord is the largest record /dev/kmsg hands out (8 KiB in
	// kernel/printk), with room to spare.
	maxRecord = 16 << 10
)

// kmsg reads new kernel log records without blocking.
type kmsg struct {
	fd      int
	buf     []byte
	window  int // records still forwarded whatever their level
	sent    int // records forwarded so far
	skipped int // records the log buffer overwrote before they were read
}

// openKmsg opens /dev/kmsg at its end: records from before the run are the
// boot's, which the console shows.
func openKmsg() (*kmsg, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/kmsg: %w", err)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seek /dev/kmsg: %w", err)
	}
	return &kmsg{fd: fd, buf: make([]byte, maxRecord)}, nil
}

// poll reads every record there is now, and returns the lines to forward
// and how many records were lost since the last poll.
func (k *kmsg) poll() (lines []string, lost int, err error) {
	for {
		n, err := unix.Read(k.fd, k.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return lines, lost, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EPIPE):
			// The ring buffer overwrote records before they were read;
			// the next read returns the oldest one left.
			lost++
			continue
		case err != nil:
			return lines, lost, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		level, text, ok := parseRecord(k.buf[:n])
		if !ok {
			continue
		}
		for _, l := range text {
			if !k.take(level, l) {
				continue
			}
			if k.sent >= maxForward {
				lost++
				continue
			}
			k.sent++
			lines = append(lines, l)
		}
	}
}

// take decides whether a line is forwarded: warnings and worse always,
// and anything in the window after a report starts.
func (k *kmsg) take(level int, line string) bool {
	if _, ok := kreport.Match(line); ok {
		k.window = reportWindow
	}
	if k.window > 0 {
		k.window--
		return true
	}
	return level <= forwardLevel
}

// parseRecord reads one /dev/kmsg record, "PRI,SEQ,USEC,FLAGS;text\n"
// followed by " KEY=value" dictionary lines, into its level and its text
// as console lines with the console's timestamp. The text is escaped
// (\xNN); a record may hold several lines.
func parseRecord(rec []byte) (level int, lines []string, ok bool) {
	head, body, found := bytes.Cut(rec, []byte{';'})
	if !found {
		return 0, nil, false
	}
	fields := strings.Split(string(head), ",")
	if len(fields) < 3 {
		return 0, nil, false
	}
	pri, err1 := strconv.Atoi(fields[0])
	usec, err2 := strconv.ParseUint(fields[2], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, nil, false
	}
	text, _, _ := bytes.Cut(body, []byte{'\n'})
	stamp := fmt.Sprintf("[%5d.%06d] ", usec/1e6, usec%1e6)
	for _, l := range strings.Split(unescape(string(text)), "\n") {
		lines = append(lines, stamp+l)
	}
	return pri & 7, lines, true
}

// unescape undoes /dev/kmsg's \xNN escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
