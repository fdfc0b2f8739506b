package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/symbolize"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/annotate"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/report"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// The run's outputs: the terminal's verdict, and the -json, -junit and
// -html files and the job summary, for a single run and a matrix alike.

// runName names a single run in reports: its kernel and config.
func runName(opts runner.Options) string {
	return opts.Kernel.String() + ", " + strings.Join(opts.Fragments, "+")
}

// outputs are the files a run or a matrix writes its result to; empty
// names are not written.
type outputs struct {
	json, junit, html string
	// summary is the GitHub Actions job summary to append to.
	summary string
}

// write writes the result document (-json), the JUnit XML and the HTML
// page, all from the same cells, and appends the job summary; a summary
// that cannot be written is only a warning.
func (o outputs) write(cells []result.Cell, stderr io.Writer) error {
	if o.json != "" {
		if err := report.WriteJSON(o.json, cells); err != nil {
			return err
		}
	}
	if o.junit != "" {
		if err := report.WriteJUnit(o.junit, cells); err != nil {
			return err
		}
	}
	if o.html != "" {
		if err := report.WriteHTML(o.html, cells); err != nil {
			return err
		}
	}
	if o.summary != "" {
		if err := report.AppendSummary(o.summary, cells); err != nil {
			fmt.Fprintf(stderr, "rig: warning: the job summary: %v\n", err)
		}
	}
	return nil
}

// prepareArtifacts readies the artifact directory, and says where an
// earlier run's artifacts went.
func prepareArtifacts(opts runner.Options, stderr io.Writer) bool {
	prev, err := runner.PrepareArtifacts(opts.ArtifactDir)
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return false
	}
	if prev != "" {
		opts.Printer.Printf("mmaprig: the earlier run's artifacts in %s moved to %s", opts.ArtifactDir, prev)
	}
	return true
}

// printResult renders a run's result for the terminal: the bytes the
// reader saw, the cases by suite, and the verdict with what to read next.
// It reads only res, but for the device and the checks a PASS line names.
func printResult(w io.Writer, res result.Run, opts runner.Options) {
	if len(res.Output) > 0 {
		fmt.Fprintf(w, "bytes read through the mapping of %s:\n", opts.Device().Path)
		for _, l := range res.Output {
			fmt.Fprintln(w, l)
		}
	}
	suite := ""
	if len(res.Cases) > 0 {
		for _, c := range res.Cases {
			if c.Suite != suite {
				suite = c.Suite
				fmt.Fprintf(w, "%s:\n", suite)
			}
			t := ""
			if c.Time > 0 {
				t = progress.FormatDuration(c.Time.D())
			}
			switch wire.CaseResult(c.Result) {
			case wire.Pass:
				fmt.Fprintf(w, "  ok    %-20s %8s\n", c.Name, t)
			case wire.Skip:
				fmt.Fprintf(w, "  SKIP  %-20s %8s  %s\n", c.Name, t, c.Reason)
			case wire.Crashed:
				fmt.Fprintf(w, "  CRASH %-20s %8s  %s\n", c.Name, t, c.Reason)
			default:
				fmt.Fprintf(w, "%s\n", strings.TrimRight(fmt.Sprintf("  FAIL  %-20s %8s  %s", c.Name, t, c.Reason), " "))
				for _, d := range c.Diagnostics {
					fmt.Fprintf(w, "          %s\n", d)
				}
			}
		}
	}
	if res.Class == verdict.Pass && opts.BuildOnly {
		fmt.Fprintf(w, "BUILT: kernel, module and initramfs are ready (-build-only; nothing booted)\nartifacts: %s\n", res.ArtifactDir)
		return
	}
	if res.Class == verdict.Pass {
		what := passSummary(res, opts)
		printCoverage(w, res)
		fmt.Fprintf(w, "PASS: %s (boot to verdict %.2fs, accel %s)\n", what, res.BootToVerdict.Seconds(), res.Accel)
		fmt.Fprintf(w, "artifacts: %s\n", res.ArtifactDir)
		return
	}
	printCoverage(w, res)
	fmt.Fprintf(w, "FAIL [%s]: %s\n", res.Class, res.Message)
	if res.Cause != "" {
		fmt.Fprintf(w, "  cause: %s\n", res.Cause)
	}
	if res.Excerpt != "" {
		fmt.Fprintf(w, "--- excerpt ---\n%s\n--- end of excerpt ---\n", res.Excerpt)
	}
	printDecoded(w, res.Crash)
	if fileExists(res.ConsoleLog) {
		fmt.Fprintf(w, "serial log: %s\n", res.ConsoleLog)
	} else {
		fmt.Fprintln(w, "serial log: none; the VM did not start")
	}
	fmt.Fprintf(w, "artifacts: %s\n", res.ArtifactDir)
}

// printDecoded prints a crash's decoded stack, a line for each function
// inlined at a frame, innermost first. The verdict line already says
// where the guilty frame is.
func printDecoded(w io.Writer, c *verdict.Crash) {
	if c == nil || len(c.Decoded) == 0 {
		return
	}
	fmt.Fprintln(w, "--- decoded stack ---")
	for _, l := range symbolize.Format(c.Decoded) {
		fmt.Fprintf(w, " %s\n", l)
	}
	fmt.Fprintln(w, "--- end of decoded stack ---")
}

