package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// machineGroups are the flags of a command that boots one machine with
// the module.
func machineGroups() []flagGroup {
	return []flagGroup{commonFlags(), sourceFlags(), configFlags(), buildFlags(),
		moduleDirFlags(), moduleBuildFlags(), moduleFlags(), machineFlags()}
}

func runCmd() command {
	return command{
		name:     "run",
		synopsis: "[flags]",
		summary:  "build the kernel and the module, boot them, judge the checks",
		about: "Builds (or finds cached) the kernel, the module and the initramfs, boots them in QEMU, runs the built-in checks and the author's guest tests, and prints a classified verdict. " +
			"It is the default command: rig -module x is rig run -module x. With -matrix or -cell it runs matrix cells, as rig matrix does.",
		groups: append(machineGroups(), deadlineFlags(), checkFlags(), programFlags(), jsonFlags(), reportFlags(),
			buildOnlyFlags(), cellFlags(), legacyMatrixFlags()),
		check: checkRun,
		run:   runRun,
	}
}

// kernelChoice are the flags that pick one kernel. With -matrix or -cell,
// rig run is rig matrix, whose cells name their own.
var kernelChoice = []string{"config", "kernel", "kernel-src", "kernel-sha256", "arch"}

func checkRun(c *config) error {
	switch cells := c.all || c.set["cell"]; {
	case c.all && c.set["cell"]:
		return usageError{"-matrix runs every cell; -cell runs the ones named: give one of them"}
	case cells && c.first(kernelChoice...) != "":
		return notForCells(c.first(kernelChoice...))
	case !cells && c.first("network", "jobs") != "":
		return usagef("-%s applies only to rig matrix (or to rig run with -matrix or -cell)", c.first("network", "jobs"))
	}
	return nil
}

func notForCells(flag string) error {
	return usagef("-%s does not apply to matrix cells, which name their own kernel, config and arch in kernel/matrix.json", flag)
}

// runRun runs the module once, or with -matrix or -cell, the matrix.
func runRun(ctx context.Context, e env) int {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
	defer cancel()
	if e.cfg.all || e.cfg.set["cell"] {
		return runMatrix(ctx, e)
	}
	resume := guardLog(e.stdout, e.stderr)
	defer resume()
	res, ok := runOnce(ctx, e)
	if !ok {
		return verdict.ExitSetup
	}
	printResult(e.stdout, res, e.opts)
	resume()
	annotations(ctx, e.stdout, e.stderr, e.opts, []result.Cell{{Result: res}}, false)
	return res.Class.ExitCode()
}

// runOnce readies the artifact directory, runs one machine as e.opts say,
// and writes the outputs the flags ask for. It is false when the artifact
// directory or an output could not be written.
func runOnce(ctx context.Context, e env) (result.Run, bool) {
	opts := e.opts
	if !prepareArtifacts(opts, e.stderr) {
		return result.Run{}, false
	}
	opts.Printer.Printf("mmaprig: %s, config %s, module %s", opts.Kernel, strings.Join(opts.Fragments, "+"), opts.ModuleDir)
	start := time.Now()
	res := runner.Run(ctx, opts)
	if out := e.cfg.outputs(); out != (outputs{}) {
		cells := []result.Cell{result.NewCell(runName(opts), verdict.Pass, res, time.Since(start))}
		if err := out.write(cells, e.stderr); err != nil {
			fmt.Fprintf(e.stderr, "rig: %v\n", err)
			return res, false
		}
	}
	return res, true
}

// outputs are the result files the flags ask for, and for a run or a
// matrix, the GitHub Actions job summary.
func (c *config) outputs() outputs {
	o := outputs{json: c.jsonOut, junit: c.junitOut, html: c.htmlOut}
	if c.cmd.name == "run" || c.cmd.name == "matrix" {
		o.summary = os.Getenv("GITHUB_STEP_SUMMARY")
	}
	return o
}
