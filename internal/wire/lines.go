package wire

import (
	"bytes"
	"strings"
)

// LineSplitter cuts a program's output into lines as they complete, for
// progress events: at most MaxOutput bytes of lines in all, as a
// program's output is cut, and a line that never ends in pieces of
// MaxPartialLine bytes.
type LineSplitter struct {
	partial []byte
	sent    int
}

// MaxPartialLine is the longest line LineSplitter waits to complete.
const MaxPartialLine = 64 << 10

// Split takes the next bytes of the output and returns the lines they
// complete.
func (l *LineSplitter) Split(b []byte) []string {
	l.partial = append(l.partial, b...)
	end := bytes.LastIndexByte(l.partial, '\n')
	if end < 0 && len(l.partial) < MaxPartialLine {
		return nil
	}
	if end < 0 {
		end = len(l.partial)
	}
	text := string(l.partial[:end])
	l.partial = append([]byte(nil), l.partial[min(end+1, len(l.partial)):]...)
	var lines []string
	for _, s := range strings.Split(text, "\n") {
		if l.sent += len(s) + 1; l.sent > MaxOutput {
			break
		}
		lines = append(lines, s)
	}
	return lines
}
