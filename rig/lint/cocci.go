package lint

import (
	"bufio"
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rules holds mmaprig's own Coccinelle rules.
//
//go:embed cocci/*.cocci
var rules embed.FS

var (
	// spatchRE matches a report line, as coccilib.report prints them:
	// "mymap.c:12:8-20: message".
	spatchRE = regexp.MustCompile(`^(.+?):(\d+):(\d+)-(\d+): (.*)$`)
	// spatchVersionRE finds the version in `spatch --version`.
	spatchVersionRE = regexp.MustCompile(`spatch version (\d+(?:\.\d+)*)`)
)

// skippedScripts are the kernel's Coccinelle scripts that lint does not
// run, with the reason. Every other script under scripts/coccinelle runs:
// api/, free/, iterators/, locks/, misc/, null/ and tests/ look for mistakes
// any driver can make (leaks and use after free on error paths, missing
// unlocks, NULL tests after dereferences, iterators misused, allocations
// cast or zeroed by hand, hand-made vma_pages() or simple_open(), ...), and
// on a small module each takes about as long as spatch takes to start. A
// newer tree's new scripts run too, unless they need a newer spatch.
func skippedScripts() map[string]string {
	return map[string]string{
		"misc/add_namespace.cocci": "not a check: it writes MODULE_IMPORT_NS lines for `make nsdeps`, " +
			"which passes it the namespace (-D ns=)",
		"api/check_bq27xxx_data.cocci":       "checks the register tables of one driver, bq27xxx_battery",
		"api/d_find_alias.cocci":             "about dentries, in file systems",
		"free/ifnulldev_put.cocci":           "about net_device references, in network drivers",
		"misc/newline_in_nl_msg.cocci":       "about netlink extack messages, in networking",
		"free/pci_free_consistent.cocci":     "about the pci_alloc_consistent() API, removed in 5.18",
		"misc/uninitialized_var.cocci":       "about the uninitialized_var() macro, removed in 5.9",
		"api/alloc/pool_zalloc-simple.cocci": "about DMA pools, which small drivers do not use",
	}
}

// styleScripts are the kernel's Coccinelle scripts whose reports are
// style: a shorter or more idiomatic spelling of code that works.
func styleScripts() []string {
	return []string{"api/alloc/alloc_cast", "api/alloc/zalloc-simple", "api/memdup", "api/kstrdup",
		"api/vma_pages", "api/simple_open", "api/err_cast",
		"misc/array_size", "misc/boolconv", "misc/minmax", "misc/returnvar",
		"misc/semicolon", "misc/swap", "misc/warn", "misc/flexible_array"}
}

// cocciSeverity maps a Coccinelle report to a severity: mmaprig's own rule
// finds memory mapped that must not be, an error; a kernel script's report
// that says ERROR is an error, one of styleScripts is style, and the rest
// (WARNING, CHECK) are warnings.
func cocciSeverity(tool, rule, msg string) Severity {
	switch {
	case tool == MmaprigCocci, strings.HasPrefix(msg, "ERROR"):
		return SevError
	case slices.Contains(styleScripts(), rule):
		return SevStyle
	}
	return SevWarning
}

// script is one of the kernel's Coccinelle scripts.
type script struct {
	path    string   // absolute
	name    string   // relative to scripts/coccinelle, without .cocci
	options []string // from its "// Options:" line
}

// newKernelCocci finds spatch and the tree's scripts, and returns the
// checker that runs each script in report mode, as many at once as there
// are CPUs.
func newKernelCocci(ctx context.Context, opts Options, log *slog.Logger) (checker, error) {
	if opts.KernelSrc == "" {
		return nil, inputErrorf("coccinelle needs a kernel source tree for its scripts/coccinelle; pass its path (KernelSrc)")
	}
	dir := filepath.Join(opts.KernelSrc, "scripts", "coccinelle")
	if !isDir(dir) {
		return nil, inputErrorf("kernel source %s has no scripts/coccinelle; pass an unpacked kernel source tree", opts.KernelSrc)
	}
	spatch, err := findSpatch(log)
	if err != nil {
		return nil, err
	}
	out, _, err := run(ctx, log, time.Minute, "", spatch[0], "--version")
	if err != nil {
		return nil, fmt.Errorf("coccinelle: %s --version: %w", spatch[0], err)
	}
	version := ""
	if g := spatchVersionRE.FindStringSubmatch(out); g != nil {
		version = g[1]
	}
	scripts, err := kernelScripts(dir, version, log)
	if err != nil {
		return nil, err
	}
	includes := kernelIncludes(opts)
	return func(ctx context.Context, m *module) ([]Finding, []ToolError) {
		results := make([][]Finding, len(scripts))
		errs := make([]error, len(scripts))
		sem := make(chan struct{}, runtime.NumCPU())
		var wg sync.WaitGroup
		for i, s := range scripts {
			wg.Go(func() {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
				defer func() { <-sem }()
				args := s.options
				if slices.Contains(args, "--all-includes") {
					args = append(slices.Clone(args), includes...)
				}
				results[i], errs[i] = runSpatch(ctx, log, spatch, s.path, args, Coccinelle, s.name, m)
			})
		}
		wg.Wait()
		return slices.Concat(results...), scriptErrors(scripts, errs)
	}, nil
}

// scriptErrors makes each script that could not run a ToolError: one that
// this spatch cannot parse, that needs OCaml where there is none, or that
// ran out of time. When every script failed for the same reason, spatch
// itself is broken, and that is one error.
func scriptErrors(scripts []script, errs []error) []ToolError {
	var failed []ToolError
	reasons := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			e := spatchError(Coccinelle, scripts[i].name, err)
			failed = append(failed, e)
			_, why, _ := strings.Cut(e.Headline, " failed: ")
			reasons[why] = true
		}
	}
	if len(failed) > 1 && len(failed) == len(scripts) && len(reasons) == 1 {
		return []ToolError{{Tool: Coccinelle, Headline: fmt.Sprintf("all %d scripts failed, so spatch itself may be broken; the first: %s: %s",
			len(scripts), failed[0].Script, failed[0].Headline), Detail: failed[0].Detail}}
	}
	return failed
}

