// Package kreport recognises kernel reports in a guest's serial console:
// oopses, BUG and WARNING splats, sanitizer reports (KASAN, KFENCE, KMSAN,
// KCSAN, UBSAN), lockdep splats, panics, hung tasks, RCU stalls, soft
// lockups, list corruption and kmemleak reports, on x86_64 and arm64.
//
// Each report gets a title in the style of syzkaller's pkg/report: the kind
// of report and the function to blame ("WARNING in mymap_open",
// "KASAN: slab-out-of-bounds Read in foo"), with addresses, numbers, offsets
// and module names normalised away, so that the same bug has the same title
// on every run, every kernel and every cell of a matrix.
//
// The package is pure: it reads only the strings it is given.
package kreport

import "regexp"

// Header is the start of a report.
type Header struct {
	// Kind is the report's family: "BUG", "WARNING", "KASAN", "KFENCE",
	// "KMSAN", "KCSAN", "UBSAN", "lockdep", "GPF", "Oops", "panic",
	// "hung task", "RCU stall", "soft lockup", "hard lockup", "corruption"
	// or "memory leak".
	Kind string
	// Title is a provisional title from the header line alone, normalised.
	Title string
	// Panic is true when the header is a kernel panic.
	Panic bool
}

// Match reports whether a console line starts a kernel report. A report
// is recognised only at the start of a kernel record (after the timestamp),
// never in the middle of a record: "[ 1.0] mymod: saw BUG: in data" is not
// a report, "[ 1.0] BUG: kernel NULL pointer dereference, address: 0" is.
func Match(line string) (Header, bool) {
	for _, r := range Records(line) {
		if !r.Kernel {
			continue
		}
		if m, ok := matchHeader(r.Text); ok {
			return m.header(), true
		}
	}
	return Header{}, false
}

// Report is a whole report.
type Report struct {
	Header
	// Title is the final title, naming the guilty frame where there is one.
	Title string
	// Frame is the guilty function, "" if none was found.
	Frame string
	// Text is the header's record, as printed.
	Text string
	// Stack is the report's first stack trace, a frame a line as the
	// kernel printed it ("? mymap_mmap+0x1c/0x40 [mymap]").
	Stack []string
	// Trap is the report's first line that says where the CPU trapped,
	// in the kernel: "RIP: 0010:mymap_mmap+0x1c/0x40 [mymap]", arm64's
	// "pc : mymap_mmap+0x1c/0x40 [mymap]"; "" when it has none (KASAN's
	// reports, lockdep's).
	Trap string
	// Start is the index in lines of the header line.
	Start int
}

// Parse finds the first report in lines (console lines, in order) and
// computes its title from the lines that follow the header: RIP:/pc:
// lines, "WARNING: CPU: 0 PID: 1 at file.c:12 func+0x1/0x2 [mod]",
// "BUG: KASAN: slab-out-of-bounds in func+0x..", lockdep's "at:" lines and
// the "Call Trace:" frames.
func Parse(lines []string) (Report, bool) {
	for i, line := range lines {
		recs, stamped := records(line)
		for j, r := range recs {
			if !r.Kernel {
				continue
			}
			m, ok := matchHeader(r.Text)
			if !ok {
				continue
			}
			body := reportBody(m, recs[j+1:], lines[i+1:], stamped)
			frame := m.rule.guilty(m, body)
			return Report{
				Header: m.header(),
				Title:  m.title(frame, access(body)),
				Frame:  frame,
				Text:   m.text,
				Stack:  stackLines(body),
				Trap:   trapLine(body),
				Start:  i,
			}, true
		}
	}
	return Report{}, false
}

// maxBody bounds how far a report reaches. The longest reports in the
// corpus (lockdep's, with KASAN's deep stacks) take about 120 lines.
const maxBody = 400

// endRE marks the end of a report.
var endRE = regexp.MustCompile(`^-+\[ end (?:trace|Kernel panic)`)

// reportBody returns the texts of the kernel records of a report: the
// header's, then the ones that follow, up to the end of the report: its
// end marker, or the header of a report that does not belong to it. rest
// are the records after the header on its own line. When the header has a
// timestamp, lines without one are user space writing to the console
// between printk records, and are left out: in a console with timestamps,
// every line of a kernel report has one.
func reportBody(m match, rest []Record, lines []string, stamped bool) []string {
	body := []string{m.text}
	add := func(r Record) bool {
		if !r.Kernel {
			return true
		}
		if endRE.MatchString(r.Text) {
			return false
		}
		if n, ok := matchHeader(r.Text); ok && !n.rule.follow {
			return false
		}
		body = append(body, r.Text)
		return len(body) < maxBody
	}
	for _, r := range rest {
		if !add(r) {
			return body
		}
	}
	for _, line := range lines {
		recs, ok := records(line)
		if stamped && !ok {
			continue
		}
		for _, r := range recs {
			if !add(r) {
				return body
			}
		}
	}
	return body
}
