package main

import (
	"context"
	"fmt"

	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/runner"
)

func kdirCmd() command {
	return command{
		name:     "kdir",
		synopsis: "[flags]",
		summary:  "build the kernel, or find it cached, and print its tree (KDIR)",
		about:    "Prints the built kernel tree out-of-tree modules build against (make -C KDIR M=...); the progress goes to stderr.",
		groups:   []flagGroup{commonFlags(), deadlineFlags(), sourceFlags(), configFlags(), buildFlags()},
		run:      runKdir,
	}
}

func runKdir(ctx context.Context, e env) int {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	// The progress goes to stderr: stdout is the directory alone.
	opts := e.opts
	opts.Printer = progress.NewPrinter(e.stderr)
	dir, res := runner.KernelDir(ctx, opts)
	if dir == "" {
		printResult(e.stderr, res, opts)
		return res.Class.ExitCode()
	}
	fmt.Fprintln(e.stdout, dir)
	return 0
}
