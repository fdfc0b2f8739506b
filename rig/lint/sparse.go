package lint

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

var (
	// sparseRE matches sparse's "file:line:col: warning: message".
	sparseRE = regexp.MustCompile(`^(.+?):(\d+):(\d+): (warning|error): (.*)$`)
	// sparseMoreRE matches the indented lines that continue a report:
	// "file:line:col:    expected ...", "...:    got ...".
	sparseMoreRE = regexp.MustCompile(`^(.+?):(\d+):(\d+):\s{2,}(\S.*)$`)
	// compilerRE matches the compiler's own diagnostics, which kbuild
	// prints beside sparse's in the same form: they end in a -W option.
	compilerRE = regexp.MustCompile(`\[-W[^\]]*\]$`)
)

// newSparse checks the kernel tree and the programs, and returns the
// checker that builds the module copy with C=2 against that tree.
func newSparse(opts Options, log *slog.Logger) (checker, error) {
	if opts.KernelBuild == "" {
		return nil, inputErrorf("sparse needs a configured and built kernel tree; pass its path (KernelBuild)")
	}
	for _, f := range []string{"Makefile", ".config", "include/generated/autoconf.h"} {
		if !isFile(filepath.Join(opts.KernelBuild, f)) {
			return nil, inputErrorf("kernel tree %s has no %s; pass a configured and built kernel tree", opts.KernelBuild, f)
		}
	}
	if !isFile(filepath.Join(opts.ModuleDir, "Kbuild")) && !isFile(filepath.Join(opts.ModuleDir, "Makefile")) {
		// Not bad input: the other tools can check it.
		return nil, fmt.Errorf("-module %s has no Kbuild or Makefile, so kbuild cannot build it for sparse", opts.ModuleDir)
	}
	sparse, err := lookPath("sparse", "sparse")
	if err != nil {
		return nil, err
	}
	mk, err := lookPath("make", "make")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, m *module) ([]Finding, []ToolError) {
		// C=2 checks every file, built before or not; -k checks them all
		// even when one does not compile.
		args := []string{"-C", opts.KernelBuild, "M=" + m.copyDir, "C=2", "CHECK=" + sparse,
			"-k", fmt.Sprintf("-j%d", runtime.NumCPU()), "modules"}
		stdout, stderr, err := run(ctx, log, m.limit, m.copyDir, mk, args...)
		findings := parseSparse(stderr+"\n"+stdout, m, log)
		if err != nil {
			// What sparse found in the files that did build stands.
			return findings, []ToolError{{Tool: Sparse,
				Headline: fmt.Sprintf("make -C %s M=%s C=2 modules failed (%v): %s",
					opts.KernelBuild, opts.ModuleDir, err, headline(stderr)),
				Detail: lastLines(stderr, 15)}}
		}
		return findings, nil
	}, nil
}

// parseSparse turns sparse's reports about the module's files into
// findings, folding the indented lines that follow a report into it. It
// leaves out the compiler's warnings and reports about kernel headers.
func parseSparse(out string, m *module, log *slog.Logger) []Finding {
	var fs []Finding
	last := -1    // index in fs of the report that indented lines continue
	var at string // that report's "file:line:col"
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		text := sc.Text()
		if g := sparseRE.FindStringSubmatch(text); g != nil {
			last = -1
			if compilerRE.MatchString(text) {
				log.Debug("lint: compiler diagnostic, not sparse's", "line", text)
				continue
			}
			file, ok := m.userPath(g[1])
			if !ok {
				log.Debug("lint: sparse report outside the module", "line", text)
				continue
			}
			line, _ := strconv.Atoi(g[2])
			col, _ := strconv.Atoi(g[3])
			fs = append(fs, Finding{File: file, Line: line, Column: col, Tool: Sparse, Rule: g[4],
				Severity: Severity(g[4]), Message: g[5]})
			last, at = len(fs)-1, g[1]+":"+g[2]+":"+g[3]
			continue
		}
		if g := sparseMoreRE.FindStringSubmatch(text); g != nil && last >= 0 && g[1]+":"+g[2]+":"+g[3] == at {
			fs[last].Message += "; " + strings.Join(strings.Fields(g[4]), " ")
			continue
		}
		last = -1
	}
	return fs
}
