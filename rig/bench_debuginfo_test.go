package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debugInfoModuleRows times what debug info costs the module build: the
// rig's own kbuild command on a fresh copy of module/ against the warm
// default kernel, with and without CFLAGS_MODULE=-g, interleaved, medians of 5.
func debugInfoModuleRows(b *testing.B, t benchTable) {
	b.Helper()
	kdir := benchKdir(b)
	var with, without []time.Duration
	var sizeWith, sizeWithout int64
	for i := range 5 {
		d, n := timeModuleBuild(b, kdir, i, "CFLAGS_MODULE=-g")
		with, sizeWith = append(with, d), n
		d, n = timeModuleBuild(b, kdir, i)
		without, sizeWithout = append(without, d), n
	}
	t.row(b, "module build, module/ from a fresh copy, no debug info", median(without), "")
	t.row(b, "  the same with debug info (CFLAGS_MODULE=-g), as the rig builds it", median(with), "")
	t.row(b, "  cost of debug info", median(with)-median(without), "")
	fmt.Fprintf(t.w, "  %-62s %6d KiB -> %d KiB\n", "  mymap.ko without and with debug info", sizeWithout>>10, sizeWith>>10)
}

// benchKdir is the default kernel's tree, which the rig builds if it must.
func benchKdir(b *testing.B) string {
	b.Helper()
	out, err := exec.Command(rigBin, "kdir").Output()
	if err != nil {
		b.Fatalf("rig kdir: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// timeModuleBuild builds a fresh copy of module/ with make's W=1 and the
// given variables, and returns the time and the .ko's size.
func timeModuleBuild(b *testing.B, kdir string, i int, vars ...string) (time.Duration, int64) {
	b.Helper()
	dir := filepath.Join(b.TempDir(), fmt.Sprintf("module-%d", i))
	copyDir(b, "../module", dir)
	args := append([]string{"-C", kdir, "M=" + dir, "W=1"}, vars...)
	start := time.Now()
	if out, err := exec.Command("make", append(args, "modules")...).CombinedOutput(); err != nil {
		b.Fatalf("make %v: %v\n%s", args, err, out)
	}
	d := time.Since(start)
	fi, err := os.Stat(filepath.Join(dir, "mymap.ko"))
	if err != nil {
		b.Fatal(err)
	}
	return d, fi.Size()
}

// debugKernelRows builds the debug kernel twice from an empty cache that
// holds only the downloaded sources: the debug fragment as it is, and the
// same without its debug-info lines. The two build at once, so that they
// share whatever else loads the machine; the difference is what debug
// info costs the debug kernel's build.
func debugKernelRows(b *testing.B, t benchTable) {
	b.Helper()
	raw, err := os.ReadFile("../kernel/configs/debug.config")
	if err != nil {
		b.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(l, "CONFIG_DEBUG_INFO") && !strings.HasPrefix(l, "CONFIG_GDB_SCRIPTS") {
			kept = append(kept, l)
		}
	}
	noInfo := filepath.Join(b.TempDir(), "debug-noinfo.config")
	if err := os.WriteFile(noInfo, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	walls := make([]time.Duration, 2)
	errs := make(chan error, 2)
	for i, frag := range []string{"debug", noInfo} {
		cache := b.TempDir()
		copyDir(b, filepath.Join(defaultCacheDir(), "downloads"), filepath.Join(cache, "downloads"))
		go func() {
			start := time.Now()
			out, err := exec.Command(rigBin, "kdir", "-cache", cache, "-config", frag, "-timeout", "2h").CombinedOutput()
			walls[i] = time.Since(start)
			if err != nil {
				err = fmt.Errorf("rig kdir -config %s: %w\n%s", frag, err, out)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	t.row(b, "debug kernel from an empty cache, with debug info (both at once)", walls[0], "")
	t.row(b, "  the same fragment without debug info", walls[1], "")
	t.row(b, "  cost of the debug kernel's debug info", walls[0]-walls[1], "")
}
