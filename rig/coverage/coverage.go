// Package coverage turns the gcov data a guest sent back into a module's
// line coverage (a result.Coverage): lcov.info and an HTML report in the
// artifacts, and a summary per source file.
package coverage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
)

// Module is the module whose coverage is reported.
type Module struct {
	// CC is the compiler that built the kernel and the module: the
	// host's gcov must be its own.
	CC string
	// BuildDir is the module's build, with the .gcno notes.
	BuildDir string
	// SourceDir is the module's source directory: files outside it
	// (kernel headers' inline functions) are left out.
	SourceDir string
}

// timeout bounds the host's part of -coverage: gcov, lcov and genhtml
// over one module take seconds.
const timeout = 2 * time.Minute

// Collect turns the gcov data the guest sent back into lcov.info and an
// HTML report in artifactDir (lcov and genhtml, from apt), and the
// summary per source file. The .gcda files go next to the module build's
// .gcno notes, in a copy.
func Collect(ctx context.Context, m Module, files []wire.File, artifactDir string) (*result.Coverage, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if len(files) == 0 {
		return nil, fmt.Errorf("the guest found no gcov data under %s: was the module built for coverage, and the kernel with the coverage fragment?", wire.GcovDir)
	}
	if err := CheckGcov(ctx, m.CC); err != nil {
		return nil, err
	}
	for _, tool := range []string{"lcov", "genhtml"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed; run `make deps` (apt's lcov)", tool)
		}
	}
	dir := filepath.Join(artifactDir, layout.CoverageDir)
	build := filepath.Join(dir, "build")
	if err := placeData(m.BuildDir, build, files); err != nil {
		return nil, err
	}
	c := &result.Coverage{LCOV: filepath.Join(artifactDir, layout.LCOV), HTML: filepath.Join(dir, "html", "index.html")}
	if err := runLCOV(ctx, m.CC, build, c); err != nil {
		return nil, err
	}
	var err error
	if c.Files, err = parseLCOV(c.LCOV, m.SourceDir); err != nil {
		return nil, err
	}
	return c, nil
}

// placeData copies the module's build to build, with the guest's .gcda
// files beside the objects' .gcno notes.
func placeData(moduleBuild, build string, files []wire.File) error {
	if err := os.RemoveAll(filepath.Dir(build)); err != nil {
		return err
	}
	if err := os.CopyFS(build, os.DirFS(moduleBuild)); err != nil {
		return fmt.Errorf("copy the module's build: %w", err)
	}
	placed := 0
	for _, f := range files {
		name := filepath.Base(f.Path)
		if _, err := os.Stat(filepath.Join(build, strings.TrimSuffix(name, ".gcda")+".gcno")); err != nil {
			continue // not one of this module's objects
		}
		if err := os.WriteFile(filepath.Join(build, name), f.Data, 0o644); err != nil {
			return err
		}
		placed++
	}
	if placed == 0 {
		return fmt.Errorf("none of the %d gcov data files the guest sent belongs to the module's objects", len(files))
	}
	return nil
}

// runLCOV captures the data in build into c.LCOV, and renders c.HTML from
// it; their output goes to lcov.log beside the build.
func runLCOV(ctx context.Context, cc, build string, c *result.Coverage) error {
	log, err := os.Create(filepath.Join(filepath.Dir(build), "lcov.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	for _, cmd := range [][]string{
		{"lcov", "--quiet", "--capture", "--directory", build, "--gcov-tool", gcovFor(cc), "--output-file", c.LCOV},
		{"genhtml", "--quiet", "--output-directory", filepath.Dir(c.HTML), c.LCOV},
	} {
		x := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
		x.Stdout, x.Stderr = log, log
		if err := x.Run(); err != nil {
			return fmt.Errorf("%s: %w; see %s", cmd[0], err, log.Name())
		}
	}
	return nil
}

// gcovFor is the gcov of the compiler cc: gcc's gcov, or the cross
// compiler's (aarch64-linux-gnu-gcov).
func gcovFor(cc string) string { return strings.TrimSuffix(cc, "gcc") + "gcov" }

var versionRE = regexp.MustCompile(`\d+\.\d+\.\d+`)

// CheckGcov makes sure the host's gcov reads the data the compiler that
// built the kernel and the module wrote: their versions must match.
func CheckGcov(ctx context.Context, cc string) error {
	gcov := gcovFor(cc)
	ver := func(name string) (string, error) {
		out, err := exec.CommandContext(ctx, name, "--version").Output()
		if err != nil {
			return "", fmt.Errorf("%s --version: %w", name, err)
		}
		first, _, _ := bytes.Cut(out, []byte("\n"))
		return versionRE.FindString(string(first)), nil
	}
	ccv, err := ver(cc)
	if err != nil {
		return err
	}
	gv, err := ver(gcov)
	if err != nil {
		return fmt.Errorf("%w; -coverage needs the gcov of the compiler that built the kernel (%s %s)", err, cc, ccv)
	}
	if ccv != gv {
		return fmt.Errorf("the host's %s is version %s, but the kernel and the module were built by %s %s: gcov cannot read their data; install the gcov of that compiler", gcov, gv, cc, ccv)
	}
	return nil
}

// parseLCOV reads lcov's tracefile: per source file, the lines found and
// hit, the functions found and hit, and the lines that never ran. Files
// outside the module directory (kernel headers' inline functions) are
// left out.
func parseLCOV(path, moduleDir string) ([]result.FileCoverage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []result.FileCoverage
	var cur *result.FileCoverage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch {
		case k == "SF":
			out = append(out, result.FileCoverage{File: v})
			cur = &out[len(out)-1]
		case cur == nil:
		case k == "FN":
			// FN:line,name; lcov 1.16 writes no FNF/FNH or LF/LH
			// totals, so they are counted here.
			cur.FunctionsFound++
		case k == "FNDA":
			if count, _, _ := strings.Cut(v, ","); count != "0" {
				cur.FunctionsHit++
			}
		case k == "DA":
			line, count, _ := strings.Cut(v, ",")
			cur.LinesFound++
			if c, _ := strconv.Atoi(count); c > 0 {
				cur.LinesHit++
			} else {
				l, _ := strconv.Atoi(line)
				cur.Uncovered = append(cur.Uncovered, l)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var mine []result.FileCoverage
	for _, fc := range out {
		if strings.HasPrefix(fc.File, moduleDir+"/") && kernel.IsModuleSource(fc.File) {
			fc.Summarize()
			mine = append(mine, fc)
		}
	}
	if len(mine) == 0 {
		return nil, fmt.Errorf("lcov found no source file of %s in %s", moduleDir, path)
	}
	return mine, nil
}
