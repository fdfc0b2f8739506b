package runner

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/images"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// baseKey hashes what goes into the u-root base: the sources of the guest
// programs and of the rig's packages they import, go.mod and go.sum, the
// command list, and the Go version.
func baseKey(root string, base images.Base) (string, error) {
	parts := []string{"uroot-base;v3", runtime.Version(), base.Init, strings.Join(base.Commands, ","), strings.Join(base.Binaries, ",")}
	if base.GOARCH != "amd64" {
		// The first architecture's keys stay what they were.
		parts = append(parts, "GOARCH="+base.GOARCH)
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		sum, err := cache.HashFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		parts = append(parts, f, sum)
	}
	files, err := guestSources(root)
	if err != nil {
		return "", fmt.Errorf("hash the guest sources: %w", err)
	}
	for _, f := range files {
		sum, err := cache.HashFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		parts = append(parts, f, sum)
	}
	return cache.Key(parts...), nil
}

// modulePath is the rig's Go module.
const modulePath = "github.com/mmaprig/mmaprig"

// guestSources lists, relative to root and sorted, the non-test Go files of
// guest/ and of every package of this module they import, transitively.
func guestSources(root string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	queue := []string{}
	entries, err := os.ReadDir(filepath.Join(root, "guest"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			queue = append(queue, filepath.Join("guest", e.Name()))
		}
	}
	fset := token.NewFileSet()
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		gos, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, g := range gos {
			if strings.HasSuffix(g, "_test.go") {
				continue
			}
			rel, _ := filepath.Rel(root, g)
			files = append(files, rel)
			f, err := parser.ParseFile(fset, g, nil, parser.ImportsOnly)
			if err != nil {
				return nil, err
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if sub, ok := strings.CutPrefix(path, modulePath+"/"); ok {
					queue = append(queue, filepath.FromSlash(sub))
				}
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

// image finds the initramfs in the cache, or builds it. Nothing of the run
// goes into it: the module, the nonce and the keys come over the results
// port.
func (r *run) image(ctx context.Context, st *progress.Stage) (string, bool, error) {
	base := images.DefaultBase(r.opts.Root, r.opts.Arch.GOARCH)
	key, err := baseKey(r.opts.Root, base)
	if err != nil {
		return "", false, fail(verdict.Setup, err, "the rig's source tree %s is incomplete", r.opts.Root)
	}
	dir, hit, err := r.opts.Cache.Get(ctx, "initramfs", key, func(ctx context.Context, out string) error {
		st.Progress(0, "building the u-root base")
		tmp, err := os.MkdirTemp(r.work.dir, "uimage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := base.BuildInChild(ctx, filepath.Join(out, "base.cpio"), tmp); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return fail(verdict.Infra, err, "build the u-root base initramfs")
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	r.initrd = filepath.Join(dir, "base.cpio")
	summary := "u-root base built"
	if hit {
		summary = "u-root base cached"
	}
	if mods := r.kernel.BootModules; len(mods) > 0 {
		added, err := r.addBootModules(ctx, key, mods)
		if err != nil {
			return "", false, err
		}
		hit = hit && !added
		summary += fmt.Sprintf(", with the kernel's %d boot modules", len(mods))
	}
	return summary, hit, nil
}

// addBootModules points r.initrd at the base followed by the kernel's boot
// modules (see images.WithBootModules), cached for the base and kernel. It
// reports whether it wrote the archive.
func (r *run) addBootModules(ctx context.Context, baseKey string, mods []string) (bool, error) {
	key := cache.Key("initramfs+boot-modules;v1", baseKey, r.kernel.Key, strings.Join(mods, ","))
	dir, hit, err := r.opts.Cache.Get(ctx, "initramfs", key, func(_ context.Context, out string) error {
		return images.WithBootModules(r.initrd, filepath.Join(out, "initrd.cpio"), mods)
	})
	if err != nil {
		return false, fail(verdict.Setup, err, "add the kernel's boot modules to the initramfs")
	}
	r.initrd = filepath.Join(dir, "initrd.cpio")
	return !hit, nil
}