// printCoverage prints a line per source file of the module's coverage.
func printCoverage(w io.Writer, res result.Run) {
	if res.Coverage == nil {
		return
	}
	for _, f := range res.Coverage.Files {
		fmt.Fprintf(w, "coverage: %s\n", f)
	}
	fmt.Fprintf(w, "coverage report: %s\n", res.Coverage.HTML)
}

// passSummary says what a passing run proved, and with -run, how many
// cases it selected: a narrowed run must never read as a whole one.
func passSummary(res result.Run, opts runner.Options) string {
	var what []string
	if opts.Checks != runner.ChecksNone {
		what = append(what, fmt.Sprintf("%s maps the expected %d bytes", opts.Device().Path, len(opts.Expect)))
	}
	n := map[string][]result.Case{}
	var suites []string
	for _, c := range res.Cases {
		if n[c.Suite] == nil {
			suites = append(suites, c.Suite)
		}
		n[c.Suite] = append(n[c.Suite], c)
	}
	if opts.Run != "" && opts.Checks == runner.ChecksContract && n[wire.CmdContract] == nil {
		what = append(what, fmt.Sprintf("runs none of the contract's %d cases (none selected by -run)", len(wire.ContractCases)))
	}
	for _, s := range suites {
		count := result.CaseCount(n[s])
		switch {
		case s == wire.CmdContract && opts.Run != "":
			// "2 cases, 1 skipped: ..." reads "2 of 7 cases selected by -run, 1 skipped: ...".
			_, rest, _ := strings.Cut(count, ",")
			if rest != "" {
				rest = "," + rest
			}
			what = append(what, fmt.Sprintf("meets the contract (%d of %d cases selected by -run%s)", len(n[s]), len(wire.ContractCases), rest))
		case s == wire.CmdContract:
			what = append(what, fmt.Sprintf("meets the contract (%s)", count))
		case opts.Run != "":
			what = append(what, fmt.Sprintf("passes %s (%s, selected by -run)", s, count))
		default:
			what = append(what, fmt.Sprintf("passes %s (%s)", s, count))
		}
	}
	if len(what) == 0 {
		return "the module loads, " + strings.Join(wire.DevicePaths(opts.Devices), ", ") + " " + isAre(len(opts.Devices)) + " there, and it unloads"
	}
	return strings.Join(what, " and ")
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// guardLog keeps GitHub from reading workflow commands in the run's
// output, which carries text the module controls (annotate.Guard), when
// the rig runs in GitHub Actions; the func it returns lets GitHub read
// them again, for the annotations. Anywhere else both do nothing.
func guardLog(w, errw io.Writer) (resume func()) {
	if os.Getenv("GITHUB_ACTIONS") != "true" {
		return func() {}
	}
	resume, err := annotate.Guard(w)
	if err != nil {
		fmt.Fprintf(errw, "rig: %v\n", err)
	}
	return resume
}

// annotations prints GitHub Actions workflow commands for what the
// cells found (rig/annotate), when the rig runs in GitHub Actions: GitHub
// shows each on the pull request's diff, at its line. Anywhere else it
// prints nothing. A matrix's commands are titled with their cells.
func annotations(ctx context.Context, w, errw io.Writer, opts runner.Options, cells []result.Cell, matrix bool) {
	if os.Getenv("GITHUB_ACTIONS") != "true" || len(cells) == 0 {
		return
	}
	// The run's deadline may have passed: the annotations say why.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	o := annotate.Options{Root: repoRoot(ctx, opts.ModuleDir), Module: filepath.Base(opts.ModuleDir)}
	cells = absCrashFiles(cells)
	cmds := annotate.Run(cells[0].Result, o)
	if matrix {
		cmds = annotate.Cells(cells, o)
	}
	if err := annotate.Write(w, cmds); err != nil {
		fmt.Fprintf(errw, "rig: the annotations: %v\n", err)
	}
}

// absCrashFiles makes a crash's file absolute when it names a file
// relative to the working directory, as the terminal names the author's
// files; a relative name that is no such file (a kernel report's
// "mm/memory.c") stays as it is. The cells are copies.
func absCrashFiles(cells []result.Cell) []result.Cell {
	out := slices.Clone(cells)
	for i, c := range out {
		cr := c.Result.Crash
		if cr == nil || cr.File == "" || filepath.IsAbs(cr.File) {
			continue
		}
		if abs, err := filepath.Abs(cr.File); err == nil && fileExists(abs) {
			cp := *cr
			cp.File, out[i].Result.Crash = abs, &cp
		}
	}
	return out
}

// repoRoot is the repository that annotations name files relative to:
// $GITHUB_WORKSPACE, else the git work tree the module directory is in,
// else none (paths as they are). The work tree's top is found as the
// module directory less its path in the tree (git's prefix), so that it
// is spelt as the module directory is, symbolic links and all, as the
// result's paths are.
func repoRoot(ctx context.Context, dir string) string {
	if ws := os.Getenv("GITHUB_WORKSPACE"); ws != "" {
		return ws
	}
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--show-prefix").Output()
	if err != nil {
		return ""
	}
	root := dir
	for _, part := range strings.Split(strings.Trim(strings.TrimSpace(string(out)), "/"), "/") {
		if part != "" {
			root = filepath.Dir(root)
		}
	}
	return root
}
