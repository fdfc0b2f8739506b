// Package devnode checks and makes the run's device nodes in the guest:
// before insmod, that none the module is to provide exists yet; after
// it, that each appeared, making the char nodes of a driver that leaves
// mknod to user space from the major it registered in /proc/devices.
package devnode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// Prior returns the nodes of devs that exist now, but for those marked
// existing. Called before insmod, it finds the nodes that cannot be the
// module's.
func Prior(devs []wire.Device) []string {
	var prior []string
	for _, d := range devs {
		if _, err := os.Lstat(d.Path); err == nil && !d.Existing {
			prior = append(prior, d.Path)
		}
	}
	return prior
}

// RecordPrior writes Prior's answer to wire.PriorNodesPath, for the
// device step that runs after insmod, on either channel.
func RecordPrior(devs []wire.Device) error {
	var b strings.Builder
	for _, p := range Prior(devs) {
		b.WriteString(p + "\n")
	}
	return os.WriteFile(wire.PriorNodesPath, []byte(b.String()), 0o644)
}

// ReadPrior reads what RecordPrior wrote.
func ReadPrior() ([]string, error) {
	b, err := os.ReadFile(wire.PriorNodesPath)
	if err != nil {
		return nil, fmt.Errorf("the list of nodes that existed before insmod: %w", err)
	}
	return wire.Lines(string(b)), nil
}

// PriorError is the device step's error for a node that existed before
// the module loaded, with what to do instead.
func PriorError(path string) error {
	return fmt.Errorf("%s %s; it is not the module's device. Name the node the module creates (-device /dev/NAME), "+
		"or for a char driver that registers a major and leaves mknod to user space, have the guest make the node: "+
		"-device /dev/NAME=c:DRIVER:MINOR (DRIVER as in /proc/devices); "+
		"if the module really works through a node that exists without it, mark it: -device %s=existing",
		path, wire.ErrPriorNode, path)
}

// Ready is the device step: it fails on a node that existed before
// insmod (prior), then makes each char node and waits for every node,
// all within timeout.
func Ready(devs []wire.Device, prior []string, timeout time.Duration) error {
	for _, d := range devs {
		if slices.Contains(prior, d.Path) {
			return PriorError(d.Path)
		}
	}
	deadline := time.Now().Add(timeout)
	for _, d := range devs {
		var err error
		if d.Driver != "" {
			err = retry(deadline, func() error { return Make(d) })
		} else {
			err = retry(deadline, func() error { _, err := os.Stat(d.Path); return err })
		}
		if err != nil {
			return fmt.Errorf("%s did not appear within %v: %w", d.Path, timeout, err)
		}
	}
	return nil
}

// retry calls fn until it succeeds or the deadline passes, and returns its
// last error.
func retry(deadline time.Time, fn func() error) error {
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Make makes d's char node from the major /proc/devices gives its driver.
// A char node already there with that number is kept; one with another
// number, left by an earlier load whose driver got another major, is made
// again. Anything else at the path is an error.
func Make(d wire.Device) error {
	major, err := Major(d.Driver)
	if err != nil {
		return err
	}
	want := unix.Mkdev(major, d.Minor)
	var st unix.Stat_t
	switch err := unix.Lstat(d.Path, &st); {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == want:
		return nil
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR:
		if err := os.Remove(d.Path); err != nil {
			return err
		}
	case err == nil:
		return fmt.Errorf("%s is there but is not a char device node", d.Path)
	case !errors.Is(err, unix.ENOENT):
		return err
	}
	// udev makes the directories of nodes such as /dev/snd/controlC0.
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
		return err
	}
	if err := unix.Mknod(d.Path, unix.S_IFCHR|0o600, int(want)); err != nil {
		return fmt.Errorf("mknod %s c %d %d: %w", d.Path, major, d.Minor, err)
	}
	return nil
}

// Major is the char major /proc/devices gives driver.
func Major(driver string) (uint32, error) {
	f, err := os.Open("/proc/devices")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseMajor(f, driver)
}

// parseMajor finds driver in /proc/devices' "Character devices:" section.
func parseMajor(r io.Reader, driver string) (uint32, error) {
	sc := bufio.NewScanner(r)
	inChar := false
	var names []string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasSuffix(line, ":"):
			inChar = line == "Character devices:"
			continue
		case !inChar:
			continue
		}
		num, name, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if name == driver {
			n, err := strconv.ParseUint(num, 10, 32)
			return uint32(n), err
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no char driver %q in /proc/devices (it lists %s): the module registered no major by that name",
		driver, strings.Join(names, ", "))
}

// Step is the device step, after insmod, on either channel: Ready, with
// the nodes RecordPrior found before it.
func Step(devs []wire.Device, timeout time.Duration) error {
	prior, err := ReadPrior()
	if err != nil {
		return err
	}
	return Ready(devs, prior, timeout)
}
