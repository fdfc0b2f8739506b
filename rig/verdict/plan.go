package verdict

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// Source is who reports a step.
type Source string

const (
	// Guest steps arrive on the results port, from the guest init, with the
	// run's nonce and a sequence number.
	Guest Source = "guest"
	// Host steps come from the rig's SSH driver, which ran them.
	Host Source = "host"
)

// Check is how a program's result is judged.
type Check string

const (
	// CheckReader: the reader must print exactly the expected bytes.
	CheckReader Check = "reader"
	// CheckKTAP: the program prints KTAP; every case must pass or skip.
	CheckKTAP Check = "ktap"
	// CheckExec: any ending is fine; the result is the run's output
	// (rig exec).
	CheckExec Check = "exec"
	// CheckGoTest: a Go test binary run with -test.v; one case per test,
	// and every test must pass or skip.
	CheckGoTest Check = "go-test"
	// CheckProgram: the author's program must exit 0; if it prints KTAP,
	// each of its cases counts, as CheckKTAP's do.
	CheckProgram Check = "program"
)

// Program is one guest program and how its result is judged.
type Program struct {
	wire.Program
	Check Check `json:"check"`
	// Name names the program's cases (their suite); argv[0]'s base name
	// when empty.
	Name string `json:"name,omitempty"`
}

// Suite is the name the program's cases go under.
func (p Program) Suite() string {
	if p.Name != "" {
		return p.Name
	}
	return filepath.Base(p.Argv[0])
}

// Spec is one run: the guest's configuration and the rig's expectations
// come from it, so the two can never disagree.
type Spec struct {
	Channel string `json:"channel"`
	Nonce   string `json:"nonce"`
	// Devices are the run's device nodes; the built-in checks use the
	// first.
	Devices []wire.Device `json:"devices"`
	// Modules are the guest paths of the modules, in load order; the
	// last is the module under test (see wire.ModulePaths). Recordings
	// from before several modules have none: the one at wire.ModulePath.
	Modules []string `json:"modules,omitempty"`
	Params  string   `json:"params,omitempty"`
	// Run is -run's regexp, which selected the contract's cases and the
	// Go guest tests; empty when every case runs.
	Run string `json:"run,omitempty"`
	// Expect are the bytes CheckReader wants.
	Expect   []byte    `json:"expect"`
	Programs []Program `json:"programs"`
	// Unload removes the module after the programs.
	Unload bool `json:"unload"`
	// Shell runs an interactive shell instead of programs (rig shell).
	Shell bool `json:"shell,omitempty"`
	// Coverage collects the module's gcov data after the unload.
	Coverage bool `json:"coverage,omitempty"`
	// Settle is the window after the last step during which the guest
	// keeps watching the kernel, before it reports the settle step and
	// its taint mask. Nil in recordings from before the settled end:
	// their plans have no settle step.
	Settle *time.Duration `json:"settle,omitempty"`
	// SettleEarly lets the guest end the settle window early when its
	// trace shows nothing of the modules left to run (wire.Config).
	SettleEarly bool `json:"settle_early,omitempty"`
	// BootTimeout bounds the time from QEMU's start to the boot event;
	// LoadTimeout and UnloadTimeout bound insmod and rmmod in the guest.
	BootTimeout   time.Duration `json:"boot_timeout"`
	LoadTimeout   time.Duration `json:"load_timeout"`
	UnloadTimeout time.Duration `json:"unload_timeout"`
	// Slack is what the host adds to each bound the guest enforces itself:
	// the guest reports its own deadline first, and the host's fires only
	// when the guest stopped answering altogether.
	Slack time.Duration `json:"slack"`
	// Debug names the modules whose sections the guest reports after
	// insmod, for a debugger (-gdb, -on-crash pause). While the machine
	// is stopped (the rig holds it for the debugger to attach, or at a
	// breakpoint) the steps' deadlines stand still: only the rig's
	// -timeout bounds the run.
	Debug []string `json:"debug,omitempty"`
	// Hold has the guest wait for the rig's go after it reported the
	// sections (-gdb).
	Hold bool `json:"hold,omitempty"`
	// OnCrash is wire.Config.OnCrash (-on-crash).
	OnCrash string `json:"on_crash,omitempty"`
	// HostClock is wire.Config.HostClock: the guest skips its idle time,
	// and the rig sends it the host's clock.
	HostClock bool `json:"host_clock,omitempty"`
}

