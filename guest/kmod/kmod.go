// Package kmod loads and unloads kernel modules from the guest programs,
// with deadlines, since a broken module's init may never return.
package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/modinfo"
	"github.com/mmaprig/mmaprig/internal/proc"
)

// ErrTimeout means the module's init or exit did not return in time.
var ErrTimeout = errors.New("did not return")

// bounded runs fn, giving up after timeout, as after times it. The system
// call itself cannot be cancelled, so a hung module keeps one thread.
func bounded(what string, timeout time.Duration, after proc.After, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-after.Timer(timeout):
		return fmt.Errorf("%s %w within %v", what, ErrTimeout, timeout)
	}
}

// Load calls finit_module on path, giving up after timeout (timed by
// after; nil is time.After). A compressed
// module (.ko.xz, .ko.zst, .ko.gz, as distributions ship them) is handed to
// the kernel to decompress (CONFIG_MODULE_DECOMPRESS).
func Load(path, params string, timeout time.Duration, after proc.After) error {
	flags := 0
	if ext := filepath.Ext(path); ext == ".xz" || ext == ".zst" || ext == ".gz" {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return bounded("module init", timeout, after, func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
			return fmt.Errorf("finit_module %s: %w", path, err)
		}
		return nil
	})
}

// Unload removes the module name, giving up after timeout (timed by
// after). It does not
// wait for users: a module in use fails with EBUSY ("in use") instead of
// blocking. Its exit function may still hang.
func Unload(name string, timeout time.Duration, after proc.After) error {
	return bounded("module exit", timeout, after, func() error {
		if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil {
			return fmt.Errorf("delete_module %s: %w", name, err)
		}
		return nil
	})
}

// UnloadFile removes the module that the .ko at path holds.
func UnloadFile(path string, timeout time.Duration, after proc.After) error {
	name, err := Name(path)
	if err != nil {
		return err
	}
	return Unload(name, timeout, after)
}

// Name reads a module's name from its .modinfo section, as the kernel
// does; the file name may differ.
func Name(path string) (string, error) {
	info, err := modinfo.Read(path)
	if err != nil {
		return "", err
	}
	return info.Name()
}
