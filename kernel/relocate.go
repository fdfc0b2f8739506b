package kernel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// A kernel built out of tree (O=) names its source tree in two files that
// kbuild writes into the build directory: the "source" link, and a
// Makefile that includes the source tree's. Kbuild writes the absolute
// path; so a cache entry built that way refers to the cache's src/ entry
// by where the cache was, and a cache that moves (restored under another
// HOME, copied, in a container) leaves every module build failing on
// "Makefile:2: .../Makefile: No such file or directory". The rig names
// the source tree by a path relative to the build directory instead, and
// repairs an entry whose reference is stale, in place: it costs a rename,
// where a rebuild would cost minutes.

// includeRE matches the generated Makefile's include of the source tree's.
var includeRE = regexp.MustCompile(`(?m)^include (\S+)/Makefile$`)

// sourceRef is the source tree the build directory dir includes, as its
// Makefile names it.
func sourceRef(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return "", err
	}
	m := includeRE.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s/Makefile includes no source tree's Makefile", dir)
	}
	return string(m[1]), nil
}

// relinkSource makes the build directory dir name the source tree src by
// a path relative to dir, in its Makefile and its "source" link. Each file
// is written aside and renamed into place, so a reader sees the old one
// or the new, and a hard-linked copy of the entry is never written to.
func relinkSource(dir, src string) error {
	old, err := sourceRef(dir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, src)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(b), old+"/", rel+"/")
	tmp := filepath.Join(dir, ".Makefile.tmp-"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return cacheWriteErr(dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "Makefile")); err != nil {
		os.Remove(tmp)
		return cacheWriteErr(dir, err)
	}
	link := filepath.Join(dir, ".source.tmp-"+strconv.Itoa(os.Getpid()))
	os.Remove(link)
	if err := os.Symlink(rel, link); err != nil {
		return cacheWriteErr(dir, err)
	}
	if err := os.Rename(link, filepath.Join(dir, "source")); err != nil {
		os.Remove(link)
		return cacheWriteErr(dir, err)
	}
	return nil
}

func cacheWriteErr(dir string, err error) error {
	if he := cache.WriteFault(dir, err); he != nil {
		return he
	}
	return fmt.Errorf("repoint the kernel tree %s at its source: %w", dir, err)
}

// staleSource says why the build directory dir must be pointed at src,
// the source tree of its own cache, or "" if it need not: it already
// names src, or it names a source tree that exists while src does not.
func staleSource(dir, src string) string {
	ref, err := sourceRef(dir)
	if err != nil {
		return "" // not a tree kbuild generated; nothing to repair
	}
	at := ref
	if !filepath.IsAbs(at) {
		at = filepath.Join(dir, at)
	}
	if _, err := os.Stat(filepath.Join(at, "Makefile")); err != nil {
		return fmt.Sprintf("it names its source tree as %s, which is gone (the cache moved?)", ref)
	}
	// Directories, not files: a hard-linked copy shares the files.
	there, _ := os.Stat(at)
	own, err := os.Stat(src)
	switch {
	case err != nil:
		return "" // it works, and this cache has no tree of its own
	case os.SameFile(there, own):
		return ""
	}
	return fmt.Sprintf("it names the source tree of another cache, %s", ref)
}

// repairSource points the cached build directory dir at this cache's
// source tree when its reference is stale, unpacking the source first if
// this cache lacks it. It returns a note for the stage line, or "".
func repairSource(ctx context.Context, u unpacker, env *Env, dir string) (string, error) {
	id, err := u.ID(ctx, env.Cache)
	if err != nil {
		return "", err
	}
	src := env.Cache.Path("src", cache.Key(id))
	why := staleSource(dir, src)
	if why == "" {
		return "", nil
	}
	if _, err := os.Stat(src); err != nil {
		env.progress(0, "unpacking "+u.String()+" for a tree that lost its source")
		if src, err = unpackedSourceDir(ctx, u, env); err != nil {
			return "", err
		}
	}
	if err := relinkSource(dir, src); err != nil {
		return "", err
	}
	env.Log.Warn("the cached kernel tree now names its source by a relative path; no rebuild needed",
		"tree", dir, "why", why, "source", src)
	return "source relinked: " + why, nil
}
