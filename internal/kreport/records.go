package kreport

import "strings"

// Record is one kernel log record cut out of a console line.
type Record struct {
	// Text is the record's text, after its printk timestamp if it had one.
	Text string
	// Kernel is false for text that is known not to come from the kernel:
	// what precedes the first timestamp of a line that has one.
	Kernel bool
}

// A printk timestamp is "[    1.234567] ", with the optional syslog level
// before it ("<4>", from dmesg -r and /dev/kmsg dumps) and the optional
// caller id after it ("[    T1]", CONFIG_PRINTK_CALLER). The console is
// scanned for them by hand: a regexp that may match anywhere in a line is
// ten times slower, and every console line goes through here.

// stamps returns the [start, end) of each timestamp in line, end being
// where the record's text starts.
func stamps(line string) [][2]int {
	var locs [][2]int
	for i := 0; i < len(line); {
		j := strings.IndexByte(line[i:], '[')
		if j < 0 {
			break
		}
		j += i
		n := stampLen(line[j:])
		if n == 0 {
			i = j + 1
			continue
		}
		locs = append(locs, [2]int{j - levelLen(line[:j]), j + n})
		i = j + n
	}
	return locs
}

// stampLen returns the length of the timestamp that s starts with, with
// its caller id and one space after it, or 0.
func stampLen(s string) int {
	n := bracketLen(s, false)
	if n == 0 {
		return 0
	}
	n += bracketLen(s[n:], true)
	if n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// bracketLen returns the length of "[  12.345]" (or, for a caller id,
// "[  T12]" or "[  C1]") at the start of s, or 0.
func bracketLen(s string, caller bool) int {
	i := 1
	if len(s) == 0 || s[0] != '[' {
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if caller {
		if i == len(s) || s[i] != 'T' && s[i] != 'C' {
			return 0
		}
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return 0
	}
	if !caller {
		if i == len(s) || s[i] != '.' {
			return 0
		}
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return 0
		}
	}
	if i == len(s) || s[i] != ']' {
		return 0
	}
	return i + 1
}

// levelLen returns the length of the syslog level ("<4>") that s ends
// with, or 0.
func levelLen(s string) int {
	i := len(s) - 1
	if i < 0 || s[i] != '>' {
		return 0
	}
	for i--; i >= 0 && isDigit(s[i]); i-- {
	}
	if i < 0 || s[i] != '<' || i == len(s)-2 {
		return 0
	}
	return len(s) - i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Records splits a console line into the kernel records in it. printk
// timestamps ("[    1.234567] ") mark where a kernel record starts; a
// user-space write to the console can be interleaved with printk, so a
// timestamp may appear in the middle of a line: "abc[    1.000000] BUG: ..."
// gives the records "abc" (not kernel: Kernel false) and "BUG: ..." (Kernel
// true, text after the timestamp). A line without any timestamp is one
// record with Kernel true (kernels without PRINTK_TIME), text as is.
func Records(line string) []Record {
	recs, _ := records(line)
	return recs
}

// records is Records, and whether the line has a printk timestamp.
func records(line string) (recs []Record, stamped bool) {
	line = strings.Trim(line, "\r\n")
	locs := stamps(line)
	if locs == nil {
		return []Record{{Text: line, Kernel: true}}, false
	}
	recs = make([]Record, 0, len(locs)+1)
	if pre := line[:locs[0][0]]; strings.TrimSpace(pre) != "" {
		recs = append(recs, Record{Text: pre})
	}
	for i, loc := range locs {
		end := len(line)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		recs = append(recs, Record{Text: line[loc[1]:end], Kernel: true})
	}
	return recs, true
}
