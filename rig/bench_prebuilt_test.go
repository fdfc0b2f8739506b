package main

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkPrebuilt times a Debian prebuilt kernel's cell, which builds no
// kernel: from an empty cache (the packages downloaded, the u-root base
// built) to the verdict, and warm. Run with -benchtime 1x.
func BenchmarkPrebuilt(b *testing.B) {
	if b.N > 1 {
		b.Skip("run with -benchtime 1x: it downloads Debian's packages and boots VMs")
	}
	t := benchTable{w: os.Stdout}
	const k = "debian:6.12-cloud"
	fmt.Fprintf(t.w, "mmaprig bench: Debian's prebuilt kernel (-kernel %s, TCG, 2 cores)\n", k)
	empty := b.TempDir()
	c := benchRig(b, rigBin, "-kernel", k, "-cache", empty)
	t.row(b, "empty cache to verdict (wall)", c.wall, "target about 2 min")
	for _, s := range []string{"kernel", "initramfs", "module", "boot"} {
		t.row(b, "  "+s+" stage", stage(c.rep, s), "")
	}
	w := medianRuns(b, 5, rigBin, "-kernel", k, "-cache", empty)
	t.row(b, "warm (wall, median of 5)", w.wall, "")
	for _, s := range []string{"kernel", "module", "boot"} {
		t.row(b, "  "+s+" stage", stage(w.rep, s), "")
	}
}