// spatchError is the ToolError of a script that failed in runSpatch.
func spatchError(tool, rule string, err error) ToolError {
	var se *scriptError
	if errors.As(err, &se) {
		return ToolError{Tool: tool, Script: rule, Headline: se.headline, Detail: se.detail}
	}
	return ToolError{Tool: tool, Script: rule, Headline: err.Error()}
}

// scriptError is a spatch run that failed, with what it said.
type scriptError struct {
	err              error
	headline, detail string
}

func (e *scriptError) Error() string { return e.headline }
func (e *scriptError) Unwrap() error { return e.err }

// kernelScripts lists the scripts under dir that lint runs with the spatch
// of the given version.
func kernelScripts(dir, version string, log *slog.Logger) ([]script, error) {
	skip := skippedScripts()
	var scripts []script
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".cocci") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if why, ok := skip[rel]; ok {
			log.Debug("lint: coccinelle script left out", "script", rel, "why", why)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := script{path: p, name: strings.TrimSuffix(rel, ".cocci")}
		var requires string
		for _, line := range strings.Split(string(b), "\n") {
			if _, v, ok := strings.Cut(line, "Options:"); ok && strings.HasPrefix(line, "//") {
				s.options = append(s.options, strings.Fields(v)...)
			}
			if _, v, ok := strings.Cut(line, "Requires:"); ok && strings.HasPrefix(line, "//") {
				requires = strings.TrimSpace(v)
			}
		}
		if !strings.Contains(string(b), "virtual report") {
			log.Debug("lint: coccinelle script has no report mode", "script", rel)
			return nil
		}
		if requires != "" && version != "" && compareVersions(version, requires) < 0 {
			log.Warn("lint: coccinelle script needs a newer spatch; skipped", "script", rel, "requires", requires, "spatch", version)
			return nil
		}
		scripts = append(scripts, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("coccinelle: read the scripts in %s: %w", dir, err)
	}
	if len(scripts) == 0 {
		return nil, inputErrorf("%s holds no Coccinelle scripts with a report mode; pass a kernel source tree", dir)
	}
	return scripts, nil
}

// compareVersions compares dotted version numbers such as 1.0.7 and 1.1.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// kernelIncludes are the include paths for the few scripts that need the
// kernel's headers (--all-includes) to know types, as coccicheck passes
// them, for the architecture lint runs on.
func kernelIncludes(opts Options) []string {
	arch := map[string]string{"amd64": "x86", "386": "x86", "arm64": "arm64", "arm": "arm",
		"riscv64": "riscv", "ppc64le": "powerpc", "s390x": "s390", "loong64": "loongarch"}[runtime.GOARCH]
	var dirs []string
	for _, root := range []string{opts.KernelBuild, opts.KernelSrc} {
		if root == "" {
			continue
		}
		dirs = append(dirs,
			filepath.Join(root, "arch", arch, "include"),
			filepath.Join(root, "arch", arch, "include", "generated"),
			filepath.Join(root, "include"),
			filepath.Join(root, "arch", arch, "include", "uapi"),
			filepath.Join(root, "arch", arch, "include", "generated", "uapi"),
			filepath.Join(root, "include", "uapi"),
			filepath.Join(root, "include", "generated", "uapi"))
	}
	var args []string
	for _, d := range dirs {
		if isDir(d) && !slices.Contains(args, d) {
			args = append(args, "-I", d)
		}
	}
	return args
}

