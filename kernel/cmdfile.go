package kernel

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cmdFile is one of the .cmd files kbuild writes beside each target it
// makes (".mymap.o.cmd" for mymap.o): the command that made the target,
// as make saw it, and for a compiled object its source and the files the
// compiler read (from the compiler's dependency file, through fixdep).
type cmdFile struct {
	// path is the .cmd file; target what it made, absolute.
	path, target string
	// prefix is how this kernel names the command: "cmd_" (up to 6.1)
	// or "savedcmd_" (from 6.2); fixdep writes the one it knows.
	prefix string
	// saved is the command as the file has it, escaped for make.
	saved string
	// source is the compiled file, deps the files the compiler read: as
	// written, relative to the kernel tree or absolute; optional ones
	// ($(wildcard ...), kconfig's include/config files) apart.
	source   string
	deps     []string
	optional []string
}

// readCmdFile parses a .cmd file written by kbuild (and fixdep).
func readCmdFile(path string) (*cmdFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &cmdFile{path: path}
	inDeps := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inDeps:
			inDeps = c.depLine(line)
		case c.saved == "" && (strings.HasPrefix(line, "cmd_") || strings.HasPrefix(line, "savedcmd_")):
			name, val, ok := strings.Cut(line, " := ")
			if !ok {
				return nil, fmt.Errorf("%s: cannot read %q", path, line)
			}
			c.prefix, _, _ = strings.Cut(line, "_")
			c.prefix += "_"
			c.target, c.saved = strings.TrimPrefix(name, c.prefix), val
		case strings.HasPrefix(line, "source_"):
			_, c.source, _ = strings.Cut(line, " := ")
		case strings.HasPrefix(line, "deps_") && strings.HasSuffix(line, "\\"):
			inDeps = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if c.saved == "" {
		return nil, fmt.Errorf("%s: no saved command", path)
	}
	return c, nil
}

// depLine takes one line of a deps_ list; it reports whether more come.
func (c *cmdFile) depLine(line string) bool {
	more := strings.HasSuffix(line, "\\")
	item := strings.TrimSpace(strings.TrimSuffix(line, "\\"))
	switch {
	case item == "":
	case strings.HasPrefix(item, "$(wildcard ") && strings.HasSuffix(item, ")"):
		c.optional = append(c.optional, strings.TrimSuffix(strings.TrimPrefix(item, "$(wildcard "), ")"))
	default:
		c.deps = append(c.deps, item)
	}
	return more
}

// command is the saved command as the shell is to run it: make's
// escapes undone ($$ is $, $(pound) is #). Anything else of make's in it
// is an error: the replay cannot expand it.
func (c *cmdFile) command() (string, error) {
	var b strings.Builder
	s := c.saved
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "$(pound)"):
			b.WriteByte('#')
			i += len("$(pound)") - 1
		default:
			return "", fmt.Errorf("%s: the command has a make expansion at %q", c.path, s[i:min(len(s), i+20)])
		}
	}
	return b.String(), nil
}

// depFile is the compiler's dependency file the command writes
// (-Wp,-MMD,FILE), which fixdep turns into the .cmd file; "" if none.
func (c *cmdFile) depFile() string {
	for _, f := range strings.Fields(c.saved) {
		if d, ok := strings.CutPrefix(f, "-Wp,-MMD,"); ok {
			return d
		}
	}
	return ""
}

// readCmdFiles reads every .cmd file under dir, by target.
func readCmdFiles(dir string) (map[string]*cmdFile, error) {
	cmds := map[string]*cmdFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(d.Name(), ".cmd") {
			return err
		}
		c, err := readCmdFile(p)
		if err != nil {
			return err
		}
		cmds[c.target] = c
		return nil
	})
	return cmds, err
}
