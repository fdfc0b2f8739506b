package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// command is one of the rig's commands: its name, what it does, the flag
// groups it takes, and what runs it.
type command struct {
	name string
	// synopsis is what follows "rig NAME" in its usage line.
	synopsis string
	summary  string
	// about says more, for its -h and docs/usage.md.
	about  string
	groups []flagGroup
	// check rejects flags of different groups that conflict; nil when none
	// do.
	check func(c *config) error
	// argv is set for a command that runs a guest command given after
	// "--".
	argv bool
	run  func(ctx context.Context, e env) int
}

// env is what a command runs with: its config, the run options resolved
// from it, and where to write.
type env struct {
	cfg            *config
	opts           runner.Options
	stdout, stderr io.Writer
}

// commands are the rig's commands, in the order help lists them; run is
// the default.
func commands() []command {
	cmds := []command{runCmd(), matrixCmd(), execCmd(), shellCmd(), watchCmd(), lintCmd(), keyCmd(), kdirCmd(), srcdirCmd()}
	// Help and docs show every command's groups in one order.
	var order []string
	for _, g := range allGroups() {
		order = append(order, g.name)
	}
	for _, c := range cmds {
		slices.SortStableFunc(c.groups, func(a, b flagGroup) int {
			return slices.Index(order, a.name) - slices.Index(order, b.name)
		})
	}
	return cmds
}

func lookup(name string) (command, bool) {
	i := slices.IndexFunc(commands(), func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return commands()[i], true
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// flagSet is the command's flags, bound to c.
func (cmd command) flagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("rig "+cmd.name, flag.ContinueOnError)
	// The rig prints its own errors and help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, g := range cmd.groups {
		g.define(fs, c)
	}
	return fs
}

// parseArgs turns a command line into its command and checked config. It
// does no I/O. For -h it returns the command and flag.ErrHelp.
func parseArgs(args []string) (command, *config, error) {
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cmd, ok := lookup(name)
	if !ok {
		return cmd, nil, usagef("unknown command %q; the commands are %s (run is the default); see rig help",
			name, strings.Join(commandNames(), ", "))
	}
	c := newConfig()
	c.cmd = &cmd
	var argv []string
	if cmd.argv {
		if i := slices.Index(args, "--"); i >= 0 {
			args, argv = args[:i], args[i+1:]
		}
	}
	fs := cmd.flagSet(c)
	if err := fs.Parse(args); err != nil {
		return cmd, nil, cmd.flagError(err)
	}
	if fs.NArg() > 0 {
		return cmd, nil, usagef("unexpected argument %q; usage: rig %s %s", fs.Arg(0), cmd.name, cmd.synopsis)
	}
	if cmd.argv && len(argv) == 0 {
		return cmd, nil, usagef("rig %s needs a command; usage: rig %s %s", cmd.name, cmd.name, cmd.synopsis)
	}
	c.argv = argv
	fs.Visit(func(fl *flag.Flag) { c.set[fl.Name] = true })
	for _, g := range cmd.groups {
		if g.check == nil {
			continue
		}
		if err := g.check(c); err != nil {
			return cmd, nil, err
		}
	}
	if cmd.check != nil {
		if err := cmd.check(c); err != nil {
			return cmd, nil, err
		}
	}
	return cmd, c, nil
}

// flagError is the flag package's error, saying for a flag the command
// lacks which commands have it.
func (cmd command) flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	const undefined = "flag provided but not defined: -"
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, undefined); ok {
		var have []string
		for _, o := range commands() {
			if o.flagSet(newConfig()).Lookup(name) != nil {
				have = append(have, o.name)
			}
		}
		if len(have) == 0 {
			return usagef("rig %s has no flag -%s; see rig %s -h", cmd.name, name, cmd.name)
		}
		verb := "takes"
		if len(have) > 1 {
			verb = "take"
		}
		return usagef("rig %s has no flag -%s (%s %s it); see rig %s -h", cmd.name, name, joinAnd("rig ", have), verb, cmd.name)
	}
	return usagef("%s; see rig %s -h", msg, cmd.name)
}

// help prints the commands, or with a command's name, its usage; with
// -markdown, docs/usage.md.
func help(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		printCommands(stdout)
	case len(args) == 1 && args[0] == "-markdown":
		writeMarkdown(stdout)
	case len(args) == 1:
		cmd, ok := lookup(args[0])
		if !ok {
			fmt.Fprintf(stderr, "rig: help: unknown command %q; the commands are %s\n", args[0], strings.Join(commandNames(), ", "))
			return verdict.ExitSetup
		}
		cmd.printUsage(stdout)
	default:
		fmt.Fprintln(stderr, "rig: usage: rig help [COMMAND | -markdown]")
		return verdict.ExitSetup
	}
	return 0
}

func printCommands(w io.Writer) {
	fmt.Fprint(w, "usage: rig [COMMAND] [flags]\n\n"+
		"The rig proves an mmap driver works: it builds a kernel and the module, boots\n"+
		"them in QEMU, runs the checks in the guest, and reports a classified verdict.\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nWithout a command, or when the first argument is a flag, the command is run.\n"+
		"rig COMMAND -h (or rig help COMMAND) lists the command's flags.\n\n"+exitCodes+"\n")
}

const exitCodes = "Exit codes: 0 pass, 1 the module failed, 2 bad usage or setup, 3 no verdict\n" +
	"(the kernel did not build, the guest did not boot, the channel broke, QEMU died)."

// printUsage prints the command's usage line, its summary, and its flags
// by group.
func (cmd command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: rig %s %s\n\n%s\n", cmd.name, cmd.synopsis, wrap(cmd.about, 78))
	for _, g := range cmd.groups {
		fs := flag.NewFlagSet(g.name, flag.ContinueOnError)
		g.define(fs, newConfig())
		fmt.Fprintf(w, "\n%s:\n", g.name)
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// joinAnd joins "a", "b" and "c" as "PREFIXa, PREFIXb and PREFIXc".
func joinAnd(prefix string, items []string) string {
	for i := range items {
		items[i] = prefix + items[i]
	}
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// wrap breaks text into lines of at most width columns.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		if n > 0 && n+1+len(word) > width {
			b.WriteString("\n")
			n = 0
		} else if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
