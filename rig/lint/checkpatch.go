package lint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// checkpatchRE matches a line of checkpatch.pl --terse --show-types:
// "mymap.c:12: WARNING:LONG_LINE: line length of 101 exceeds 100 columns".
var checkpatchRE = regexp.MustCompile(`^(.+?):(\d+): (ERROR|WARNING|CHECK):([A-Z0-9_]+): (.*)$`)

// newCheckpatch checks that checkpatch.pl and perl are there, and returns
// the checker that runs checkpatch --strict on every .c and .h file.
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
	return func(ctx context.Context, m *module) ([]Finding, error) {
		args := append([]string{script, "--strict", "--no-tree", "--show-types", "--terse",
			"--no-summary", "--color=never", "-f"}, m.files...)
		stdout, stderr, err := run(ctx, log, m.copyDir, perl, args...)
		findings := parseCheckpatch(stdout, m)
		var exit *exec.ExitError
		// checkpatch exits 1 when it reports anything.
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1 && len(findings) > 0) {
			return nil, fmt.Errorf("checkpatch: %s failed: %w\n%s", script, err, tail(stderr+stdout, 10))
		}
		return findings, nil
	}, nil
}

// parseCheckpatch turns checkpatch's terse lines into findings.
func parseCheckpatch(out string, m *module) []Finding {
	var fs []Finding
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		g := checkpatchRE.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		file, ok := m.userPath(g[1])
		if !ok {
			continue
		}
		line, _ := strconv.Atoi(g[2])
		fs = append(fs, Finding{
			File:    file,
			Line:    line,
			Tool:    Checkpatch,
			Rule:    g[4],
			Message: g[3] + ":" + g[4] + ": " + g[5],
		})
	}
	return fs
}
