package lint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	// checkpatchRE matches a line of checkpatch.pl --terse --show-types:
	// "mymap.c:12: WARNING:LONG_LINE: line length of 101 exceeds 100 columns".
	checkpatchRE = regexp.MustCompile(`^(.+?):(\d+): (ERROR|WARNING|CHECK):([A-Z0-9_]+): (.*)$`)
	// versionLineRE matches a line that tests the kernel's version.
	versionLineRE = regexp.MustCompile(`\b(LINUX_VERSION_CODE|KERNEL_VERSION)\b`)
)

// checkpatchSeverity maps checkpatch's levels to severities: its ERRORs
// and WARNINGs keep their names, and its CHECKs (--strict only) are style.
var checkpatchSeverity = map[string]Severity{"ERROR": SevError, "WARNING": SevWarning, "CHECK": SevStyle}

// CheckpatchLeftOut returns the checkpatch checks that lint leaves out of
// out-of-tree mode, with the reason; none when inTree. They only make sense
// for code merged into the kernel, which is built for one version.
func CheckpatchLeftOut(inTree bool) []LeftOut {
	if inTree {
		return nil
	}
	return []LeftOut{
		{Type: "LINUX_VERSION_CODE", Why: "code merged into the kernel is built for that one version; " +
			"an out-of-tree driver that supports several needs version conditionals"},
		{Type: "CONSTANT_COMPARISON", Why: "on version conditionals only (#if LINUX_VERSION_CODE >= KERNEL_VERSION(...)), " +
			"the form every out-of-tree driver and the kernel's own docs use"},
	}
}

// newCheckpatch checks that checkpatch.pl and perl are there, and returns
// the checker that runs checkpatch on every .c and .h file.
func newCheckpatch(opts Options, log *slog.Logger) (checker, error) {
	if opts.KernelSrc == "" {
		return nil, inputErrorf("checkpatch needs a kernel source tree; pass its path (KernelSrc)")
	}
	script := filepath.Join(opts.KernelSrc, "scripts", "checkpatch.pl")
	if !isFile(script) {
		return nil, inputErrorf("kernel source %s has no scripts/checkpatch.pl; pass an unpacked kernel source tree", opts.KernelSrc)
	}
	perl, err := lookPath("perl", "perl")
	if err != nil {
		return nil, err
	}
	args := []string{script, "--no-tree", "--show-types", "--terse", "--no-summary", "--color=never"}
	if opts.Strict {
		args = append(args, "--strict")
	}
	if !opts.InTree {
		// CONSTANT_COMPARISON is left out on version lines only, below.
		args = append(args, "--ignore", "LINUX_VERSION_CODE")
	}
	return func(ctx context.Context, m *module) ([]Finding, []ToolError) {
		stdout, stderr, err := run(ctx, log, m.limit, m.copyDir, perl, append(append(args, "-f"), m.files...)...)
		findings, n := parseCheckpatch(stdout, m)
		var exit *exec.ExitError
		// checkpatch exits 1 when it reports anything.
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && n > 0) {
			return findings, []ToolError{{Tool: Checkpatch,
				Headline: fmt.Sprintf("%s failed (%v): %s", script, err, headline(stderr+stdout)),
				Detail:   lastLines(stderr+stdout, 10)}}
		}
		if !opts.InTree {
			findings = dropVersionComparisons(findings, m)
		}
		return findings, nil
	}, nil
}

// dropVersionComparisons leaves out CONSTANT_COMPARISON on lines that test
// the kernel's version.
func dropVersionComparisons(fs []Finding, m *module) []Finding {
	var kept []Finding
	for _, f := range fs {
		if f.Rule == "CONSTANT_COMPARISON" && versionLineRE.MatchString(sourceLine(m, f)) {
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// sourceLine returns the line f is about, from the module's copy.
func sourceLine(m *module, f Finding) string {
	rel, err := filepath.Rel(m.userDir, f.File)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(m.copyDir, rel))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if f.Line < 1 || f.Line > len(lines) {
		return ""
	}
	return lines[f.Line-1]
}

// parseCheckpatch turns checkpatch's terse lines into findings, and counts
// the report lines, the module's or not.
func parseCheckpatch(out string, m *module) ([]Finding, int) {
	var fs []Finding
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		g := checkpatchRE.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		n++
		file, ok := m.userPath(g[1])
		if !ok {
			continue
		}
		line, _ := strconv.Atoi(g[2])
		fs = append(fs, Finding{
			File:     file,
			Line:     line,
			Tool:     Checkpatch,
			Rule:     g[4],
			Severity: checkpatchSeverity[g[3]],
			Message:  g[5],
		})
	}
	return fs, n
}
