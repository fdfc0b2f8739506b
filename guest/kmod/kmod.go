// Package kmod loads and unloads kernel modules from the guest programs,
// with deadlines, since a broken module's init may never return.
package kmod

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout means the module's init did not return in time.
var ErrTimeout = errors.New("module init did not return")

// Load calls finit_module on path. It gives up after timeout; the call
// itself cannot be cancelled, so a hung init keeps one thread.
func Load(path, params string, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.FinitModule(int(f.Fd()), params, 0); err != nil {
			done <- fmt.Errorf("finit_module %s: %w", path, err)
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("%w within %v", ErrTimeout, timeout)
	}
}

// Unload removes the module name. It does not wait: a module in use fails
// with EBUSY ("in use") instead of blocking.
func Unload(name string) error {
	if err := unix.DeleteModule(name, unix.O_NONBLOCK); err != nil {
		return fmt.Errorf("delete_module %s: %w", name, err)
	}
	return nil
}

// Name reads a module's name from its .modinfo section, as the kernel
// does; the file name may differ.
func Name(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info := f.Section(".modinfo")
	if info == nil {
		return "", fmt.Errorf("%s: no .modinfo section; not a kernel module", path)
	}
	b, err := info.Data()
	if err != nil {
		return "", fmt.Errorf("%s: read .modinfo: %w", path, err)
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "name="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no name= in .modinfo", path)
}

// WaitNode waits until path exists.
func WaitNode(path string, timeout time.Duration) error {
	start := time.Now()
	for {
		_, err := os.Stat(path)
		if err == nil {
			return nil
		}
		if time.Since(start) >= timeout {
			return fmt.Errorf("%s did not appear within %v: %w", path, timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
