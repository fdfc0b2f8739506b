package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
)

// Source is where a kernel comes from: a Debian source package, a tarball,
// a URL, a local tree, or Debian's own prebuilt image. Every one of them
// gives a kernel to boot and a tree to build modules against.
type Source interface {
	// Key is the cache key of the kernel this source gives with env's
	// fragments: what a CI cache of the rig's kernels is keyed on.
	Key(ctx context.Context, env *Env) (string, error)
	// Prepare builds or fetches the kernel into the cache, or finds it
	// there.
	Prepare(ctx context.Context, env *Env) (*Kernel, error)
	// SourceDir returns the unpacked source tree, for tools such as
	// checkpatch.pl.
	SourceDir(ctx context.Context, env *Env) (string, error)
	String() string
}

// Env is what preparing a kernel needs besides its source.
type Env struct {
	// Arch is the architecture to build for.
	Arch      arch.Arch
	Cache     *cache.Cache
	Fragments []Fragment
	// Jobs is make's -j; 0 means the number of CPUs.
	Jobs int
	// LogPath receives the build log.
	LogPath string
	// Progress, if set, is called as the build goes.
	Progress func(percent int, note string)
	Log      *slog.Logger
}

func (e *Env) progress(pct int, note string) {
	if e.Progress != nil {
		e.Progress(pct, note)
	}
}

// Kernel is a kernel ready to boot, and the tree modules build against.
type Kernel struct {
	// Image is the kernel to boot.
	Image string
	// BuildDir is the tree out-of-tree modules build against (KDIR).
	BuildDir string
	// Config is the kernel's .config.
	Config string
	// Release is what uname -r says.
	Release string
	// Key stands for this kernel in cache keys.
	Key string
	// Fresh is true when this call built, updated or fetched it; false
	// for a cache hit.
	Fresh bool
	// Summary says in a few words what was done, for the stage line.
	Summary string
	// Origin says where it came from.
	Origin Origin
	// BootModules are modules the guest must load before the rig can
	// reach it, in load order: the drivers of the rig's devices, where
	// the kernel has them as modules (a distribution kernel).
	BootModules []string
}

// ErrBuild marks a failed kernel build; the log has the details.
var ErrBuild = errors.New("kernel build failed")

// BuildError is a kernel build that failed; Log is its log file.
type BuildError struct {
	Log string
	Err error
}

func (e *BuildError) Error() string { return fmt.Sprintf("%v; see %s", e.Err, e.Log) }
func (e *BuildError) Unwrap() error { return e.Err }

// unpacker is a source that is unpacked into the cache and built there.
type unpacker interface {
	// ID names the source's content: two sources with the same ID hold
	// the same tree.
	ID(ctx context.Context, c *cache.Cache) (string, error)
	// Unpack writes the tree into dir, an empty directory.
	Unpack(ctx context.Context, c *cache.Cache, dir string) error
	// Origin says where the tree came from, once ID has resolved it.
	Origin(ctx context.Context, c *cache.Cache) Origin
	String() string
}

func unpackedKey(ctx context.Context, u unpacker, env *Env) (string, error) {
	id, err := u.ID(ctx, env.Cache)
	if err != nil {
		return "", err
	}
	return Key(ctx, env.Arch, id, env.Fragments), nil
}

func unpackedSourceDir(ctx context.Context, u unpacker, env *Env) (string, error) {
	id, err := u.ID(ctx, env.Cache)
	if err != nil {
		return "", err
	}
	dir, _, err := env.Cache.Get(ctx, "src", cache.Key(id), func(ctx context.Context, dir string) error {
		return u.Unpack(ctx, env.Cache, dir)
	})
	return dir, err
}

