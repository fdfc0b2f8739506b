package runner

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// slack is what the host adds to each bound the guest enforces itself.
const slack = 5 * time.Second

// newNonce is 128 random bits, fresh for each run.
func newNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// spec is the run's plan and the guest's configuration, in one.
func (r *run) spec(nonce string) verdict.Spec {
	t := r.opts.Timeouts
	prog := func(argv []string, c verdict.Check) verdict.Program {
		return verdict.Program{Program: wire.Program{Argv: argv, TimeoutMS: t.Check.Milliseconds()}, Check: c}
	}
	var progs []verdict.Program
	switch {
	case r.opts.Shell:
	case r.opts.Exec != nil:
		progs = append(progs, prog(r.opts.Exec, verdict.CheckExec))
	default:
		if r.opts.Checks != ChecksNone {
			progs = append(progs, prog(wire.ReaderArgv(r.opts.Device().Path, len(r.opts.Expect)), verdict.CheckReader))
		}
		if r.opts.Checks == ChecksContract && len(ContractSelected(r.opts.Run)) > 0 {
			progs = append(progs, prog(wire.ContractArgv(wire.ContractOptions{
				Device: r.opts.Device().String(), Module: wire.ModulePath, Expect: r.opts.Expect,
				LeakCheck: !r.kasan(), Params: r.opts.ModuleParams, Run: r.opts.Run,
			}), verdict.CheckKTAP))
		}
		for _, t := range r.tests {
			p := prog(t.argv(r.opts.Run), t.check())
			p.Name = t.suite()
			progs = append(progs, p)
		}
	}
	devices := r.opts.Devices
	if len(devices) == 0 {
		devices = []wire.Device{r.opts.Device()}
	}
	settle := time.Duration(0)
	if !r.opts.Shell && r.opts.Exec == nil {
		settle = r.opts.Settle
	}
	return verdict.Spec{
		Settle:        &settle,
		SettleEarly:   r.opts.SettleEarly,
		Channel:       r.opts.Channel,
		Nonce:         nonce,
		Devices:       devices,
		Run:           r.opts.Run,
		Modules:       wire.ModulePaths(r.kos),
		Params:        r.opts.ModuleParams,
		Expect:        r.opts.Expect,
		Programs:      progs,
		Unload:        r.opts.Exec == nil && !r.opts.Shell,
		Shell:         r.opts.Shell,
		Coverage:      r.opts.Coverage && r.opts.Exec == nil && !r.opts.Shell,
		BootTimeout:   t.Boot,
		LoadTimeout:   t.Load,
		UnloadTimeout: wire.UnloadTimeout,
		Slack:         slack,
		Debug:         r.debugNames(),
		Hold:          r.opts.GDB,
		OnCrash:       r.onCrash(),
		HostClock:     r.idleSkipped(),
	}
}

// onCrash is the guest's wire.Config.OnCrash.
func (r *run) onCrash() string {
	if r.opts.OnCrash == OnCrashPause {
		return wire.OnCrashPause
	}
	return ""
}

// ContractSelected are the contract's cases that run selects, as the
// contract selects them: all of them for an empty run. A bad regexp
// selects none; the CLI refuses it first.
func ContractSelected(run string) []string {
	if _, err := regexp.Compile(run); err != nil {
		return nil
	}
	re, err := regexp.Compile(wire.RunTopLevel(run))
	if err != nil {
		return nil
	}
	var names []string
	for _, n := range wire.ContractCases {
		if re.MatchString(n) {
			names = append(names, n)
		}
	}
	return names
}

// kasan reports whether the kernel runs KASAN, from its .config: the rig
// knows, so nothing the module prints can switch a check off.
func (r *run) kasan() bool {
	f, err := os.Open(r.kernel.Config)
	if err != nil {
		return false
	}
	defer f.Close()
	cfg, err := kernel.ParseConfig(f)
	return err == nil && cfg["CONFIG_KASAN"] == "y"
}

// guestWork is what the guest init gets for the run.
func (r *run) guestWork(spec verdict.Spec) (*wire.Work, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	w := &wire.Work{Nonce: spec.Nonce, Config: spec.Config(), Seed: seed}
	for i, path := range w.Config.Modules {
		b, err := os.ReadFile(r.kos[i])
		if err != nil {
			return nil, err
		}
		w.Files = append(w.Files, wire.File{Path: path, Data: b, Mode: 0o644})
	}
	for _, t := range r.tests {
		b, err := os.ReadFile(t.bin)
		if err != nil {
			return nil, err
		}
		w.Files = append(w.Files, wire.File{Path: t.guestPath(), Data: b, Mode: 0o755})
	}
	if n := workSize(w); n > wire.MaxWork {
		return nil, fmt.Errorf("%w: the modules and the guest tests come to about %d MiB on the results port, over its limit of %d MiB; use fewer or smaller -guest-test binaries (go build -ldflags='-s -w' strips them)",
			errWorkTooBig, n>>20, wire.MaxWork>>20)
	}
	if spec.Channel == wire.ChannelSSH {
		// Fresh keys for every run; they travel only over the results port.
		keys, err := channel.NewKeys()
		if err != nil {
			return nil, fmt.Errorf("make SSH keys: %w", err)
		}
		r.keys = keys
		w.HostKey, w.AuthorizedKey = r.keys.HostPrivate, r.keys.ClientAuthorized
	}
	return w, nil
}

// errWorkTooBig: the work would not fit in one message on the port.
var errWorkTooBig = errors.New("the guest's work is too big")

// workSize is how much the work's files carry on the port (wire.MaxWork
// bounds it).
func workSize(w *wire.Work) int {
	n := 0
	for _, f := range w.Files {
		n += len(f.Data)
	}
	return n
}

// runRecord is run.json: the run's nonce, the guest's configuration and
// the plan, without the secrets.
type runRecord struct {
	Nonce        string       `json:"nonce"`
	Module       string       `json:"module"`
	ModuleSHA256 string       `json:"module_sha256"`
	Config       wire.Config  `json:"config"`
	Spec         verdict.Spec `json:"spec"`
}

func (r *run) writeRunJSON(spec verdict.Spec) error {
	sum, err := cache.HashFile(r.ko)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(runRecord{Nonce: spec.Nonce, Module: r.ko, ModuleSHA256: sum, Config: spec.Config(), Spec: spec}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.opts.ArtifactDir, layout.RunSpec), append(b, '\n'), 0o644)
}
