// Package chrmap_test is the chrmap fixture's guest test: it finds the
// run's device nodes in MMAPRIG_DEVICES, which the rig made from the
// major chrmap registered, and checks each minor's page.
//
//	go run ./rig -module testdata/modules/chrmap -guest-test guesttest \
//		-device /dev/chrmap0=c:chrmap:0 -device /dev/chrmap1=c:chrmap:1
package chrmap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// devices are the run's nodes, in -device's order.
func devices(t *testing.T) []string {
	t.Helper()
	list := os.Getenv("MMAPRIG_DEVICES")
	if list == "" {
		t.Skip("MMAPRIG_DEVICES is not set: this test runs in the rig's guest")
	}
	return filepath.SplitList(list)
}

// The guest tests get every device, and the first as MMAPRIG_DEVICE.
func TestEnvNamesBothDevices(t *testing.T) {
	devs := devices(t)
	if want := []string{"/dev/chrmap0", "/dev/chrmap1"}; !slices.Equal(devs, want) {
		t.Fatalf("MMAPRIG_DEVICES = %q; want %q", devs, want)
	}
	if first := os.Getenv("MMAPRIG_DEVICE"); first != devs[0] {
		t.Errorf("MMAPRIG_DEVICE = %q; want the first device, %q", first, devs[0])
	}
}

// Each minor maps its own page: minor 0 starts 0..9, minor 1 9..0.
func TestSeedBytesOfEachMinor(t *testing.T) {
	want := [][]byte{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}}
	for i, dev := range devices(t) {
		var st unix.Stat_t
		if err := unix.Stat(dev, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Minor(st.Rdev) != uint32(i) {
			t.Fatalf("%s: %v, mode %o, rdev %d:%d; want a char node of minor %d", dev, err, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), i)
		}
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			t.Fatalf("map %s: %v", dev, err)
		}
		if got := p[:10]; !bytes.Equal(got, want[i]) {
			t.Errorf("%s starts % x; want % x", dev, got, want[i])
		}
		unix.Munmap(p)
	}
}
