package main

import (
	"context"
	"fmt"

	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func keyCmd() command {
	return command{
		name:     "key",
		synopsis: "[-cell NAME | -kernel VERSION -config NAMES | -kernel-src PATH] [flags]",
		summary:  "print the cache key of the kernel the flags or -cell name",
		about:    "Prints the key the kernel is cached under; the GitHub Action keys its cache by it.",
		groups:   []flagGroup{commonFlags(), deadlineFlags(), sourceFlags(), configFlags(), keyCellFlags()},
		check: func(c *config) error {
			if c.set["cell"] && c.first(kernelChoice...) != "" {
				return notForCells(c.first(kernelChoice...))
			}
			return nil
		},
		run: runKey,
	}
}

// runKey prints one cell's key, or the key of the kernel the flags name.
func runKey(ctx context.Context, e env) int {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	opts, what := e.opts, "-kernel "+e.opts.Kernel.String()
	if e.cfg.set["cell"] {
		opts, what = cellOptions(e.opts, e.cfg.cells[0]), "cell "+e.cfg.cell
	}
	key, err := runner.KernelKey(ctx, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "rig: key of %s: %v\n", what, err)
		return verdict.ExitSetup
	}
	fmt.Fprintln(e.stdout, key)
	return 0
}
