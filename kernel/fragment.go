package kernel

import (
	"bufio"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed configs/*.config
var configs embed.FS

// Fragment is a named Kconfig fragment: symbols and the values they must
// have in the final .config.
type Fragment struct {
	Name    string
	Text    string
	Symbols []Symbol
	// Cmdline holds kernel arguments the fragment needs at boot, from
	// "# mmaprig-cmdline: ..." lines.
	Cmdline []string
	// MemMB is the guest memory the kernel needs, from "# mmaprig-mem: N".
	MemMB int
}

// Symbol is one CONFIG_ assignment. Value is what .config holds after the
// '=', or "n" for "# CONFIG_FOO is not set".
type Symbol struct {
	Name  string
	Value string
	Line  int
}

var (
	setRE   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRE = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// ParseFragment reads a fragment. Blank lines and comments are skipped;
// any other line that is not a CONFIG_ assignment is an error.
func ParseFragment(name string, r io.Reader) (Fragment, error) {
	f := Fragment{Name: name}
	var text strings.Builder
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		text.WriteString(line + "\n")
		var sym Symbol
		if m := setRE.FindStringSubmatch(line); m != nil {
			sym = Symbol{Name: m[1], Value: m[2], Line: n}
		} else if m := unsetRE.FindStringSubmatch(line); m != nil {
			sym = Symbol{Name: m[1], Value: "n", Line: n}
		} else if v, ok := strings.CutPrefix(line, "# mmaprig-cmdline:"); ok {
			f.Cmdline = append(f.Cmdline, strings.Fields(v)...)
			continue
		} else if v, ok := strings.CutPrefix(line, "# mmaprig-mem:"); ok {
			mb, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || mb < 64 {
				return Fragment{}, fmt.Errorf("fragment %s:%d: mmaprig-mem wants MiB, at least 64: %q", name, n, v)
			}
			f.MemMB = mb
			continue
		} else if line == "" || strings.HasPrefix(line, "#") {
			continue
		} else {
			return Fragment{}, fmt.Errorf("fragment %s:%d: %q is not a CONFIG_ assignment", name, n, line)
		}
		if prev, ok := seen[sym.Name]; ok {
			return Fragment{}, fmt.Errorf("fragment %s:%d: %s is already set on line %d", name, n, sym.Name, prev)
		}
		seen[sym.Name] = n
		f.Symbols = append(f.Symbols, sym)
	}
	if err := sc.Err(); err != nil {
		return Fragment{}, fmt.Errorf("read fragment %s: %w", name, err)
	}
	f.Text = text.String()
	return f, nil
}

// FragmentNames lists the fragments built into the rig.
func FragmentNames() []string {
	names, _ := fs.Glob(configs, "configs/*.config")
	for i, n := range names {
		names[i] = strings.TrimSuffix(path.Base(n), ".config")
	}
	sort.Strings(names)
	return names
}

// LoadFragments returns fragments in order: a built-in one by name, or a
// file of the user's by its path (anything with a '/' or a .config suffix).
func LoadFragments(names ...string) ([]Fragment, error) {
	var out []Fragment
	for _, n := range names {
		var b []byte
		var err error
		if strings.ContainsRune(n, '/') || strings.HasSuffix(n, ".config") {
			if b, err = os.ReadFile(n); err != nil {
				return nil, fmt.Errorf("config fragment: %w", err)
			}
		} else if b, err = configs.ReadFile("configs/" + n + ".config"); err != nil {
			return nil, fmt.Errorf("unknown config fragment %q (have: %s, or give a file's path)", n, strings.Join(FragmentNames(), ", "))
		}
		f, err := ParseFragment(n, strings.NewReader(string(b)))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Mismatch is a requested symbol that the final .config does not carry.
type Mismatch struct {
	Fragment string
	Symbol
	// Got is the final value, or "n" when the symbol is absent.
	Got string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s=%s (from %s:%d; the final .config has %s)", m.Name, m.Value, m.Fragment, m.Line, describe(m.Got))
}

func describe(v string) string {
	if v == "n" {
		return "it unset"
	}
	return "=" + v
}

// MissingSymbolsError is returned when olddefconfig dropped or changed
// requested symbols: they are unknown to this kernel, or their
// dependencies are not met.
type MissingSymbolsError struct {
	Mismatches []Mismatch
}

func (e *MissingSymbolsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requested config symbol(s) did not survive olddefconfig "+
		"(unknown to this kernel, or a dependency is missing):", len(e.Mismatches))
	for _, m := range e.Mismatches {
		b.WriteString("\n  " + m.String())
	}
	return b.String()
}

// ParseConfig reads a .config into symbol -> value. Unset symbols are
// absent from the map.
func ParseConfig(r io.Reader) (map[string]string, error) {
	vals := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := setRE.FindStringSubmatch(sc.Text()); m != nil {
			vals[m[1]] = m[2]
		}
	}
	return vals, sc.Err()
}

// Verify checks that every symbol the fragments request has its value in
// the final .config. A later fragment overrides an earlier one.
func Verify(final map[string]string, frags []Fragment) error {
	type want struct {
		frag string
		sym  Symbol
	}
	wants := map[string]want{}
	var order []string
	for _, f := range frags {
		for _, s := range f.Symbols {
			if _, ok := wants[s.Name]; !ok {
				order = append(order, s.Name)
			}
			wants[s.Name] = want{f.Name, s}
		}
	}
	var bad []Mismatch
	for _, name := range order {
		w := wants[name]
		got, ok := final[name]
		if !ok {
			got = "n"
		}
		if got != w.sym.Value {
			bad = append(bad, Mismatch{Fragment: w.frag, Symbol: w.sym, Got: got})
		}
	}
	if bad != nil {
		return &MissingSymbolsError{Mismatches: bad}
	}
	return nil
}
