// Command reader is the seed's user program, in Go: it opens /dev/mymap,
// maps one page shared, prints the first bytes one per line in decimal, and
// unmaps the page.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	dev := flag.String("dev", "/dev/mymap", "device to map")
	n := flag.Int("n", 10, "number of bytes to print")
	flag.Parse()
	if err := read(os.Stdout, *dev, *n); err != nil {
		fmt.Fprintf(os.Stderr, "reader: %v\n", err)
		os.Exit(1)
	}
}

func read(w io.Writer, dev string, n int) error {
	size := os.Getpagesize()
	if n < 0 || n > size {
		return fmt.Errorf("-n %d: must be between 0 and the page size %d", n, size)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()

	p, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %d bytes, MAP_SHARED: %w", dev, size, err)
	}
	for _, b := range p[:n] {
		if _, err := fmt.Fprintf(w, "%d\n", b); err != nil {
			unix.Munmap(p)
			return err
		}
	}
	if err := unix.Munmap(p); err != nil {
		return fmt.Errorf("munmap %s: %w", dev, err)
	}
	return nil
}
