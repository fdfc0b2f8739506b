// Package tail keeps the end of a text: the last lines of a log, a
// program's output or a console, for excerpts and error messages. It is
// the one place the rig cuts a text to its last n lines.
package tail

import (
	"os"
	"strings"
)

// Lines returns the last n of lines (all of them when there are fewer).
func Lines(lines []string, n int) []string {
	return lines[max(0, len(lines)-max(n, 0)):]
}

// Text returns the last n lines of s, without its trailing newlines, and
// how many lines it left out.
func Text(s string, n int) (string, int) {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "", 0
	}
	lines := strings.Split(s, "\n")
	kept := Lines(lines, n)
	return strings.Join(kept, "\n"), len(lines) - len(kept)
}

// File returns the last n lines of the file at path, or "" when it cannot
// be read: a missing log only makes an excerpt shorter.
func File(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s, _ := Text(string(b), n)
	return s
}
