package kreport

import (
	"regexp"
	"strings"
)

// normalizers make a title the same on every run: they drop or replace
// what changes between runs, builds and machines but says nothing about
// the bug. They run in order.
var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	// Offsets into a function, and the module it is in: "+0x1c/0x30 [mod]".
	{regexp.MustCompile(`\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[\w-]+\])?`), ""},
	// Directories of absolute paths: out-of-tree modules are built where
	// the rig copied them, a directory that changes with their content.
	{regexp.MustCompile(`(^|[\s(])/(?:[^\s/]+/)+`), "$1"},
	// Line (and column) numbers in source files.
	{regexp.MustCompile(`(\.[chS]|\.rs):\d+(?::\d+)?\b`), "$1:NUM"},
	// Addresses and other hexadecimal values.
	{regexp.MustCompile(`\b0x[0-9a-fA-F]+\b`), "ADDR"},
	{regexp.MustCompile(`\b[0-9a-f]{8,}\b`), "ADDR"},
	// Other numbers (PIDs, CPUs, sizes, counts), but not digits inside
	// identifiers (x86_64, kmalloc_64).
	{regexp.MustCompile(`\b\d+\b`), "NUM"},
	{regexp.MustCompile(`\s+`), " "},
}

// danglingRE is a preposition left over at the end of a title whose
// object was empty ("WARNING at ").
var danglingRE = regexp.MustCompile(`(?: at| in| on)+$`)

// normalize makes a title the same for the same bug on every run.
func normalize(s string) string {
	for _, n := range normalizers {
		s = n.re.ReplaceAllString(s, n.repl)
	}
	s = strings.TrimSpace(s)
	return strings.TrimRight(danglingRE.ReplaceAllString(s, ""), " ,:;")
}
