package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A full disk and a read-only file system are the host's fault wherever
// they come from, and the error names the path and what to do.
func TestAsHostError(t *testing.T) {
	for _, tc := range []struct {
		err   error
		errno unix.Errno
		says  string
	}{
		{&fs.PathError{Op: "write", Path: "/c/module/x.c", Err: unix.ENOSPC}, unix.ENOSPC, "free space there, or point -cache or XDG_CACHE_HOME"},
		{fmt.Errorf("copy: %w", &fs.PathError{Op: "open", Path: "/c/module/x.c", Err: unix.EROFS}), unix.EROFS, "writable file system"},
		{&os.LinkError{Op: "rename", Old: "/c/a", New: "/c/module/x.c", Err: unix.EDQUOT}, unix.EDQUOT, "free space"},
	} {
		he := AsHostError(tc.err)
		if he == nil {
			t.Errorf("AsHostError(%v) = nil; want %v", tc.err, tc.errno)
			continue
		}
		if he.Errno != tc.errno || he.Path != "/c/module/x.c" {
			t.Errorf("AsHostError(%v) = %v at %q; want %v at /c/module/x.c", tc.err, he.Errno, he.Path, tc.errno)
		}
		if msg := he.Error(); !strings.HasPrefix(msg, "/c/module/x.c: ") || !strings.Contains(msg, tc.says) {
			t.Errorf("%q does not name the path and say %q", msg, tc.says)
		}
	}
	// Permission denied may be the user's (an unreadable module), so
	// only a write of the rig's own files makes it the host's.
	denied := &fs.PathError{Op: "open", Path: "/home/dev/mod/x.c", Err: unix.EACCES}
	if he := AsHostError(denied); he != nil {
		t.Errorf("AsHostError(%v) = %v; want nil", denied, he)
	}
	if he := WriteFault("/c/module", denied); he == nil || he.Path != "/c/module" || !strings.Contains(he.Error(), "fix its owner or permissions") {
		t.Errorf("WriteFault = %v; want permission advice for /c/module", he)
	}
	for _, err := range []error{nil, errors.New("exit status 2"), &fs.PathError{Op: "open", Path: "/x", Err: unix.ENOENT}} {
		if he := AsHostError(err); he != nil {
			t.Errorf("AsHostError(%v) = %v; want nil", err, he)
		}
	}
}

// A build's output that says a write failed makes the failure the host's;
// an ordinary failure on a disk with room does not.
func TestBuildHostFault(t *testing.T) {
	dir := t.TempDir()
	if free, err := FreeBytes(dir); err != nil || free < fullBelow {
		t.Skipf("the test's own disk is full (%d bytes free, %v)", free, err)
	}
	failed := errors.New("exit status 2")
	for _, out := range []string{
		"fixdep: error writing file: not all data was written",
		"/c/m/x.o: No space left on device",
	} {
		if he := BuildHostFault(dir, out, failed); he == nil || he.Errno != unix.ENOSPC || he.Path != dir {
			t.Errorf("BuildHostFault(%q) = %v; want ENOSPC at %s", out, he, dir)
		}
	}
	if he := BuildHostFault(dir, "x.c:1:1: error: expected ';'", failed); he != nil {
		t.Errorf("an ordinary compile error is the host's: %v", he)
	}
}

// FreeBytes answers for a path that does not exist yet, from its nearest
// parent, as for a cache about to be made.
func TestFreeBytesOfAMissingPath(t *testing.T) {
	dir := t.TempDir()
	want, err := FreeBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FreeBytes(filepath.Join(dir, "not", "yet"))
	if err != nil || got == 0 || want == 0 {
		t.Errorf("FreeBytes of a missing path = %d, %v; of its parent %d", got, err, want)
	}
}

// Open on a directory the rig cannot write says which and what to do.
func TestOpenNamesTheHostFault(t *testing.T) {
	err := unwritable("/c", &fs.PathError{Op: "open", Path: "/c/.probe-1", Err: unix.EROFS})
	if !errors.Is(err, ErrUnwritable) || AsHostError(err) == nil || !strings.Contains(err.Error(), "/c: read-only file system") {
		t.Errorf("unwritable = %v; want ErrUnwritable with the host's fault at /c", err)
	}
}
