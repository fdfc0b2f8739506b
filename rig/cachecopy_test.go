package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// defaultCacheDir is the cache the rig uses with no -cache flag.
func defaultCacheDir() string {
	home, _ := os.UserCacheDir()
	return filepath.Join(home, "mmaprig")
}

// linkedCache is a new cache that shares the default cache's entries of
// the given kinds ("downloads", "kernel", ...) by hard links: committed
// entries are never written to, only replaced by renames. It lies in the
// test's temporary directory when that is on the cache's file system, and
// beside the cache otherwise (a tmpfs /tmp, a cache on a mounted volume),
// since hard links cannot cross file systems.
func linkedCache(tb testing.TB, kinds ...string) string {
	tb.Helper()
	src := defaultCacheDir()
	dst := filepath.Join(sameFSDir(tb, src), "cache")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		tb.Fatal(err)
	}
	linkInto(tb, dst, kinds...)
	return dst
}

// linkInto hard-links the default cache's entries of the given kinds into
// the cache dst, which must be on the same file system.
func linkInto(tb testing.TB, dst string, kinds ...string) {
	tb.Helper()
	src := defaultCacheDir()
	for _, k := range kinds {
		if _, err := os.Stat(filepath.Join(src, k)); err != nil {
			continue
		}
		if out, err := exec.Command("cp", "-al", filepath.Join(src, k), filepath.Join(dst, k)).CombinedOutput(); err != nil {
			tb.Fatalf("cp -al: %v: %s", err, out)
		}
	}
}

// sameFSDir is a fresh directory, removed after the test, on the file
// system that holds dir (or its parent, when dir does not exist yet).
func sameFSDir(tb testing.TB, dir string) string {
	tb.Helper()
	tmp := tb.TempDir()
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			break
		}
	}
	if device(tmp) == device(dir) {
		return tmp
	}
	near, err := os.MkdirTemp(filepath.Dir(dir), ".mmaprig-test-")
	if err != nil {
		tb.Fatalf("a directory on the cache's file system: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(near) })
	return near
}

// device is the file system that holds path; 0 when it cannot be told.
func device(path string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	return uint64(st.Dev)
}
