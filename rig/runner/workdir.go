package runner

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// workPrefix starts the names of the runs' working directories in the
// system's temporary directory.
const workPrefix = "mmaprig-"

// ownerFile is locked by the run that owns a working directory, for as
// long as it runs. The kernel drops the lock when the owner dies, even by
// kill -9, so a directory whose lock can be taken has no owner.
const ownerFile = ".owner"

// sweepAge is how long a working directory must have been left alone
// before a sweep may remove it.
const sweepAge = time.Minute

// workDir is a run's private working directory: the QMP and results
// sockets, the initramfs build's temporary files.
type workDir struct {
	dir   string
	owner *os.File
}

// newWorkDir removes the working directories of runs that died without
// cleaning up, then makes one for this run and locks it.
func newWorkDir() (*workDir, error) {
	return makeWorkDir(os.TempDir())
}

// makeWorkDir is newWorkDir in the directory tmp.
func makeWorkDir(tmp string) (*workDir, error) {
	sweepWorkDirs(tmp)
	dir, err := os.MkdirTemp(tmp, workPrefix)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, ownerFile))
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &workDir{dir: dir, owner: f}, nil
}

// finish removes the directory, or with keep moves it to dst.
func (w *workDir) finish(keep bool, dst string) error {
	defer w.owner.Close()
	if keep {
		os.Remove(filepath.Join(w.dir, ownerFile))
		if err := os.Rename(w.dir, dst); err != nil {
			return err
		}
		return nil
	}
	return os.RemoveAll(w.dir)
}

// sweepWorkDirs removes working directories whose owner is gone. An
// unlocked owner file is not enough: a run creates its owner file a
// moment before it locks it, and a sweep in that moment would remove a
// live run's directory, sockets and all. So a directory is removed only
// when its owner file (or, without one, the directory) is older than
// sweepAge and no one holds the lock.
func sweepWorkDirs(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, workPrefix+"*"))
	for _, d := range dirs {
		owner := filepath.Join(d, ownerFile)
		f, err := os.Open(owner)
		if errors.Is(err, os.ErrNotExist) {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > sweepAge {
				os.RemoveAll(d)
			}
			continue
		}
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err == nil && time.Since(fi.ModTime()) > sweepAge &&
			unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(d)
		}
		f.Close()
	}
}
