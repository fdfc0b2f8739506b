package wire

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// modctl's verbs. modctl runs the module's steps for the SSH channel,
// where no init bounds them; the rig builds its command lines with
// Modctl.Args, and guest/modctl reads them with ParseModctl.
const (
	ModctlLoad   = "load"   // modctl load PATH TIMEOUT [PARAMS]: finit_module
	ModctlUnload = "unload" // modctl unload PATH TIMEOUT: delete_module by the module's own name
	ModctlWait   = "wait"   // modctl wait TIMEOUT DEVICE...: make or wait for the device nodes (Device's specs)
	ModctlRun    = "run"    // modctl run TIMEOUT CMD [ARGS...]: run CMD in a process group, killed at TIMEOUT
	ModctlGcov   = "gcov"   // modctl gcov DIR: print the .gcda files under DIR as JSON
	// modctl sections NAME...: print the loaded modules' sections as
	// JSON ([]ModuleSections), for a debugger.
	ModctlSections = "sections"
)

// ModctlUsage is modctl's usage line.
const ModctlUsage = "usage: modctl load PATH TIMEOUT [PARAMS] | unload PATH TIMEOUT | wait TIMEOUT DEVICE... | run TIMEOUT CMD [ARGS...] | gcov DIR | sections NAME..."

// Modctl is one modctl command.
type Modctl struct {
	Verb string
	// Path is the module (load, unload) or the gcov directory (gcov).
	Path string
	// Timeout bounds the command; gcov has none.
	Timeout time.Duration
	// Params are the module's parameters (load).
	Params string
	// Command is the program run runs, with its arguments.
	Command []string
	// Devices are the device specs wait makes or waits for.
	Devices []string
	// Names are the modules sections reads.
	Names []string
}

// ErrModctlUsage: modctl's arguments are not a command it knows.
var ErrModctlUsage = errors.New(ModctlUsage)

// Args is the command line that runs m in the guest, modctl first.
func (m Modctl) Args() []string {
	switch m.Verb {
	case ModctlLoad:
		return []string{CmdModctl, m.Verb, m.Path, m.Timeout.String(), m.Params}
	case ModctlUnload:
		return []string{CmdModctl, m.Verb, m.Path, m.Timeout.String()}
	case ModctlWait:
		return append([]string{CmdModctl, m.Verb, m.Timeout.String()}, m.Devices...)
	case ModctlRun:
		return append([]string{CmdModctl, m.Verb, m.Timeout.String()}, m.Command...)
	case ModctlGcov:
		return []string{CmdModctl, m.Verb, m.Path}
	case ModctlSections:
		return append([]string{CmdModctl, m.Verb}, m.Names...)
	}
	return []string{CmdModctl, m.Verb}
}

// ParseModctl reads modctl's arguments, without its own name.
func ParseModctl(args []string) (Modctl, error) {
	if len(args) == 0 {
		return Modctl{}, ErrModctlUsage
	}
	m := Modctl{Verb: args[0]}
	var timeout string
	switch {
	case m.Verb == ModctlGcov && len(args) == 2:
		m.Path = args[1]
		return m, nil
	case m.Verb == ModctlSections && len(args) >= 2:
		m.Names = slices.Clone(args[1:])
		return m, nil
	case m.Verb == ModctlRun && len(args) >= 3:
		timeout, m.Command = args[1], slices.Clone(args[2:])
	case m.Verb == ModctlWait && len(args) >= 3:
		timeout, m.Devices = args[1], slices.Clone(args[2:])
	case m.Verb == ModctlUnload && len(args) == 3,
		m.Verb == ModctlLoad && (len(args) == 3 || len(args) == 4):
		m.Path, timeout = args[1], args[2]
		if len(args) == 4 {
			m.Params = args[3]
		}
	default:
		return Modctl{}, fmt.Errorf("%w (got %q)", ErrModctlUsage, args)
	}
	d, err := time.ParseDuration(timeout)
	if err != nil || d < 0 {
		return Modctl{}, fmt.Errorf("%w (bad timeout %q)", ErrModctlUsage, timeout)
	}
	m.Timeout = d
	return m, nil
}

// ProgramEnv is what a guest program of the run gets on top of the
// guest's own environment: the path of the module under test, its
// parameters, its first device node and all of them (a list as
// filepath.SplitList reads it), then the program's own variables.
func (c Config) ProgramEnv(p Program) []string {
	paths := DevicePaths(c.Devices)
	first := ""
	if len(paths) > 0 {
		first = paths[0]
	}
	return append([]string{EnvDevice + "=" + first, EnvDevices + "=" + strings.Join(paths, string(os.PathListSeparator)),
		EnvModule + "=" + ModulePath, EnvParams + "=" + c.Params}, p.Env...)
}
