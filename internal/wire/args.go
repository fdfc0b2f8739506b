package wire

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// DefaultExpect is what the seed's driver puts at the start of its page.
var DefaultExpect = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// MinPageSize is the smallest page a guest of the rig's can have: x86_64's,
// and arm64's with 4K pages. The rig checks -expect against it before it
// knows the guest's kernel; the guest's programs use the page size their
// kernel has (os.Getpagesize), which is 16K or 64K on some arm64 kernels.
const MinPageSize = 4096

// ParseBytes reads a comma-separated list of decimal bytes, "0,1,2".
func ParseBytes(s string) ([]byte, error) {
	var out []byte
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("%q is not a byte (0-255)", p)
		}
		out = append(out, byte(n))
	}
	return out, nil
}

// ParseExpect reads -expect's forms: a comma-separated list of decimal
// bytes ("0,1,2"), hex after 0x ("0x000102", two digits a byte, no
// separators), or text in quotes: 'text' as it is, or "text" as a Go
// string literal, with its escapes ("a\x00b\n").
func ParseExpect(s string) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		if b, err = hex.DecodeString(s[2:]); err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%q: after 0x want hex digits, two a byte, with no separators (0x00010203)", s)
		}
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		b = []byte(s[1 : len(s)-1])
	case strings.HasPrefix(s, `"`):
		t, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("%q: not a Go string literal: %v", s, err)
		}
		b = []byte(t)
	default:
		if b, err = ParseBytes(s); err != nil {
			return nil, fmt.Errorf("%q: %w (or give hex, 0x0001, or text in quotes, 'text')", s, err)
		}
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%q: no bytes", s)
	}
	return b, nil
}

// FormatBytes is the inverse of ParseBytes.
func FormatBytes(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}

// ReaderLines is what the reader prints for a page that starts with b:
// each byte in decimal, one per line, as the seed's program does.
func ReaderLines(b []byte) []string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = strconv.Itoa(int(x))
	}
	return s
}

// ReaderArgv is the reader's command line: map dev and print n bytes.
func ReaderArgv(dev string, n int) []string {
	return []string{CmdReader, "-dev", dev, "-n", strconv.Itoa(n)}
}

// ContractCases are the contract's cases, in the order it runs them; the
// rig selects among them with -run before the guest boots.
var ContractCases = []string{
	"reader_output", "refuses_bad_maps", "shared_coherence", "user_kernel_agree",
	"concurrent_mappers", "unload_reload", "kernel_clean",
}

// RunTopLevel is the part of a -run regexp that selects top-level names,
// as go test -run splits it: up to the first '/' outside brackets and
// parentheses. The rest selects subtests, which the contract has none of.
func RunTopLevel(re string) string {
	class, depth := false, 0
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '/' && depth == 0:
			return re[:i]
		}
	}
	return re
}

// ContractOptions are the contract program's inputs.
type ContractOptions struct {
	// Device is the device the contract checks, as Device.String
	// renders it: a char node it makes again after its reloads.
	Device string
	// Run, when set, selects the cases whose names it matches.
	Run    string
	Module string
	Expect []byte
	// LeakCheck judges free pages across load/unload cycles. The rig turns
	// it off on kernels whose allocator holds freed memory back on purpose
	// (KASAN's quarantine), as it knows from the kernel's .config.
	LeakCheck bool
	// Params are the module's parameters, for its reloads.
	Params string
}

// ContractArgv is the contract program's command line.
func ContractArgv(o ContractOptions) []string {
	argv := []string{CmdContract, "-dev", o.Device, "-module", o.Module,
		"-expect", FormatBytes(o.Expect), "-leak-check=" + strconv.FormatBool(o.LeakCheck)}
	if o.Params != "" {
		argv = append(argv, "-params", o.Params)
	}
	if o.Run != "" {
		argv = append(argv, "-run", o.Run)
	}
	return argv
}

// Quote renders argv as one POSIX shell command line, quoting where needed,
// so that it can be pasted into a shell or sent as an SSH exec request.
func Quote(argv ...string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = quote(a)
	}
	return strings.Join(parts, " ")
}

func quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Lines splits a program's output into lines, without the final newline.
func Lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
