package main

import (
	"context"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func shellCmd() command {
	return command{
		name:     "shell",
		synopsis: "[flags]",
		summary:  "boot, and open an interactive shell in the guest over SSH",
		about:    "Boots the machine with the module loaded and connects the terminal to a shell in the guest; exit leaves it.",
		// No -timeout: the session ends when its user says so, and the
		// stages before it keep their own deadlines.
		groups: append(machineGroups(), jsonFlags()),
		run:    runShell,
	}
}

func runShell(ctx context.Context, e env) int {
	e.opts.Channel, e.opts.Shell = wire.ChannelSSH, true
	res, ok := runOnce(ctx, e)
	if !ok {
		return verdict.ExitSetup
	}
	if res.Class == verdict.Pass {
		return 0
	}
	printResult(e.stdout, res, e.opts)
	return res.Class.ExitCode()
}
