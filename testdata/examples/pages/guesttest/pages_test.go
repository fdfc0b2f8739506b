// Package pages_test is the example driver's own guest test: the rig
// builds it with go test -c, runs it in the guest after the module has
// loaded, and reports each test as a case of the run.
//
//	go run ./rig -module testdata/examples/pages -device /dev/pages \
//		-checks none -guest-test guesttest -module-params npages=3
package pages_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// device is the node the rig told the module to create.
func device(t *testing.T) string {
	t.Helper()
	dev := os.Getenv("MMAPRIG_DEVICE")
	if dev == "" {
		t.Skip("MMAPRIG_DEVICE is not set: this test runs in the rig's guest")
	}
	return dev
}

// npages is the module's parameter, as the running kernel has it.
func npages(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/sys/module/pages/parameters/npages")
	if err != nil {
		t.Fatalf("read the module's npages: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("npages %q: %v", b, err)
	}
	return n
}

func mapPages(t *testing.T, n int, flags int) ([]byte, error) {
	t.Helper()
	f, err := os.OpenFile(device(t), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return unix.Mmap(int(f.Fd()), 0, n*os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, flags)
}

func TestPagesHoldTheirIndex(t *testing.T) {
	n := npages(t)
	p, err := mapPages(t, n, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("map %d pages: %v", n, err)
	}
	defer unix.Munmap(p)
	size := os.Getpagesize()
	for i := 0; i < n; i++ {
		for _, off := range []int{0, size / 2, size - 1} {
			if got := p[i*size+off]; got != byte(i) {
				t.Errorf("page %d, offset %d holds %d, want %d", i, off, got, i)
			}
		}
	}
}

func TestRefusesMoreThanNpages(t *testing.T) {
	n := npages(t)
	if p, err := mapPages(t, n+1, unix.MAP_SHARED); err == nil {
		unix.Munmap(p)
		t.Fatalf("mapping %d pages of %d succeeded", n+1, n)
	} else if !errors.Is(err, unix.EINVAL) {
		t.Fatalf("mapping %d pages of %d: %v, want EINVAL", n+1, n, err)
	}
}

func TestRefusesPrivateMaps(t *testing.T) {
	if p, err := mapPages(t, 1, unix.MAP_PRIVATE); err == nil {
		unix.Munmap(p)
		t.Fatal("a MAP_PRIVATE mapping succeeded")
	}
}
