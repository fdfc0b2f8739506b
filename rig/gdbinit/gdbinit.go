// Package gdbinit writes the gdb script that attaches to a run's guest:
// the kernel's symbols, the modules' at the addresses the guest reported,
// the gdbstub's socket, the author's source paths, the kernel's own gdb
// scripts where the kernel has them, and, for a guest stopped at a kernel
// report, the registers the report printed, so that gdb's backtrace starts
// at the faulting frame. It does no I/O.
package gdbinit

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Module is a loaded module: its .ko on the host, and where the kernel put
// its sections.
type Module struct {
	KO       string
	Sections map[string]uint64
}

// PathMap maps a directory that debug info names to where the files are
// on the host (gdb's substitute-path).
type PathMap struct{ From, To string }

// Script is what the gdbinit says.
type Script struct {
	// Vmlinux is the kernel's ELF image, with its symbols.
	Vmlinux string
	// Target is the gdbstub's unix socket.
	Target  string
	Modules []Module
	Paths   []PathMap
	// KernelScripts is the kernel tree's vmlinux-gdb.py (lx-symbols,
	// lx-dmesg), when the kernel has CONFIG_GDB_SCRIPTS.
	KernelScripts string
	// Fault is the state a kernel report printed, when the guest is
	// stopped after one (-on-crash pause).
	Fault *Fault
}

// Render is the script.
func (s Script) Render() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("# Written by mmaprig. Attach with: gdb -x THIS_FILE (gdb-multiarch for another architecture).")
	// add-symbol-file asks before it loads; the answers are known.
	line("set confirm off")
	line("file %s", quote(s.Vmlinux))
	if s.KernelScripts != "" {
		dir := s.KernelScripts[:strings.LastIndex(s.KernelScripts, "/")+1]
		// These two take the rest of the line as it is, blanks and
		// quotes included (gdb 13): quoted, they would name another file.
		line("# The kernel's gdb scripts: lx-symbols, lx-dmesg, lx-ps, ...")
		line("add-auto-load-safe-path %s", dir)
		line("source %s", s.KernelScripts)
	}
	for _, p := range s.Paths {
		line("set substitute-path %s %s", quote(p.From), quote(p.To))
	}
	for _, m := range s.Modules {
		if cmd := addSymbolFile(m); cmd != "" {
			line("%s", cmd)
		}
	}
	line("set confirm on")
	// target remote, too, takes the rest of the line as it is.
	line("target remote %s", s.Target)
	if s.Fault != nil {
		b.WriteString(s.Fault.render())
	}
	return b.String()
}

// addSymbolFile loads a module's symbols where the kernel put it: .text's
// address first, as gdb 13 takes it, then every other section's, as the
// kernel's own lx-symbols does.
func addSymbolFile(m Module) string {
	text, ok := m.Sections[".text"]
	if !ok {
		return ""
	}
	parts := []string{"add-symbol-file", quote(m.KO), hex(text)}
	for _, name := range slices.Sorted(maps.Keys(m.Sections)) {
		if name != ".text" {
			parts = append(parts, "-s", name, hex(m.Sections[name]))
		}
	}
	return strings.Join(parts, " ")
}

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

// quote quotes a file name for gdb, which splits its arguments at blanks.
func quote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
