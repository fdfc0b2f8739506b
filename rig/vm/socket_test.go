package vm

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// A stale gdbstub socket (its QEMU killed) is removed; anything else at
// its path is left alone.
func TestRemoveSocket(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "gdb.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false) // as a killed QEMU leaves it
	l.Close()
	file := filepath.Join(dir, "notes")
	if err := os.WriteFile(file, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		gone bool
	}{
		{stale, true},
		{file, false},
		{filepath.Join(dir, "missing"), true},
		{"", true},
	} {
		removeSocket(tc.path, nil)
		if tc.path == "" {
			continue
		}
		_, err := os.Lstat(tc.path)
		if gone := os.IsNotExist(err); gone != tc.gone {
			t.Errorf("%s: gone %v (%v), want %v", tc.path, gone, err, tc.gone)
		}
	}
}