// Config is the guest init's configuration for the spec.
func (s Spec) Config() wire.Config {
	progs := make([]wire.Program, len(s.Programs))
	for i, p := range s.Programs {
		progs[i] = p.Program
	}
	var settle *int64
	if s.Settle != nil {
		n := s.Settle.Milliseconds()
		settle = &n
	}
	return wire.Config{
		SettleMS:        settle,
		SettleEarly:     s.SettleEarly,
		Channel:         s.Channel,
		Devices:         s.Devices,
		Modules:         s.modules(),
		Params:          s.Params,
		LoadTimeoutMS:   s.LoadTimeout.Milliseconds(),
		DeviceTimeoutMS: wire.DeviceTimeout.Milliseconds(),
		Programs:        progs,
		Unload:          s.Unload,
		UnloadTimeoutMS: s.UnloadTimeout.Milliseconds(),
		Coverage:        s.Coverage,
		Debug:           s.Debug,
		Hold:            s.Hold,
		OnCrash:         s.OnCrash,
		HostClock:       s.HostClock,
	}
}

// modules are the guest paths of the modules, in load order.
func (s Spec) modules() []string {
	if len(s.Modules) == 0 {
		return []string{wire.ModulePath}
	}
	return s.Modules
}

// Step is one step of a plan.
type Step struct {
	// Event is the wire event that completes the step.
	Event  string
	Source Source
	// Program is the step's program, for wire.EvRun.
	Program *Program
	// Timeout is the host's deadline for the step, from the end of the
	// step before it (for the first, from QEMU's start).
	Timeout time.Duration
}

func (s Step) String() string {
	if s.Program != nil {
		return fmt.Sprintf("run %s", s.Program.Cmd())
	}
	return s.Event
}

// Short names the step without its program's arguments.
func (s Step) Short() string {
	if s.Program != nil {
		return "run " + s.Program.Suite()
	}
	return s.Event
}

// endStep bounds the last steps, which do little.
const endStep = 5 * time.Second

// Plan lists the steps a run must report, in order.
func (s Spec) Plan() []Step {
	src := Guest
	steps := []Step{{Event: wire.EvBoot, Source: Guest, Timeout: s.BootTimeout}}
	if s.Channel == wire.ChannelSSH {
		src = Host
		steps = append(steps, Step{Event: wire.EvReady, Source: Guest, Timeout: wire.SSHDStartTimeout + s.Slack})
	}
	// The guest bounds each module's load and unload.
	n := time.Duration(len(s.modules()))
	load := n*s.LoadTimeout + s.Slack
	if src == Host {
		load += wire.SSHDialTimeout
	}
	steps = append(steps,
		Step{Event: wire.EvInsmod, Source: src, Timeout: load},
		Step{Event: wire.EvDevice, Source: src, Timeout: wire.DeviceTimeout + s.Slack})
	if s.Shell {
		steps = append(steps, Step{Event: wire.EvShell, Source: Host, Timeout: 24 * time.Hour})
	}
	for i := range s.Programs {
		p := &s.Programs[i]
		steps = append(steps, Step{Event: wire.EvRun, Source: src, Program: p,
			Timeout: time.Duration(p.TimeoutMS)*time.Millisecond + s.Slack})
	}
	if s.Unload {
		steps = append(steps, Step{Event: wire.EvUnload, Source: src, Timeout: n*s.UnloadTimeout + s.Slack})
	}
	if s.Coverage {
		steps = append(steps, Step{Event: wire.EvCoverage, Source: src, Timeout: endStep + s.Slack})
	}
	if s.Settle != nil {
		// The guest settles and ends the run itself on either channel:
		// only it can watch the kernel after the last step.
		src = Guest
		steps = append(steps, Step{Event: wire.EvSettle, Source: Guest, Timeout: *s.Settle + endStep + s.Slack})
	}
	return append(steps, Step{Event: wire.EvEnd, Source: src, Timeout: endStep + s.Slack})
}
