// Package cache is the rig's content-addressed store of built things:
// kernel trees, module builds and initramfs bases. An entry is a directory
// named by a hash of everything that went into it. It is built under a
// temporary name, while a lock is held, and renamed into place only when
// the build succeeded, so a failed or killed build is never a hit.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Cache is a store rooted at a directory.
type Cache struct {
	root string
	log  *slog.Logger
}

// DefaultRoot is $XDG_CACHE_HOME/mmaprig, or ~/.cache/mmaprig.
func DefaultRoot() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w (set XDG_CACHE_HOME or use -cache)", err)
	}
	return filepath.Join(dir, "mmaprig"), nil
}

// ErrUnwritable means the cache root cannot be written.
var ErrUnwritable = errors.New("cache directory is not writable")

// unwritable is ErrUnwritable for dir, with the host's fault when the
// error is one, so that it names dir and says what to do.
func unwritable(dir string, err error) error {
	if he := WriteFault(dir, err); he != nil {
		return fmt.Errorf("%w: %w", ErrUnwritable, he)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnwritable, dir, err)
}

// Open makes sure root exists and is writable, and removes what builders
// that died (even by kill -9) left behind.
func Open(root string, log *slog.Logger) (*Cache, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, unwritable(root, err)
	}
	f, err := os.CreateTemp(root, ".probe-*")
	if err != nil {
		return nil, unwritable(root, err)
	}
	f.Close()
	os.Remove(f.Name())
	c := &Cache{root: root, log: log}
	c.sweep()
	return c, nil
}

// sweep removes the temporary directories of builds whose builder is gone.
// A builder holds its entry's lock while the directory exists, so a
// directory whose lock can be taken at once has no owner.
func (c *Cache) sweep() {
	stale, _ := filepath.Glob(filepath.Join(c.root, "*", "*.tmp-*"))
	for _, tmp := range stale {
		final, _, _ := strings.Cut(tmp, ".tmp-")
		f, err := os.OpenFile(final+".lock", os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			c.log.Debug("removing a dead build's leftovers", "dir", tmp)
			os.RemoveAll(tmp)
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		f.Close()
	}
}

// Root is the cache's directory.
func (c *Cache) Root() string { return c.root }

// Key hashes parts into an entry name. Each part is length-prefixed, so
// that ("ab", "c") and ("a", "bc") differ.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// HashFile returns the hex sha256 of a file's contents.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Path is where entry kind/key lives once it is built.
func (c *Cache) Path(kind, key string) string {
	return filepath.Join(c.root, kind, key)
}

// Lookup reports whether entry kind/key exists.
func (c *Cache) Lookup(kind, key string) (string, bool) {
	p := c.Path(kind, key)
	_, err := os.Stat(p)
	return p, err == nil
}

// BuildFunc fills dir, an empty directory, with an entry.
type BuildFunc func(ctx context.Context, dir string) error

// Get returns the directory of entry kind/key, calling build to make it if
// it is missing. hit reports whether the entry already existed. Concurrent
// callers, in this process or others, build an entry once: the others wait
// for the lock and then find it.
func (c *Cache) Get(ctx context.Context, kind, key string, build BuildFunc) (dir string, hit bool, err error) {
	if p, ok := c.Lookup(kind, key); ok {
		return p, true, nil
	}
	final := c.Path(kind, key)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", false, unwritable(filepath.Dir(final), err)
	}
	unlock, err := c.lock(ctx, final+".lock")
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, true, nil // another builder finished while we waited
	}
	c.removeStale(final)

	tmp := final + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", false, unwritable(filepath.Dir(final), err)
	}
	if err := build(ctx, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", false, err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", false, fmt.Errorf("commit cache entry %s: %w", final, unwritable(filepath.Dir(final), err))
	}
	return final, false, nil
}

// removeStale deletes the temporary directories that killed builders left
// behind. The caller holds the entry's lock, so no live builder owns them.
func (c *Cache) removeStale(final string) {
	stale, _ := filepath.Glob(final + ".tmp-*")
	for _, s := range stale {
		c.log.Debug("removing a killed build's leftovers", "dir", s)
		os.RemoveAll(s)
	}
}

// lock takes an exclusive flock on path, waiting until ctx ends. The kernel
// drops the lock when the holder dies, even by kill -9.
func (c *Cache) lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, unwritable(filepath.Dir(path), err)
	}
	waiting := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waiting {
			c.log.Info("another rig is building this entry; waiting", "lock", path)
			waiting = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Update runs fn on an existing entry in place, holding the entry's lock.
// It is for sources that change under the same key, such as a kernel tree
// the user edits. If fn fails, the entry is removed, so a half-updated
// entry is never trusted.
func (c *Cache) Update(ctx context.Context, kind, key string, fn BuildFunc) error {
	final := c.Path(kind, key)
	unlock, err := c.lock(ctx, final+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if err := fn(ctx, final); err != nil {
		if rerr := os.RemoveAll(final); rerr != nil {
			c.log.Warn("remove a failed update", "dir", final, "err", rerr)
		}
		return err
	}
	return nil
}

// Remove deletes entry kind/key, holding its lock, so that an entry found
// broken is built afresh. A reader that has the entry's files open keeps
// them until it closes them.
func (c *Cache) Remove(ctx context.Context, kind, key string) error {
	final := c.Path(kind, key)
	unlock, err := c.lock(ctx, final+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	// Rename first, so that no one finds half an entry.
	doomed := final + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := os.Rename(final, doomed); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove cache entry %s: %w", final, err)
	}
	return os.RemoveAll(doomed)
}
