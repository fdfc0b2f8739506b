package gdbinit

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/kreport"
)

// Fault is the CPU state that a kernel report printed: the registers at
// the fault, as the exception saved them.
type Fault struct {
	// CPU is the CPU that reported, from "CPU: N PID: ..."; gdb's thread
	// CPU+1.
	CPU int
	// Where is the faulting location as the report printed it.
	Where string
	// Regs are gdb's register names and gdb expressions for their values,
	// in the order the script sets them; the program counter last.
	Regs []Reg
}

// Reg is one register of a Fault.
type Reg struct{ Name, Value string }

var (
	cpuRE = regexp.MustCompile(`^CPU: (\d+) PID: `)
	// x86: "RIP: 0010:func+0x1c/0x40 [mod]", "RSP: 0018:ffffc900 EFLAGS:
	// 00010246", "RAX: 0000... RBX: ...".
	x86PCRE  = regexp.MustCompile(`^RIP: [0-9a-f]{4}:(.+)$`)
	x86SPRE  = regexp.MustCompile(`^RSP: [0-9a-f]{4}:([0-9a-f]{8,16}) EFLAGS: ([0-9a-f]+)`)
	x86RegRE = regexp.MustCompile(`\b(R[A-D]X|R[SD]I|RBP|R0[89]|R1[0-5]): ([0-9a-f]{16})\b`)
	// arm64: "pc : func+0x8/0x10 [mod]", "lr : ...", "sp : ffff8000...",
	// "x29: ffff... x28: ...".
	armPCRE  = regexp.MustCompile(`^(pc|lr) : (.+)$`)
	armSPRE  = regexp.MustCompile(`^sp : ([0-9a-f]{16})$`)
	armRegRE = regexp.MustCompile(`\bx(\d+)\s*: ([0-9a-f]{16})\b`)
	// A symbolized address: "func+0x1c/0x40 [mod]" or "func+0x1c/0x40".
	symRE = regexp.MustCompile(`^([\w.$]+)\+(0x[0-9a-f]+)/0x[0-9a-f]+(?: \[\w+\])?$`)
	hexRE = regexp.MustCompile(`^(?:0x)?([0-9a-f]{8,16})$`)
)

// ParseFault reads the registers of the first register dump in a kernel
// report's console lines, for the guest architecture goarch ("amd64" or
// "arm64"). It is false when the report printed none (a WARNING printed
// without them, a lockdep report).
func ParseFault(goarch string, lines []string) (*Fault, bool) {
	f := &Fault{CPU: -1}
	set := map[string]string{}
	var order []string
	put := func(name, value string) {
		if _, ok := set[name]; !ok {
			set[name] = value
			order = append(order, name)
		}
	}
	for _, l := range lines {
		for _, rec := range kreport.Records(l) {
			text := strings.TrimSpace(rec.Text)
			if m := cpuRE.FindStringSubmatch(text); m != nil && f.CPU < 0 {
				f.CPU, _ = strconv.Atoi(m[1])
			}
			if goarch == "arm64" {
				f.armLine(text, put)
			} else {
				f.x86Line(text, put)
			}
		}
	}
	pc := map[string]string{"arm64": "pc"}[goarch]
	if pc == "" {
		pc = "rip"
	}
	if _, ok := set[pc]; !ok {
		return nil, false
	}
	for _, name := range order {
		if name != pc {
			f.Regs = append(f.Regs, Reg{name, set[name]})
		}
	}
	f.Regs = append(f.Regs, Reg{pc, set[pc]})
	return f, true
}

func (f *Fault) x86Line(text string, put func(name, value string)) {
	if m := x86PCRE.FindStringSubmatch(text); m != nil {
		if v, ok := address(m[1]); ok {
			if f.Where == "" {
				f.Where = m[1]
			}
			put("rip", v)
		}
		return
	}
	if m := x86SPRE.FindStringSubmatch(text); m != nil {
		put("rsp", "0x"+m[1])
		put("eflags", "0x"+m[2])
		return
	}
	for _, m := range x86RegRE.FindAllStringSubmatch(text, -1) {
		put(strings.Replace(strings.ToLower(m[1]), "r0", "r", 1), "0x"+m[2])
	}
}

func (f *Fault) armLine(text string, put func(name, value string)) {
	if m := armPCRE.FindStringSubmatch(text); m != nil {
		if v, ok := address(m[2]); ok {
			name := m[1]
			if name == "lr" {
				name = "x30"
			} else if f.Where == "" {
				f.Where = m[2]
			}
			put(name, v)
		}
		return
	}
	if m := armSPRE.FindStringSubmatch(text); m != nil {
		put("sp", "0x"+m[1])
		return
	}
	for _, m := range armRegRE.FindAllStringSubmatch(text, -1) {
		put("x"+m[1], "0x"+m[2])
	}
}

// address is a gdb expression for an address the report printed: a
// symbol and offset, which gdb resolves from the kernel's and the modules'
// symbols, or a number.
func address(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if m := symRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("(unsigned long)&'%s' + %s", m[1], m[2]), true
	}
	if m := hexRE.FindStringSubmatch(s); m != nil {
		return "0x" + m[1], true
	}
	return "", false
}

// render defines mmaprig-fault, which loads the report's registers into
// the CPU that reported, and runs it.
func (f *Fault) render() string {
	var b strings.Builder
	b.WriteString(`# The guest stopped after a kernel report (-on-crash pause). Its CPU is in
# the kernel's panic, and gdb cannot unwind from there to the fault: the
# kernel's exception entry code has no DWARF call frame information. The
# report printed the registers at the fault; mmaprig-fault loads them into
# that CPU, so that bt starts at the faulting frame. This overwrites the
# CPU's real registers, which is harmless: the guest is dead (it panicked
# and cannot run on), and the rig ends it at Ctrl-C.
define mmaprig-fault
`)
	if f.CPU >= 0 {
		fmt.Fprintf(&b, "  thread %d\n", f.CPU+1)
	}
	for _, r := range f.Regs {
		fmt.Fprintf(&b, "  set $%s = %s\n", r.Name, r.Value)
	}
	fmt.Fprintf(&b, "  echo mmaprig: the registers of the report are loaded: the fault at %s\\n\n", strings.ReplaceAll(f.Where, `\`, `\\`))
	b.WriteString("end\n")
	b.WriteString("document mmaprig-fault\nLoad the registers the kernel's report printed into the CPU that reported it, so that bt starts at the fault.\nend\n")
	b.WriteString("mmaprig-fault\n")
	return b.String()
}
