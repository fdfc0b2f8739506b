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
	// maxForward caps the records forwarded outside reports in one run, so
	// that a module that floods the log cannot flood the results port;
	// maxReports caps the reports forwarded whole. A report past the first
	// cap still comes through, and the taint flags catch the rest.
	maxForward = 4000
	maxReports = 16
	// maxRecord is the largest record /dev/kmsg hands out (8 KiB in
	// kernel/printk), with room to spare.
	maxRecord = 16 << 10
)

// kmsg reads new kernel log records without blocking.
type kmsg struct {
	fd      int
	buf     []byte
	window  int    // records still forwarded whatever their level
	sent    int    // records forwarded outside reports so far
	reports int    // reports forwarded so far
	nextSeq uint64 // the sequence number of the next record; 0 before the first
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
			// the next read returns the oldest one left, and the gap in
			// the sequence numbers counts what was lost.
			continue
		case err != nil:
			return lines, lost, fmt.Errorf("read /dev/kmsg: %w", err)
		}
		rec, ok := parseRecord(k.buf[:n])
		if !ok {
			continue
		}
		if k.nextSeq != 0 && rec.seq > k.nextSeq {
			lost += int(rec.seq - k.nextSeq)
		}
		k.nextSeq = rec.seq + 1
		for _, l := range rec.lines {
			switch k.take(rec.level, l) {
			case forward:
				lines = append(lines, l)
			case capped:
				lost++
			}
		}
	}
}

// A line's fate.
type fate int

const (
	drop    fate = iota // not worth forwarding
	forward             // forwarded
	capped              // worth forwarding, past the caps
)

// take decides whether a line is forwarded: anything in the window after
// a report starts, and warnings and worse.
func (k *kmsg) take(level int, line string) fate {
	if _, ok := kreport.Match(line); ok {
		k.reports++
		k.window = reportWindow
	}
	switch {
	case k.window > 0:
		k.window--
		if k.reports > maxReports {
			return capped
		}
		return forward
	case level > forwardLevel:
		return drop
	case k.sent >= maxForward:
		return capped
	}
	k.sent++
	return forward
}

// record is one /dev/kmsg record.
type record struct {
	level int
	seq   uint64
	// lines are its text as console lines, with the console's timestamp.
	lines []string
}

// parseRecord reads one /dev/kmsg record, "PRI,SEQ,USEC,FLAGS;text\n"
// followed by " KEY=value" dictionary lines. The text is escaped (\xNN);
// a record may hold several lines.
func parseRecord(b []byte) (record, bool) {
	head, body, found := bytes.Cut(b, []byte{';'})
	if !found {
		return record{}, false
	}
	fields := strings.Split(string(head), ",")
	if len(fields) < 3 {
		return record{}, false
	}
	pri, err1 := strconv.Atoi(fields[0])
	seq, err2 := strconv.ParseUint(fields[1], 10, 64)
	usec, err3 := strconv.ParseUint(fields[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return record{}, false
	}
	text, _, _ := bytes.Cut(body, []byte{'\n'})
	stamp := fmt.Sprintf("[%5d.%06d] ", usec/1e6, usec%1e6)
	r := record{level: pri & 7, seq: seq}
	for _, l := range strings.Split(unescape(string(text)), "\n") {
		r.lines = append(r.lines, stamp+l)
	}
	return r, true
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
