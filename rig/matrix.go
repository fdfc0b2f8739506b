package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/report"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// matrixCommand runs -matrix or -cell, or prints a cell's key.
func matrixCommand(ctx context.Context, cmd string, f *flags, base runner.Options, stdout, stderr io.Writer) int {
	m, err := kernel.LoadMatrix()
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	cells := m.Cells
	if f.cell != "" {
		cells = nil
		for _, name := range strings.Split(f.cell, ",") {
			c, err := m.Cell(strings.TrimSpace(name))
			if err != nil {
				fmt.Fprintf(stderr, "rig: -cell: %v\n", err)
				return verdict.ExitSetup
			}
			cells = append(cells, c)
		}
	}
	if cmd == "key" {
		// One cell's key, or the key of the kernel the flags name.
		opts, what := base, "-kernel "+base.Kernel.String()
		switch {
		case f.cell != "" && len(cells) == 1:
			opts, what = cellOptions(base, cells[0]), "cell "+f.cell
		case f.cell != "" || f.matrix:
			fmt.Fprintln(stderr, "rig: usage: rig key [-cell NAME | -kernel VERSION -config NAMES | -kernel-src PATH]")
			return verdict.ExitSetup
		}
		key, err := runner.KernelKey(ctx, opts)
		if err != nil {
			fmt.Fprintf(stderr, "rig: key of %s: %v\n", what, err)
			return verdict.ExitSetup
		}
		fmt.Fprintln(stdout, key)
		return 0
	}
	if cmd != "run" {
		fmt.Fprintf(stderr, "rig: %s does not take -matrix or -cell\n", cmd)
		return verdict.ExitSetup
	}
	if !prepareArtifacts(base, stderr) {
		return verdict.ExitSetup
	}

	start := time.Now()
	results := runCells(ctx, f, base, cells)
	fmt.Fprintf(stdout, "\nmatrix: %d cell(s) in %v (* = cached)\n", len(cells), time.Since(start).Round(time.Second))
	report.Table(stdout, results)
	code := 0
	for _, c := range results {
		if !c.OK {
			fmt.Fprintf(stdout, "FAIL %s [%s, want %s]: %s\n  serial log: %s\n  artifacts: %s\n",
				c.Name, c.Result.Class, c.Expect, c.Result.Verdict(), c.Result.ConsoleLog, c.Result.ArtifactDir)
			code = max(code, c.Result.ExitCode)
		}
	}
	if err := f.outputs().write(results, stderr); err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	return code
}

// runCells runs the available cells, at most f.jobs at a time. Cells share
// the cache, whose locks make sure no kernel is built twice.
func runCells(ctx context.Context, f *flags, base runner.Options, cells []kernel.Cell) []result.Cell {
	results := make([]result.Cell, len(cells))
	sem := make(chan struct{}, f.jobs)
	var wg sync.WaitGroup
	for i, c := range cells {
		if c.Network && !f.network {
			results[i] = result.SkippedCell(c.Name, verdict.Class(c.Expect),
				"needs the internet to download "+c.URL+"; run with -network where kernel.org is reachable")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			opts := cellOptions(base, c)
			opts.Printer = base.Printer.WithPrefix("[" + c.Name + "] ")
			opts.Printer.Printf("%s, config %s", opts.Kernel, c.Fragments())
			start := time.Now()
			res := runner.Run(ctx, opts)
			results[i] = result.NewCell(c.Name, verdict.Class(c.Expect), res, time.Since(start))
			opts.Printer.Printf("%s", res.Class)
		}()
	}
	wg.Wait()
	for i, c := range cells {
		if results[i].Name == "" { // interrupted before it started
			results[i] = result.NewCell(c.Name, verdict.Class(c.Expect), result.Run{Class: verdict.Infra, ExitCode: verdict.Infra.ExitCode()}, 0)
		}
	}
	return results
}

// cellOptions are the run options for one cell.
func cellOptions(base runner.Options, c kernel.Cell) runner.Options {
	opts := base
	opts.Kernel = c.KernelSource()
	opts.Fragments = c.Fragments()
	if base.Coverage {
		opts.Fragments = append(opts.Fragments, "coverage")
	}
	if a, err := c.Architecture(); err == nil && a.Name != base.Arch.Name {
		opts.Arch, opts.QEMU = a, a.QEMU
	}
	opts.ArtifactDir = filepath.Join(base.ArtifactDir, c.Name)
	return opts
}
