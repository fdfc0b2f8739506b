// Package symbolize decodes the frames of a kernel report's stack
// ("mymap_mmap+0x1c/0x40 [mymap]") to the source lines they are at, with
// the functions inlined there, from the debug info of the module's .ko
// files and of vmlinux, read with debug/elf and debug/dwarf.
package symbolize

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Frame is one frame of a report's stack, decoded.
type Frame struct {
	// Raw is the frame as the kernel printed it, without the "? ".
	Raw string `json:"raw"`
	// Function, Offset and Size are the kernel's func+0x1c/0x40.
	Function string `json:"function"`
	Offset   uint64 `json:"offset"`
	Size     uint64 `json:"size,omitempty"`
	// Module is the module the function is in; empty for the kernel's.
	Module string `json:"module,omitempty"`
	// Reliable is false for a frame the unwinder guessed ("? func").
	Reliable bool `json:"reliable"`
	// Trap is the address where the CPU trapped (RIP:, pc :), looked up
	// as it is; the other frames are return addresses, looked up one
	// byte back, in the call.
	Trap bool `json:"trap,omitempty"`
	// Lines are where the address is in the sources, innermost first as
	// addr2line -i says it: the functions inlined there, each at its
	// line, then Function at the line that called the first of them.
	// Empty when the object has no debug info for it.
	Lines []Location `json:"lines,omitempty"`
}

// Location is a line of source, in a function.
type Location struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// frameRE is a frame as a stack trace prints it, without the log's
// prefix and address columns: "? func+0x1c/0x40 [mod]".
var frameRE = regexp.MustCompile(`^(?:\[<?[0-9a-f]+>?\]\s*)*(\?\s+)?([A-Za-z_][A-Za-z0-9_.$]*)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?:\s+\[([\w-]+)\])?`)

// trapRE is where the CPU trapped: x86's "RIP: 0010:func+0x1/0x2 [mod]",
// arm64's "pc : func+0x1/0x2 [mod]".
var trapRE = regexp.MustCompile(`^(?:R?IP: (?:[0-9a-f]{4}:)?|pc : )(.*)$`)

// ParseFrame reads a frame of a stack trace, or a RIP:/pc: line (a trap).
func ParseFrame(line string) (Frame, bool) {
	line = strings.TrimSpace(line)
	trap := false
	if m := trapRE.FindStringSubmatch(line); m != nil {
		line, trap = m[1], true
	}
	m := frameRE.FindStringSubmatch(line)
	if m == nil {
		return Frame{}, false
	}
	off, err1 := strconv.ParseUint(m[3], 16, 64)
	size, err2 := strconv.ParseUint(m[4], 16, 64)
	if err1 != nil || err2 != nil {
		return Frame{}, false
	}
	raw := m[2] + "+0x" + m[3] + "/0x" + m[4]
	if m[5] != "" {
		raw += " [" + m[5] + "]"
	}
	return Frame{Raw: raw, Function: m[2], Offset: off, Size: size, Module: m[5], Reliable: m[1] == "", Trap: trap}, true
}

// Format renders frames as syzkaller prints a symbolized stack, a line
// for each function inlined at a frame's address, innermost first:
//
//	inlineoops_poke path/inlineoops.c:17 [inline]
//	inlineoops_mmap+0xa/0x17 path/inlineoops.c:27 [inlineoops]
//	? mmap_region+0x2ea/0x501
func Format(frames []Frame) []string {
	var out []string
	for _, f := range frames {
		mark := ""
		if !f.Reliable {
			mark = "? "
		}
		for _, l := range f.inlined() {
			out = append(out, fmt.Sprintf("%s%s %s:%d [inline]", mark, l.Function, l.File, l.Line))
		}
		line := fmt.Sprintf("%s%s+%#x/%#x", mark, f.Function, f.Offset, f.Size)
		if len(f.Lines) > 0 {
			l := f.Lines[len(f.Lines)-1]
			line += fmt.Sprintf(" %s:%d", l.File, l.Line)
		}
		if f.Module != "" {
			line += " [" + f.Module + "]"
		}
		out = append(out, line)
	}
	return out
}

// inlined are the locations of the functions inlined at the frame's
// address, innermost first.
func (f Frame) inlined() []Location {
	if len(f.Lines) < 2 {
		return nil
	}
	return f.Lines[:len(f.Lines)-1]
}

// Innermost is the innermost location of the frame, in a file that
// inFile accepts if any does: the author's line in a module function
// that inlined a kernel header's. ok is false when the frame has none.
func (f Frame) Innermost(inFile func(string) bool) (Location, bool) {
	for _, l := range f.Lines {
		if inFile(l.File) {
			return l, true
		}
	}
	if len(f.Lines) == 0 {
		return Location{}, false
	}
	return f.Lines[0], true
}
