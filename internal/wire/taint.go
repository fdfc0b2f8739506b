package wire

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// TaintPath is the kernel's taint mask, as a decimal number.
const TaintPath = "/proc/sys/kernel/tainted"

// taintFlags are the kernel's taint letters by bit, and what each means
// (Documentation/admin-guide/tainted-kernels.rst).
var taintFlags = [...]struct{ letter, meaning string }{
	{"P", "a proprietary module was loaded"},
	{"F", "a module was force-loaded"},
	{"S", "the kernel runs out of specification"},
	{"R", "a module was force-unloaded"},
	{"M", "a machine check"},
	{"B", "a bad page was referenced, or a page was freed badly"},
	{"U", "user space asked for the taint"},
	{"D", "the kernel died (an oops or a BUG)"},
	{"A", "an ACPI table was overridden"},
	{"W", "the kernel issued a warning"},
	{"C", "a staging driver was loaded"},
	{"I", "a firmware bug was worked around"},
	{"O", "an out-of-tree module was loaded"},
	{"E", "an unsigned module was loaded"},
	{"L", "a soft lockup"},
	{"K", "the kernel was live-patched"},
	{"X", "an auxiliary taint"},
	{"T", "the kernel was built with the struct randomisation plugin"},
	{"N", "an in-kernel test was run"},
}

// BadTaint are the taint bits that only a bug sets: a machine check (M), a
// bad page (B), a kernel that died (D), a warning (W) and a soft lockup
// (L). Loading a test module sets others (O, E, and P for a module
// without a GPL licence), which say nothing about its behaviour.
const BadTaint uint64 = 1<<4 | 1<<5 | 1<<7 | 1<<9 | 1<<14

// ReadTaint reads the kernel's taint mask.
func ReadTaint() (uint64, error) {
	b, err := os.ReadFile(TaintPath)
	if err != nil {
		return 0, err
	}
	t, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", TaintPath, err)
	}
	return t, nil
}

// TaintLetters renders a taint mask as the kernel's letters, "DW".
func TaintLetters(mask uint64) string {
	var b strings.Builder
	for ; mask != 0; mask &= mask - 1 {
		i := bits.TrailingZeros64(mask)
		if i < len(taintFlags) {
			b.WriteString(taintFlags[i].letter)
		} else {
			fmt.Fprintf(&b, "[bit %d]", i)
		}
	}
	return b.String()
}

// DescribeTaint says what each bit of a taint mask means:
// "W (the kernel issued a warning), D (the kernel died (an oops or a BUG))".
func DescribeTaint(mask uint64) string {
	var parts []string
	for ; mask != 0; mask &= mask - 1 {
		i := bits.TrailingZeros64(mask)
		if i < len(taintFlags) {
			parts = append(parts, fmt.Sprintf("%s (%s)", taintFlags[i].letter, taintFlags[i].meaning))
		} else {
			parts = append(parts, fmt.Sprintf("bit %d", i))
		}
	}
	return strings.Join(parts, ", ")
}
