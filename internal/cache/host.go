package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// HostError is a fault of the host's, not of anything the rig builds or
// tests: a full disk, a read-only file system, a directory the rig may
// not write. The user fixes the machine, or points the rig elsewhere.
type HostError struct {
	// Path is the file or directory that could not be written.
	Path string
	// Errno is the fault: ENOSPC, EDQUOT, EROFS, EACCES or EPERM.
	Errno syscall.Errno
	// Move says how to choose another place, such as "-artifacts";
	// empty means the cache's "-cache or XDG_CACHE_HOME".
	Move string
	// Err is the error as it came.
	Err error
	// Free is the space left on Path's disk when the fault was found, or
	// -1 if unknown; a failed build's files are gone by the time the
	// error is shown.
	Free int64
}

// newHostError notes the free space of path's disk as the fault is found.
func newHostError(path string, errno syscall.Errno, err error) *HostError {
	he := &HostError{Path: path, Errno: errno, Err: err, Free: -1}
	if n, ferr := FreeBytes(path); ferr == nil {
		he.Free = int64(n)
	}
	return he
}

func (e *HostError) Error() string {
	return fmt.Sprintf("%s: %v; %s", e.Path, e.Errno, e.Advice())
}

func (e *HostError) Unwrap() error { return e.Err }

// Full reports whether the fault is a full disk or quota.
func (e *HostError) Full() bool { return e.Errno == unix.ENOSPC || e.Errno == unix.EDQUOT }

// Title names the fault in a few stable words.
func (e *HostError) Title() string {
	switch {
	case e.Full():
		return "the host's disk is full"
	case e.Errno == unix.EROFS:
		return "a directory of the host is read-only"
	default:
		return "a directory of the host is not writable"
	}
}

// Advice says what to do about the fault.
func (e *HostError) Advice() string {
	move := e.Move
	if move == "" {
		move = "-cache or XDG_CACHE_HOME"
	}
	switch {
	case e.Full():
		free := "almost nothing"
		if e.Free >= 0 {
			free = fmt.Sprintf("%d KiB", e.Free>>10)
		}
		return fmt.Sprintf("the disk that holds it has %s free: free space there, or point %s at a disk with room", free, move)
	case e.Errno == unix.EROFS:
		return fmt.Sprintf("point %s at a directory on a writable file system", move)
	default:
		return fmt.Sprintf("the rig (uid %d) may not write there: fix its owner or permissions, or point %s at a directory it may write", os.Geteuid(), move)
	}
}

// anyWrite are the errors that are the host's fault whatever the rig was
// doing; EACCES and EPERM are the host's only where the rig was writing
// its own files (see WriteFault), and may be the user's elsewhere.
var anyWrite = []syscall.Errno{unix.ENOSPC, unix.EDQUOT, unix.EROFS}

// AsHostError returns the HostError in err's chain, or makes one if the
// chain holds a full disk or a read-only file system, with the path it
// was about; nil if the error is not the host's fault.
func AsHostError(err error) *HostError {
	var he *HostError
	if errors.As(err, &he) {
		return he
	}
	return asErrno(err, errPath(err), anyWrite)
}

// WriteFault is the host's fault of a failed write of the rig's own
// files under path: AsHostError's, or permission denied; nil otherwise.
func WriteFault(path string, err error) *HostError {
	if he := AsHostError(err); he != nil {
		he.Path = path
		return he
	}
	return asErrno(err, path, []syscall.Errno{unix.EACCES, unix.EPERM})
}

func asErrno(err error, path string, errnos []syscall.Errno) *HostError {
	for _, errno := range errnos {
		if errors.Is(err, errno) {
			return newHostError(path, errno, err)
		}
	}
	return nil
}

// errPath is the path an error is about, or "" if it names none.
func errPath(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Path
	case errors.As(err, &le):
		return le.New
	}
	return ""
}

// FreeBytes is how many bytes an unprivileged writer can still store on
// the file system that holds path, or its nearest existing parent.
func FreeBytes(path string) (uint64, error) {
	for p := path; ; {
		var st unix.Statfs_t
		err := unix.Statfs(p, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		parent := p[:max(strings.LastIndex(p, "/"), 1)]
		if !errors.Is(err, unix.ENOENT) || parent == p {
			return 0, fmt.Errorf("statfs %s: %w", p, err)
		}
		p = parent
	}
}

// fullBelow is the free space under which a disk counts as full: no
// module build fits in it.
const fullBelow = 1 << 20

// DiskFull reports whether the disk that holds path is full; a build
// that failed there failed for the host's reason, whatever it printed.
func DiskFull(path string) bool {
	n, err := FreeBytes(path)
	return err == nil && n < fullBelow
}

// noSpaceText is what tools print when a write fails for lack
// of space. fixdep says "not all data was written" for any failed write.
var noSpaceText = []string{"No space left on device", "Disk quota exceeded", "not all data was written"}

// NoSpace returns what in output says that a write failed for lack of
// space, or "".
func NoSpace(output string) string {
	for _, s := range noSpaceText {
		if strings.Contains(output, s) {
			return s
		}
	}
	return ""
}

// BuildHostFault decides whether a build in dir that failed with output
// failed for the host's reason: its disk is full now, or a tool said a
// write failed for lack of space. It returns nil otherwise.
func BuildHostFault(dir, output string, err error) *HostError {
	said := NoSpace(output)
	if said != "" {
		err = fmt.Errorf("%w (the build said %q)", err, said)
	}
	if said != "" || DiskFull(dir) {
		return newHostError(dir, unix.ENOSPC, err)
	}
	if strings.Contains(output, "Read-only file system") {
		return newHostError(dir, unix.EROFS, err)
	}
	return nil
}
