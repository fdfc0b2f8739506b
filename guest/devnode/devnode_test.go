package devnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
