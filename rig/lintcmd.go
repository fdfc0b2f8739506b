package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/mmaprig/mmaprig/rig/lint"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// lintCommand runs the static checks on a module directory: checkpatch,
// sparse against the built kernel, the kernel's Coccinelle scripts, and
// the rig's own rule for slab or vmalloc memory mapped to user space. It
// exits 0 when clean, 1 on findings, 2 when it cannot check.
func lintCommand(ctx context.Context, f *flags, opts runner.Options, stdout, stderr io.Writer) int {
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
	lo := lint.Options{ModuleDir: dir, KernelSrc: src, Tools: tools,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if len(tools) == 0 || slices.Contains(tools, lint.Sparse) {
		// sparse runs through kbuild, against the built kernel.
		opts.Printer = runner.NewPrinter(stderr)
		kdir, res := runner.KernelDir(ctx, opts)
		if kdir == "" {
			printResult(stderr, res, opts)
			return res.Class.ExitCode()
		}
		lo.KernelBuild = kdir
	}
	findings, err := lint.Run(ctx, lo)
	if err != nil {
		var in *lint.InputError
		var missing *lint.MissingToolError
		switch {
		case errors.As(err, &in), errors.As(err, &missing):
			fmt.Fprintf(stderr, "rig: lint: %v\n", err)
		default:
			fmt.Fprintf(stderr, "rig: lint: a checker failed: %v\n", err)
		}
		return verdict.ExitSetup
	}
	for _, fd := range findings {
		fmt.Fprintln(stdout, fd)
	}
	if f.jsonOut != "" {
		b, err := json.MarshalIndent(findings, "", "  ")
		if err == nil {
			err = os.WriteFile(f.jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rig: lint: write %s: %v\n", f.jsonOut, err)
			return verdict.ExitSetup
		}
	}
	if len(findings) > 0 {
		fmt.Fprintf(stdout, "lint: %d finding(s) in %s\n", len(findings), dir)
		return 1
	}
	fmt.Fprintf(stdout, "lint: %s is clean (%s)\n", dir, strings.Join(selected(tools), ", "))
	return 0
}

func selected(tools []string) []string {
	if len(tools) == 0 {
		return lint.AllTools()
	}
	return tools
}
