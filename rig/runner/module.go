package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/internal/modinfo"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// moduleSpec is what the module stage builds, its build mode picked, and
// what picked it.
func (r *run) moduleSpec() (kernel.ModuleSpec, string, error) {
	spec, why, err := kernel.ModuleSpec{Dir: r.opts.ModuleDir, Root: r.opts.ModuleRoot, Mode: r.opts.BuildMode,
		MakeArgs: r.opts.MakeArgs, Coverage: r.opts.Coverage, Work: r.opts.ModuleWork}.Resolve()
	switch {
	case errors.Is(err, kernel.ErrNotModule):
		return spec, why, fail(verdict.Setup, err, "-module %s: give a directory with the module's Kbuild, Makefile or dkms.conf", r.opts.ModuleDir)
	case err != nil:
		return spec, why, fail(verdict.Setup, err, "-module %s cannot be built that way", r.opts.ModuleDir)
	}
	return spec, why, nil
}

// module builds the module against the kernel tree, or finds it cached,
// and orders its .ko files for loading.
func (r *run) module(ctx context.Context, _ *progress.Stage) (string, bool, error) {
	spec, why, err := r.moduleSpec()
	if err != nil {
		return "", false, err
	}
	tree, err := kernel.TreeHash(r.kernel.BuildDir)
	if err != nil {
		return "", false, fail(verdict.Infra, err, "the kernel tree is incomplete")
	}
	key, err := kernel.ModuleKey(r.kernel.Key+";"+tree, spec)
	if err != nil {
		return "", false, fail(verdict.Setup, err, "read -module %s", r.opts.ModuleDir)
	}
	shown := displayDir(r.opts.ModuleDir)
	dir, hit, err := r.opts.Cache.Get(ctx, "module", key, r.buildModule(spec, shown))
	if err != nil {
		return "", false, err
	}
	built, err := kernel.ReadBuilt(dir)
	if err != nil || len(built.Kos) == 0 {
		return "", false, fail(verdict.Infra, err, "module cache entry %s records no module", dir)
	}
	if r.kos, err = loadOrder(dir, built.Kos); err != nil {
		return "", hit, fail(verdict.ModuleBuild, err, "the modules cannot be loaded in any order")
	}
	r.ko, r.moduleBuild = r.kos[len(r.kos)-1], filepath.Join(dir, spec.Rel())
	r.res.Module = strings.TrimSuffix(filepath.Base(r.ko), ".ko")
	var names []string
	for _, ko := range r.kos {
		names = append(names, filepath.Base(ko))
		copyFile(ko, filepath.Join(r.opts.ArtifactDir, filepath.Base(ko)))
	}
	if err := kernel.CheckParams(r.ko, r.opts.ModuleParams); err != nil {
		return "", hit, fail(verdict.Setup, err, "-module-params %q", r.opts.ModuleParams)
	}
	r.opts.Printer.Printf("    %s build: %s", spec.Mode, why)
	if len(r.kos) > 1 {
		r.opts.Printer.Printf("    load order: %s; the module under test is %s", strings.Join(names, ", "), names[len(names)-1])
	}
	nwarn := r.printWarnings(dir, shown)
	how := "built"
	if hit {
		how = "cached"
	}
	return fmt.Sprintf("%s %s (%s), %d warning(s) with W=1", how, strings.Join(names, ", "), spec.Mode, nwarn), hit, nil
}

// loadOrder orders the built modules, relative to dir, so that each
// comes after those it depends on (modinfo's depends); it returns their
// paths.
func loadOrder(dir string, kos []string) ([]string, error) {
	nodes := make([]modinfo.Node, len(kos))
	for i, k := range kos {
		info, err := modinfo.Read(filepath.Join(dir, k))
		if err != nil {
			return nil, err
		}
		name, err := info.Name()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		nodes[i] = modinfo.Node{Name: name, Depends: info.Depends()}
	}
	order, err := modinfo.LoadOrder(nodes)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(order))
	for i, j := range order {
		paths[i] = filepath.Join(dir, kos[j])
	}
	return paths, nil
}

// buildModule builds the module into a cache entry, with its W=1
// warnings in warnings.txt and its log in the artifacts. A compiler error
// names the file as shown, the module directory as the user gave it.
func (r *run) buildModule(spec kernel.ModuleSpec, shown string) cache.BuildFunc {
	logPath := filepath.Join(r.opts.ArtifactDir, layout.ModuleLog)
	return func(ctx context.Context, out string) error {
		logf, err := os.Create(logPath)
		if err != nil {
			return err
		}
		defer logf.Close()
		res, err := kernel.BuildModule(ctx, r.opts.Arch, r.kernel.BuildDir, spec, out, logf)
		var be *kernel.ModuleBuildError
		var none *kernel.NoModulesError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &be):
			errs := inDir(shown, be.Errors)
			first := "see " + logPath
			if len(errs) > 0 {
				first = errs[0]
			}
			return &Error{Class: verdict.ModuleBuild, Title: "the module did not compile",
				Msg:     fmt.Sprintf("the module did not compile: %s (the whole log: %s)", first, logPath),
				Excerpt: strings.Join(errs, "\n"), Build: buildDiagnostics(be.Errors, r.opts.ModuleDir), Err: be.Err}
		case errors.As(err, &none):
			return &Error{Class: verdict.ModuleBuild, Title: "built 0 modules",
				Msg: fmt.Sprintf("%s (the whole log: %s)", none.Error(), logPath)}
		case err != nil:
			return &Error{Class: verdict.ModuleBuild, Title: "the module did not build", Msg: fmt.Sprintf("the module did not build: %v (the whole log: %s)", err, logPath), Err: err}
		}
		return os.WriteFile(filepath.Join(out, "warnings.txt"), []byte(strings.Join(res.Warnings, "\n")), 0o644)
	}
}

// WarmModuleWork builds the module in opts.ModuleWork, the kept build
// directory, unless it holds that build already: after a verdict that
// found the module in the cache, the directory is empty, and the first
// save would pay for make. The build's output is thrown away.
func (p *Prepared) WarmModuleWork(ctx context.Context, opts Options) error {
	if opts.ModuleWork == "" {
		return nil
	}
	spec, _, err := newRun(opts).moduleSpec()
	if err != nil {
		return err
	}
	out, err := os.MkdirTemp("", "mmaprig-warm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	_, err = kernel.BuildModule(ctx, opts.Arch, p.kernel.BuildDir, spec, filepath.Join(out, "module"), io.Discard)
	return err
}
