package lint

import (
	"bufio"
	"cmp"
	"context"
	"embed"
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
	out, _, err := run(ctx, log, "", spatch[0], "--version")
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
	return func(ctx context.Context, m *module) ([]Finding, error) {
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
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", Coccinelle, ctx.Err())
		}
		// The scripts come with the kernel tree, and a newer tree's may use
		// SmPL that this spatch does not know: skip those, loudly, unless
		// none ran at all.
		failed := 0
		for i, err := range errs {
			if err != nil {
				failed++
				log.Warn("lint: a kernel Coccinelle script failed; its checks were not run", "script", scripts[i].name, "err", err)
			}
		}
		if failed == len(scripts) {
			return nil, fmt.Errorf("%s: every script failed, so spatch itself may be broken; the first failure: %w", Coccinelle, errs[0])
		}
		return slices.Concat(results...), nil
	}, nil
}

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
	return func(ctx context.Context, m *module) ([]Finding, error) {
		names, err := fs.Glob(rules, "cocci/*.cocci")
		if err != nil {
			return nil, err
		}
		var all []Finding
		for _, name := range names {
			b, err := rules.ReadFile(name)
			if err != nil {
				return nil, err
			}
			path := filepath.Join(filepath.Dir(m.copyDir), filepath.Base(name))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return nil, fmt.Errorf("%s: write %s: %w", MmaprigCocci, path, err)
			}
			found, err := runSpatch(ctx, log, spatch, path, []string{"--no-includes", "--include-headers"},
				MmaprigCocci, strings.TrimSuffix(filepath.Base(name), ".cocci"), m)
			if err != nil {
				return nil, err
			}
			all = append(all, found...)
		}
		return all, nil
	}, nil
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
	stdout, stderr, err := run(ctx, log, m.copyDir, spatch[0], args...)
	if err != nil {
		return nil, fmt.Errorf("%s: spatch --cocci-file %s failed: %w\n%s", tool, cocci, err, tail(stderr, 10))
	}
	if s := strings.TrimSpace(stderr); s != "" {
		log.Debug("lint: spatch said", "cocci", cocci, "stderr", tail(s, 5))
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
		if tool == Coccinelle {
			msg = rule + ": " + msg
		}
		// Coccinelle counts columns from 0; editors and compilers from 1.
		found = append(found, Finding{File: file, Line: line, Column: col + 1, Tool: tool, Rule: rule, Message: msg})
	}
	return found
}