// newRule returns the checker that runs mmaprig's own rules, embedded in
// the binary, from a file beside the module copy.
func newRule(log *slog.Logger) (checker, error) {
	spatch, err := findSpatch(log)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, m *module) ([]Finding, []ToolError) {
		names, _ := fs.Glob(rules, "cocci/*.cocci") // the pattern is valid
		var all []Finding
		var failed []ToolError
		for _, name := range names {
			rule := strings.TrimSuffix(filepath.Base(name), ".cocci")
			found, err := runRule(ctx, log, spatch, name, rule, m)
			if err != nil {
				failed = append(failed, spatchError(MmaprigCocci, rule, err))
			}
			all = append(all, found...)
		}
		return all, failed
	}, nil
}

// runRule writes one of the embedded rules beside the module copy and runs
// it.
func runRule(ctx context.Context, log *slog.Logger, spatch []string, name, rule string, m *module) ([]Finding, error) {
	b, err := rules.ReadFile(name)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(filepath.Dir(m.copyDir), filepath.Base(name))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return runSpatch(ctx, log, spatch, path, []string{"--no-includes", "--include-headers"}, MmaprigCocci, rule, m)
}

// findSpatch returns the command line that starts spatch. spatch finds
// its Python library by running the first python3 on PATH, and then ldd and
// ldconfig, every time it starts. The distribution's spatch is linked with
// the distribution's Python, so it is given that: it starts five times as
// fast where python3 is a pyenv shim, and cannot pick a Python of another
// version.
func findSpatch(log *slog.Logger) ([]string, error) {
	spatch, err := lookPath("spatch", "coccinelle")
	if err != nil {
		return nil, err
	}
	if resolved, err := filepath.EvalSymlinks(spatch); err == nil && strings.HasPrefix(resolved, "/usr/bin/") && isFile("/usr/bin/python3") {
		return []string{spatch, "--python", "/usr/bin/python3"}, nil
	}
	log.Debug("lint: spatch is not the distribution's; it finds its own Python", "spatch", spatch)
	return []string{spatch}, nil
}

// runSpatch runs one semantic patch in report mode on the module's files
// and parses its reports.
func runSpatch(ctx context.Context, log *slog.Logger, spatch []string, cocci string, options []string, tool, rule string, m *module) ([]Finding, error) {
	files := m.cFiles()
	if slices.Contains(options, "--include-headers") {
		files = m.files
	}
	args := slices.Concat(spatch[1:], []string{"-D", "report", "--no-show-diff", "--very-quiet", "--cocci-file", cocci}, options, files)
	stdout, stderr, err := run(ctx, log, m.limit, m.copyDir, spatch[0], args...)
	if err != nil {
		h := headline(stderr)
		if errors.Is(err, errTimedOut) || h == "" {
			h = cmp.Or(h, "no output") + fmt.Sprintf(" (%v)", err)
			if errors.Is(err, errTimedOut) {
				h = err.Error()
			}
		}
		return nil, &scriptError{err: err, headline: "spatch --cocci-file " + filepath.Base(cocci) + " failed: " + h, detail: lastLines(stderr, 10)}
	}
	if s := strings.TrimSpace(stderr); s != "" {
		log.Debug("lint: spatch said", "cocci", cocci, "stderr", lastLines(s, 5))
	}
	return parseSpatch(stdout, tool, rule, m, log), nil
}

// parseSpatch turns report lines into findings. Kernel scripts' messages
// start with the script's name, so that the one line says what fired.
func parseSpatch(out, tool, rule string, m *module, log *slog.Logger) []Finding {
	var found []Finding
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		g := spatchRE.FindStringSubmatch(sc.Text())
		if g == nil {
			if strings.TrimSpace(sc.Text()) != "" {
				log.Debug("lint: spatch output not understood", "rule", rule, "line", sc.Text())
			}
			continue
		}
		file, ok := m.userPath(g[1])
		if !ok {
			log.Debug("lint: spatch report outside the module", "rule", rule, "line", sc.Text())
			continue
		}
		line, _ := strconv.Atoi(g[2])
		col, _ := strconv.Atoi(g[3])
		msg := strings.TrimSpace(g[5])
		// Coccinelle counts columns from 0; editors and compilers from 1.
		found = append(found, Finding{File: file, Line: line, Column: col + 1, Tool: tool, Rule: rule,
			Severity: cocciSeverity(tool, rule, msg), Message: msg})
	}
	return found
}