// prepareUnpacked builds an unpacked source: cached by its key, built
// out of tree from the cached, unpacked source.
func prepareUnpacked(ctx context.Context, u unpacker, env *Env) (*Kernel, error) {
	key, err := unpackedKey(ctx, u, env)
	if err != nil {
		return nil, err
	}
	fresh := false
	dir, _, err := env.Cache.Get(ctx, "kernel", key, func(ctx context.Context, out string) error {
		fresh = true
		env.progress(0, "unpacking "+u.String())
		src, err := unpackedSourceDir(ctx, u, env)
		if err != nil {
			return err
		}
		if err := build(ctx, env, src, out); err != nil {
			return err
		}
		// Named relatively, the source stays found when the cache moves.
		if err := relinkSource(out, src); err != nil {
			env.Log.Warn("the kernel tree keeps its absolute source path; the cache cannot move", "err", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	note := ""
	if !fresh {
		if note, err = repairSource(ctx, u, env, dir); err != nil {
			return nil, err
		}
	}
	k, err := builtKernel(env.Arch, dir, key, fresh, u.String())
	if err != nil {
		return nil, err
	}
	k.Origin = u.Origin(ctx, env.Cache)
	if note != "" {
		k.Summary += ", " + note
	}
	return k, nil
}

// build configures and compiles the tree src into out, logging to
// env.LogPath.
func build(ctx context.Context, env *Env, src, out string) error {
	logf, err := os.Create(env.LogPath)
	if err != nil {
		return err
	}
	opts := env.buildOptions(logf)
	env.progress(0, "configuring")
	err = Configure(ctx, src, out, opts)
	logf.Close()
	var ms *MissingSymbolsError
	switch {
	case errors.As(err, &ms):
		return err
	case err != nil:
		return &BuildError{Log: env.LogPath, Err: err}
	}
	return compile(ctx, env, src, out)
}

// compile runs make in the configured build directory out, appending to
// the build log.
func compile(ctx context.Context, env *Env, src, out string) error {
	logf, err := os.OpenFile(env.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	steps, err := Compile(ctx, src, out, env.buildOptions(logf))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &BuildError{Log: env.LogPath, Err: err}
	}
	if steps > 100 { // a no-op incremental make says little about a build
		env.saveSteps(steps)
	}
	return nil
}

func (e *Env) buildOptions(log *os.File) BuildOptions {
	return BuildOptions{
		Arch:           e.Arch,
		Fragments:      e.Fragments,
		Jobs:           e.Jobs,
		Log:            log,
		EstimatedSteps: e.estimatedSteps(),
		Progress: func(p Progress) {
			e.progress(p.Percent(), fmt.Sprintf("building (%d/~%d steps)", p.Done, p.Total))
		},
	}
}

// estimatedSteps is the step count of the last kernel build, for progress.
func (e *Env) estimatedSteps() int {
	b, err := os.ReadFile(filepath.Join(e.Cache.Root(), "kernel-steps"))
	if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
		return n
	}
	return 1800
}

func (e *Env) saveSteps(n int) {
	p := filepath.Join(e.Cache.Root(), "kernel-steps")
	tmp := p + ".tmp-" + strconv.Itoa(os.Getpid())
	if os.WriteFile(tmp, []byte(strconv.Itoa(n)), 0o644) == nil {
		os.Rename(tmp, p)
	}
}

// builtKernel describes a tree the rig built.
func builtKernel(a arch.Arch, dir, key string, fresh bool, what string) (*Kernel, error) {
	rel, err := Release(dir)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Image: filepath.Join(dir, a.Image), BuildDir: dir, Config: filepath.Join(dir, ".config"),
		Release: rel, Key: key, Fresh: fresh}
	if fresh {
		k.Summary = fmt.Sprintf("built %s (%s)", rel, what)
	} else {
		k.Summary = fmt.Sprintf("cached %s (%s)", rel, key[:12])
	}
	return k, nil
}

// TreeHash hashes what an out-of-tree module's build depends on in a
// kernel tree: its symbol versions, its configuration and its release. A
// tree rebuilt in place (a local tree the user edits) changes it even
// where the tree's cache key stays the same.
func TreeHash(dir string) (string, error) {
	parts := []string{"tree;v1"}
	for _, f := range []string{"Module.symvers", ".config", "include/generated/autoconf.h", "include/config/kernel.release"} {
		sum, err := cache.HashFile(filepath.Join(dir, f))
		if err != nil {
			return "", fmt.Errorf("hash the kernel tree %s: %w", dir, err)
		}
		parts = append(parts, f, sum)
	}
	return cache.Key(parts...), nil
}
