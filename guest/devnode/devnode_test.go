package devnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/internal/wire"
)

const procDevices = `Character devices:
  1 mem
  4 /dev/vc/0
 10 misc
248 scull
254 gpiochip

Block devices:
  8 sd
249 scullb
`

// A driver's major comes from the char section only, by its exact name;
// a missing one says what is there.
func TestParseMajor(t *testing.T) {
	for _, tc := range []struct {
		driver string
		want   uint32
		err    string
	}{
		{driver: "scull", want: 248},
		{driver: "misc", want: 10},
		{driver: "scullb", err: `no char driver "scullb" in /proc/devices (it lists mem, /dev/vc/0, misc, scull, gpiochip)`},
		{driver: "scul", err: "no char driver"},
	} {
		got, err := parseMajor(strings.NewReader(procDevices), tc.driver)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseMajor(%q) = %d, %v; want an error with %q", tc.driver, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseMajor(%q) = %d, %v; want %d", tc.driver, got, err, tc.want)
		}
	}
}

// A node that existed before insmod fails the device step with what to
// do, unless it is marked existing; a node the module creates is waited
// for.
func TestReady(t *testing.T) {
	dir := t.TempDir()
	before := filepath.Join(dir, "null")
	later := filepath.Join(dir, "mymap")
	if err := os.WriteFile(before, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	devs := []wire.Device{{Path: before}, {Path: later}}
	prior := Prior(devs)
	if len(prior) != 1 || prior[0] != before {
		t.Fatalf("Prior = %q; want [%s]", prior, before)
	}
	err := Ready(devs, prior, time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), before+" "+wire.ErrPriorNode+"; it is not the module's device") ||
		!strings.Contains(err.Error(), before+"=existing") {
		t.Errorf("Ready with a prior node: %v", err)
	}
	devs[0].Existing = true
	if p := Prior(devs); len(p) != 0 {
		t.Errorf("Prior with the mark = %q; want none", p)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		os.WriteFile(later, nil, 0o644)
	}()
	if err := Ready(devs, Prior(devs[:1]), 5*time.Second); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if err := Ready([]wire.Device{{Path: filepath.Join(dir, "never")}}, nil, 20*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "did not appear within 20ms") {
		t.Errorf("Ready of a node that never comes: %v", err)
	}
}

// Make makes a char node from the major /proc/devices lists, keeps a
// right one, makes a stale one (another major or minor) again, and
// refuses to replace anything that is not a char node. It needs mknod:
// root, in a place that allows device nodes.
func TestMake(t *testing.T) {
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	if err := unix.Mknod(probe, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("no mknod here: %v", err)
	}
	mem, err := Major("mem")
	if err != nil {
		t.Skipf("the host's /proc/devices: %v", err)
	}
	d := wire.Device{Path: filepath.Join(dir, "sub", "null"), Driver: "mem", Minor: 3}
	rdev := func() uint64 {
		var st unix.Stat_t
		if err := unix.Lstat(d.Path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
			t.Fatalf("%s: %v, mode %o; want a char node", d.Path, err, st.Mode)
		}
		return st.Rdev
	}
	want := unix.Mkdev(mem, 3)
	if err := Make(d); err != nil || rdev() != want {
		t.Fatalf("Make: %v; rdev %d, want %d", err, rdev(), want)
	}
	if err := Make(d); err != nil || rdev() != want {
		t.Errorf("Make of a right node: %v; rdev %d, want %d", err, rdev(), want)
	}
	os.Remove(d.Path)
	unix.Mknod(d.Path, unix.S_IFCHR|0o600, int(unix.Mkdev(mem, 5)))
	if err := Make(d); err != nil || rdev() != want {
		t.Errorf("Make of a stale node: %v; rdev %d, want %d", err, rdev(), want)
	}
	os.Remove(d.Path)
	os.WriteFile(d.Path, nil, 0o644)
	if err := Make(d); err == nil || !strings.Contains(err.Error(), "is there but is not a char device node") {
		t.Errorf("Make over a regular file: %v", err)
	}
}
