package main

import (
	"context"
	"fmt"

	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func srcdirCmd() command {
	return command{
		name:     "srcdir",
		synopsis: "[flags]",
		summary:  "unpack the kernel source, or find it cached, and print its directory",
		about:    "Prints the kernel source tree, for its scripts (checkpatch.pl) and headers.",
		groups:   []flagGroup{commonFlags(), deadlineFlags(), sourceFlags()},
		run:      runSrcdir,
	}
}

func runSrcdir(ctx context.Context, e env) int {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	dir, err := runner.SourceDir(ctx, e.opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "rig: unpack %s: %v\n", e.opts.Kernel, err)
		return verdict.ExitSetup
	}
	fmt.Fprintln(e.stdout, dir)
	return 0
}
