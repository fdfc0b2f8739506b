package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/report"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func matrixCmd() command {
	return command{
		name:     "matrix",
		synopsis: "[-cell NAMES] [flags]",
		summary:  "run the cells of kernel/matrix.json, all or those -cell names",
		about:    "Runs each cell's kernel, config and architecture, -jobs at a time, prints a table, and exits with the worst cell's code.",
		groups: []flagGroup{commonFlags(), deadlineFlags(), buildFlags(), moduleDirFlags(), moduleBuildFlags(), moduleFlags(), machineFlags(),
			checkFlags(), programFlags(), jsonFlags(), reportFlags(), buildOnlyFlags(), cellFlags()},
		run: func(ctx context.Context, e env) int {
			ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
			defer cancel()
			return runMatrix(ctx, e)
		},
	}
}

// runMatrix runs the cells, prints their table, and writes the outputs.
func runMatrix(ctx context.Context, e env) int {
	if !prepareArtifacts(e.opts, e.stderr) {
		return verdict.ExitSetup
	}
	resume := guardLog(e.stdout, e.stderr)
	defer resume()
	start := time.Now()
	cells := e.cfg.cells
	results := runCells(ctx, e.cfg, e.opts, cells)
	fmt.Fprintf(e.stdout, "\nmatrix: %d cell(s) in %v (* = cached)\n", len(cells), time.Since(start).Round(time.Second))
	report.Table(e.stdout, results)
	code := 0
	for _, c := range results {
		if !c.OK {
			fmt.Fprintf(e.stdout, "FAIL %s [%s, want %s]: %s\n  serial log: %s\n  artifacts: %s\n",
				c.Name, c.Result.Class, c.Expect, c.Result.Verdict(), c.Result.ConsoleLog, c.Result.ArtifactDir)
			code = max(code, c.Result.ExitCode)
		}
	}
	resume()
	annotations(ctx, e.stdout, e.stderr, e.opts, results, true)
	if err := e.cfg.outputs().write(results, e.stderr); err != nil {
		fmt.Fprintf(e.stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	return code
}

// runCells runs the available cells, at most -jobs at a time. Cells share
// the cache, whose locks make sure no kernel is built twice.
func runCells(ctx context.Context, f *config, base runner.Options, cells []kernel.Cell) []result.Cell {
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
