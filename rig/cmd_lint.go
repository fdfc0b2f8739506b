package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/mmaprig/mmaprig/rig/lint"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func lintCmd() command {
	return command{
		name:     "lint",
		synopsis: "[flags]",
		summary:  "check the module statically: checkpatch, sparse, Coccinelle",
		about:    "Runs checkpatch, sparse against the built kernel, the kernel's Coccinelle scripts, and the rig's own rule for slab or vmalloc memory mapped to user space. Exits 0 when clean, 1 on findings, 3 when a tool failed and nothing else was found.",
		groups: []flagGroup{commonFlags(), deadlineFlags(), sourceFlags(), configFlags(), buildFlags(),
			moduleDirFlags(), jsonFlags(), lintFlags()},
		run: func(ctx context.Context, e env) int {
			ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
			defer cancel()
			return lintCommand(ctx, e.cfg, e.opts, e.stdout, e.stderr)
		},
	}
}

// lintCommand runs the static checks on a module directory: checkpatch,
// sparse against the built kernel, the kernel's Coccinelle scripts, and
// the rig's own rule for slab or vmalloc memory mapped to user space. Each
// tool's findings survive another's failure. It exits 0 when clean, 1 on
// errors or warnings, 3 when a tool failed and nothing else was found (not
// known to be clean), and 2 on bad input.
func lintCommand(ctx context.Context, f *config, opts runner.Options, stdout, stderr io.Writer) int {
	var tools []string
	if f.tools != "" {
		for _, t := range strings.Split(f.tools, ",") {
			tools = append(tools, strings.TrimSpace(t))
		}
	}
	src, err := runner.SourceDir(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "rig: lint: the kernel source for checkpatch.pl and Coccinelle: %v\n", err)
		return verdict.ExitSetup
	}
	// Findings name the files as the user named the directory.
	dir := f.module
	if dir == "" {
		dir = opts.ModuleDir
	}
	lo := lint.Options{ModuleDir: dir, KernelSrc: src, Tools: tools, Strict: f.strict, InTree: f.tree, Log: opts.Log}
	var noKernel *lint.ToolError
	if len(tools) == 0 || slices.Contains(tools, lint.Sparse) {
		// sparse runs through kbuild, against the built kernel; without
		// one, the other tools still run.
		opts.Printer = progress.NewPrinter(stderr)
		kdir, res := runner.KernelDir(ctx, opts)
		if kdir == "" {
			printResult(stderr, res, opts)
			noKernel = &lint.ToolError{Tool: lint.Sparse, Headline: "no built kernel to build the module against: " + res.Title}
			lo.Tools = slices.DeleteFunc(slices.Clone(selected(tools)), func(t string) bool { return t == lint.Sparse })
		}
		lo.KernelBuild = kdir
	}
	if len(lo.Tools) == 0 && noKernel != nil {
		fmt.Fprintf(stderr, "rig: lint: %v\n", noKernel)
		return lint.ExitNoVerdict
	}
	result, err := lint.Run(ctx, lo)
	if err != nil {
		fmt.Fprintf(stderr, "rig: lint: %v\n", err)
		return verdict.ExitSetup
	}
	if noKernel != nil {
		result.Tools = selected(tools)
		result.ToolErrors = append([]lint.ToolError{*noKernel}, result.ToolErrors...)
	}
	result.Write(stdout, f.style, f.verbose)
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(result, "", "  ")
		if err == nil {
			err = os.WriteFile(f.jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rig: lint: write %s: %v\n", f.jsonOut, err)
			return verdict.ExitSetup
		}
	}
	return result.ExitCode()
}

func selected(tools []string) []string {
	if len(tools) == 0 {
		return lint.AllTools()
	}
	return tools
}
