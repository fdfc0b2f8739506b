package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mmaprig/mmaprig/guest/armtrace"
	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// prepareTrace sets up the tracing of what the modules will arm, before
// the rig saves the booted guest (armtrace.Prepare); nil when the kernel
// cannot trace it (a failure other than that is said on the console).
func prepareTrace(con *os.File) *armtrace.Trace {
	tr, err := armtrace.Prepare()
	if err != nil {
		if !errors.Is(err, armtrace.ErrUnavailable) {
			logf(con, "settle: trace: %v", err)
		}
		return nil
	}
	return tr
}

// startTrace starts recording what the modules arm, before the first
// insmod, when the run may end its settle window early; it returns nil
// when it may not, and the run waits out the whole window.
func startTrace(con *os.File, cfg wire.Config, tr *armtrace.Trace) *armtrace.Trace {
	if tr == nil || !cfg.SettleEarly || !cfg.Unload || cfg.SettleMS == nil || *cfg.SettleMS <= wire.SettleEarlyMS {
		return nil
	}
	if err := tr.Start(); err != nil {
		logf(con, "settle: trace: %v", err)
		return nil
	}
	return tr
}

// earlySettle is whether the settle window may end early, and why or why
// not: the modules are all gone, and the trace shows that they never
// armed anything to run later and that no task runs their code. Without a
// trace it says nothing, and the window is whole.
func earlySettle(cfg wire.Config, tr *armtrace.Trace) (bool, string) {
	if tr == nil {
		return false, ""
	}
	rep, err := tr.Report()
	switch {
	case err != nil:
		return false, fmt.Sprintf("the whole window: the trace could not be read: %v", err)
	case !rep.Quiet():
		return false, "the whole window: " + rep.String()
	}
	if loaded := stillLoaded(cfg.Modules); len(loaded) > 0 {
		return false, "the whole window: still loaded: " + strings.Join(loaded, ", ")
	}
	return true, rep.String()
}

// stillLoaded names the modules of paths that /proc/modules still lists.
func stillLoaded(paths []string) []string {
	b, err := os.ReadFile("/proc/modules")
	if err != nil {
		return []string{"(/proc/modules: " + err.Error() + ")"}
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			listed[f[0]] = true
		}
	}
	var loaded []string
	for _, p := range paths {
		name, err := kmod.Name(p)
		if err != nil || listed[name] {
			loaded = append(loaded, p)
		}
	}
	return loaded
}
