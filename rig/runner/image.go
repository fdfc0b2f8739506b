package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/guest/protocol"
	"github.com/mmaprig/mmaprig/images"
	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/rig/channel"
)

// baseKey hashes what goes into the u-root base: the sources of the guest
// programs and of the rig's packages they import, go.mod and go.sum, the
// command list, and the Go version.
func baseKey(root string, base images.Base) (string, error) {
	parts := []string{"uroot-base;v2", runtime.Version(), base.Init, strings.Join(base.Commands, ",")}
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

// image makes the initramfs: the cached u-root base, then an overlay with
// the module and the run configuration.
func (r *run) image(ctx context.Context, st *Stage) (string, bool, error) {
	base := images.DefaultBase(r.opts.Root)
	key, err := baseKey(r.opts.Root, base)
	if err != nil {
		return "", false, fail(Setup, err, "the rig's source tree %s is incomplete", r.opts.Root)
	}
	dir, hit, err := r.opts.Cache.Get(ctx, "initramfs", key, func(ctx context.Context, out string) error {
		st.Progress(0, "building the u-root base")
		tmp, err := os.MkdirTemp(r.work, "uimage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := base.Build(ctx, r.opts.Log, filepath.Join(out, "base.cpio"), tmp); err != nil {
			return fail(Infra, err, "build the u-root base initramfs")
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	ko, err := os.ReadFile(r.ko)
	if err != nil {
		return "", false, err
	}
	cfg, err := json.MarshalIndent(r.guestConfig(), "", "  ")
	if err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(r.opts.ArtifactDir, "run.json"), cfg, 0o644); err != nil {
		return "", false, err
	}
	files := []images.File{
		{Path: protocol.ModulePath, Data: ko, Mode: 0o644},
		{Path: protocol.ConfigPath, Data: cfg, Mode: 0o644},
	}
	if r.opts.Channel == protocol.ChannelSSH {
		// Fresh keys for every run; only the initramfs in the private
		// working directory holds them, and it is removed afterwards.
		if r.keys, err = channel.NewKeys(); err != nil {
			return "", false, fail(Infra, err, "make SSH keys")
		}
		files = append(files,
			images.File{Path: protocol.HostKeyPath, Data: r.keys.HostPrivate, Mode: 0o600},
			images.File{Path: protocol.AuthorizedKeyPath, Data: r.keys.ClientAuthorized, Mode: 0o644})
	}
	r.initrd = filepath.Join(r.work, "initramfs.cpio")
	err = images.Assemble(r.initrd, filepath.Join(dir, "base.cpio"), files)
	if err != nil {
		return "", false, fail(Infra, err, "assemble the initramfs")
	}
	how := "built"
	if hit {
		how = "cached"
	}
	return fmt.Sprintf("u-root base %s, overlay with %s", how, filepath.Base(r.ko)), hit, nil
}

func (r *run) guestConfig() protocol.Config {
	t := r.opts.Timeouts
	return protocol.Config{
		Channel:         r.opts.Channel,
		Device:          r.opts.Device,
		LoadTimeoutMS:   t.Load.Milliseconds(),
		DeviceTimeoutMS: 2000,
		RunTimeoutMS:    t.Check.Milliseconds(),
		Programs:        r.programs(),
		Unload:          r.opts.Exec == nil && !r.opts.Shell,
	}
}

// programs are the guest commands run after the module loaded.
func (r *run) programs() [][]string {
	if r.opts.Exec != nil {
		return [][]string{r.opts.Exec}
	}
	progs := [][]string{{"reader", "-dev", r.opts.Device, "-n", strconv.Itoa(len(r.opts.Expect))}}
	if !r.opts.ReaderOnly {
		progs = append(progs, []string{"contract", "-dev", r.opts.Device, "-module", protocol.ModulePath,
			"-expect", expectList(r.opts.Expect)})
	}
	return progs
}

func expectList(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}
