package main

// make bench: the time of each stage, cold and warm, and the rig's
// boot-to-verdict time against a bare QEMU boot of the same kernel and
// initramfs, timed in the same run. Targets are in the README; this only
// measures. Set MMAPRIG_BENCH_COLD=0 to skip the cold (empty cache) runs:
// the default kernel's, and the debug kernel's with and without debug info.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/u-root/mkuimage/cpio"
	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/runner"
	"github.com/mmaprig/mmaprig/rig/verdict"
	"github.com/mmaprig/mmaprig/rig/vm"
)

type timed struct {
	rep  result.Run
	wall time.Duration
}

// benchRig runs a command that ends in a rig run, and reads its -json.
func benchRig(b *testing.B, name string, args ...string) timed {
	b.Helper()
	js := filepath.Join(b.TempDir(), "result.json")
	art := filepath.Join(b.TempDir(), "artifacts")
	args = append(args, "-json", js, "-artifacts", art)
	start := time.Now()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	cells := readDoc(b, js).Cells
	if len(cells) != 1 {
		b.Fatalf("the -json report has %d cells, want 1", len(cells))
	}
	rep := cells[0].Result
	if rep.Class != verdict.Pass {
		b.Fatalf("%s: %s: %s", name, rep.Class, rep.Verdict())
	}
	return timed{rep, wall}
}

func stage(rep result.Run, name string) time.Duration {
	for _, s := range rep.Stages {
		if s.Stage == name {
			return time.Duration(s.Time.Seconds() * float64(time.Second))
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// floor boots the kernel of a kept run with the rig's QEMU machine line,
// but with a static /init that powers off at once, and without the rig's
// QMP, pause and results port: what a boot costs on its own.
func floor(b *testing.B, art string) time.Duration {
	b.Helper()
	return floorWith(b, art, floorInitramfs(b), false)
}

// floorInitramfs packs testdata/floorinit, built static, as /init.
func floorInitramfs(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-o", bin, "./testdata/floorinit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build floorinit: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "floor.cpio")
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := cpio.Newc.Writer(f)
	if err := cpio.WriteRecordsAndDirs(w, []cpio.Record{cpio.StaticFile("init", string(data), 0o755)}); err != nil {
		b.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkStages measures the rig against the floor, in parts that
// -bench can pick (BenchmarkStages/warm, /watch, ...); make bench runs them
// all. Each part runs once: use -benchtime 1x.
// benchTable prints the bench's rows, and reports each as a metric.
type benchTable struct{ w io.Writer }

func (t benchTable) row(b *testing.B, what string, d time.Duration, target string) {
	fmt.Fprintf(t.w, "  %-62s %9.2fs  %s\n", what, d.Seconds(), target)
	b.ReportMetric(d.Seconds(), strings.ReplaceAll(what, " ", "_")+"_s")
}

func (t benchTable) ratio(b *testing.B, what string, r float64, target string) {
	fmt.Fprintf(t.w, "  %-62s %9.2fx  %s\n", what, r, target)
	b.ReportMetric(r, strings.ReplaceAll(what, " ", "_"))
}

func BenchmarkStages(b *testing.B) {
	w := os.Stdout
	t := benchTable{w: w}
	row, ratio := t.row, t.ratio
	once := func(b *testing.B) {
		if b.N > 1 {
			b.Skip("run with -benchtime 1x: each part boots VMs, and may build kernels")
		}
	}
	fmt.Fprintln(w, "mmaprig bench (TCG, 2 cores; medians of 5 unless said)")

	// The floor: the same kernel and QEMU machine, a static init that
	// powers off at once. A cold run saves the snapshot; time that
	// against a cold boot that saves nothing.
	var fl time.Duration
	b.Run("snapshot", func(b *testing.B) {
		once(b)
		fresh := freshBenchCache(b)
		coldSave := benchRig(b, rigBin, "-checks", "reader", "-cache", fresh)
		coldNoSave := benchRig(b, rigBin, "-checks", "reader", "-boot", "cold")
		var floors []time.Duration
		for range 5 {
			floors = append(floors, floor(b, coldNoSave.rep.ArtifactDir))
		}
		fl = median(floors)
		row(b, "floor: same kernel and machine, static init that powers off", fl, "")
		row(b, "snapshot creation: cold run that saves it, -checks reader", coldSave.wall, "")
		row(b, "  the same, -boot cold (saves nothing)", coldNoSave.wall, "")
		row(b, "  cost of saving the snapshot", coldSave.wall-coldNoSave.wall, "target <= 1s")
		snapshotSumRows(b, w, fresh)
	})

	b.Run("warm", func(b *testing.B) {
		once(b)
		if fl == 0 {
			b.Skip("needs the floor: run BenchmarkStages/snapshot too")
		}
		// Warm the caches, untimed, so the warm numbers are warm.
		benchRig(b, rigBin)
		benchRig(b, rigBin, "-channel", "ssh", "-checks", "reader")
		warmDefault := medianRuns(b, 5, rigBin)
		row(b, "warm default verdict (whole contract), from the snapshot", warmDefault.wall, "")
		ratio(b, "  to the floor", warmDefault.wall.Seconds()/fl.Seconds(), "target <= 1.0x")
		row(b, "  contract in the guest", secs(warmDefault.rep.ContractTime.Seconds()), "")
		for _, c := range warmDefault.rep.Cases {
			row(b, "    "+c.Name, secs(c.Time.Seconds()), "")
		}
		warmReader := medianRuns(b, 5, rigBin, "-checks", "reader")
		row(b, "warm -checks reader, from the snapshot", warmReader.wall, "")
		ratio(b, "  to the floor", warmReader.wall.Seconds()/fl.Seconds(), "target <= 0.6x")
		coldDefault := medianRuns(b, 3, rigBin, "-boot", "cold")
		row(b, "warm default verdict, -boot cold (median of 3)", coldDefault.wall, "")
		ratio(b, "  to the floor", coldDefault.wall.Seconds()/fl.Seconds(), "")
		var ready []time.Duration
		for range 3 {
			s := benchRig(b, rigBin, "-channel", "ssh", "-checks", "reader", "-boot", "cold")
			ready = append(ready, secs(s.rep.BootToReady.Seconds()))
		}
		row(b, "boot to SSH ready, -boot cold (median of 3)", median(ready), "")
	})

	b.Run("settle", func(b *testing.B) {
		once(b)
		settleRows(b, t, fl)
	})

	b.Run("watch", func(b *testing.B) {
		once(b)
		// rig watch: from saving mymap.c to the verdict on the screen,
		// module build included.
		saves := watchSaves(b, 5)
		row(b, "rig watch: save mymap.c to verdict, module build included", median(saves), "target <= 2.5s")

		// Edit the module: a copy with a changed comment is a new module key.
		mod := filepath.Join(b.TempDir(), "module")
		copyDir(b, "../module", mod)
		f, _ := os.OpenFile(filepath.Join(mod, "mymap.c"), os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(f, "/* bench edit %d */\n", time.Now().UnixNano())
		f.Close()
		edit := benchRig(b, rigBin, "-module", mod)
		row(b, "module build", stage(edit.rep, "module"), "")
		row(b, "edit module/mymap.c to verdict, whole contract (wall)", edit.wall, "")
		gr := benchRig(b, "go", "run", ".", "-checks", "reader")
		row(b, "warm `go run ./rig`, -checks reader (compiles the rig)", gr.wall, "")
	})

	b.Run("coverage", func(b *testing.B) {
		once(b)
		benchRig(b, rigBin, "-coverage") // builds the coverage kernel, if it must
		with := medianRuns(b, 3, rigBin, "-coverage")
		without := medianRuns(b, 3, rigBin)
		row(b, "warm default verdict with -coverage (median of 3)", with.wall, "")
		row(b, "  its cost over the same run without", with.wall-without.wall, "target <= 3s")
	})

	b.Run("debug", func(b *testing.B) {
		once(b)
		dbg := benchRig(b, rigBin, "-config", "debug")
		row(b, "contract in the guest, debug kernel", secs(dbg.rep.ContractTime.Seconds()), "")
		row(b, "boot to verdict, debug kernel, whole contract", secs(dbg.rep.BootToVerdict.Seconds()), "")
	})

	b.Run("debuginfo", func(b *testing.B) {
		once(b)
		debugInfoModuleRows(b, t)
	})

	b.Run("debugkernel", func(b *testing.B) {
		once(b)
		if os.Getenv("MMAPRIG_BENCH_COLD") == "0" {
			b.Skip("MMAPRIG_BENCH_COLD=0")
		}
		debugKernelRows(b, t)
	})

	b.Run("matrix", func(b *testing.B) {
		once(b)
		// Two warm cells at once against each alone.
		one := max(wallOf(b, "-cell", "6.1"), wallOf(b, "-cell", "6.12"))
		two := wallOf(b, "-cell", "6.1,6.12", "-jobs", "2")
		row(b, "one warm matrix cell (the slower of 6.1 and 6.12, wall)", one, "")
		row(b, "two warm cells in parallel, -jobs 2 (wall)", two, "")
		ratio(b, "  two to one", two.Seconds()/one.Seconds(), "target <= 1.3x")
	})

	b.Run("cold", func(b *testing.B) {
		once(b)
		if os.Getenv("MMAPRIG_BENCH_COLD") == "0" {
			b.Skip("MMAPRIG_BENCH_COLD=0")
		}
		// Cold: an empty cache that holds only the downloaded source package.
		cold := b.TempDir()
		copyDir(b, filepath.Join(defaultCacheDir(), "downloads"), filepath.Join(cold, "downloads"))
		c := benchRig(b, rigBin, "-cache", cold)
		row(b, "kernel build, cold (unpack, configure, compile)", stage(c.rep, "kernel"), "")
		row(b, "initramfs, cold (u-root base build)", stage(c.rep, "initramfs"), "")
		row(b, "cold run, empty cache, package downloaded (wall)", c.wall, "target <= 6 min")
	})
}

// snapshotSumRows times the snapshot's checksum on the state the cold run
// saved into cache: the record Save writes while the guest waits, and the
// check before each restore, with the file in the page cache (as after a
// run) and out of it (as after a reboot; QEMU then reads it from memory).
func snapshotSumRows(b *testing.B, w io.Writer, cache string) {
	b.Helper()
	states, _ := filepath.Glob(filepath.Join(cache, "snapshot", "*", "vm.state"))
	if len(states) != 1 {
		b.Fatalf("the cold run saved %d snapshots, want 1", len(states))
	}
	fi, err := os.Stat(states[0])
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	timeIt := func(prep func(), fn func(context.Context, string) error) time.Duration {
		var ds []time.Duration
		for range 5 {
			prep()
			start := time.Now()
			if err := fn(ctx, states[0]); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		return median(ds)
	}
	ms := func(what string, d time.Duration) {
		fmt.Fprintf(w, "  %-62s %8.1fms\n", what, float64(d.Microseconds())/1000)
		b.ReportMetric(float64(d.Microseconds())/1000, strings.ReplaceAll(strings.TrimSpace(what), " ", "_")+"_ms")
	}
	evict := func() {
		f, err := os.Open(states[0])
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	fmt.Fprintf(w, "  snapshot checksum, CRC32C of the saved guest (%.1f MB), median of 5:\n", float64(fi.Size())/1e6)
	ms("  save: sum and record, while the guest waits", timeIt(func() {}, vm.WriteSnapshotSum))
	ms("  verify before each restore, file in the page cache", timeIt(func() {}, vm.CheckSnapshot))
	ms("  verify, file evicted from the page cache first", timeIt(evict, vm.CheckSnapshot))
}

// settleRows measures the settled end: the default warm runs with and
// without the settle window, and the debugobjects of the base kernel,
// switched off at boot (no_debug_objects) on the same kernel. "Before" is
// -settle 0 with no_debug_objects: the run as it was before the settled
// end.
func settleRows(b *testing.B, t benchTable, fl time.Duration) {
	b.Helper()
	row, ratio := t.row, t.ratio
	off := []string{"-settle", "0", "-kernel-args", "no_debug_objects"}
	benchRig(b, rigBin, off...) // saves that machine's snapshot, untimed
	for _, checks := range []string{"contract", "reader"} {
		before := medianRuns(b, 5, rigBin, append([]string{"-checks", checks}, off...)...)
		noSettle := medianRuns(b, 5, rigBin, "-checks", checks, "-settle", "0")
		after := medianRuns(b, 5, rigBin, "-checks", checks)
		row(b, "warm -checks "+checks+", before (-settle 0, no_debug_objects)", before.wall, "")
		row(b, "warm -checks "+checks+", after (default: debugobjects, -settle "+runner.DefaultSettle.String()+")", after.wall, "")
		if fl > 0 {
			ratio(b, "  to the floor, after", after.wall.Seconds()/fl.Seconds(), "")
		}
		row(b, "  the settle window's share", after.wall-noSettle.wall, "")
		row(b, "  debugobjects' share (-settle 0 both)", noSettle.wall-before.wall, "")
		if checks == "contract" {
			row(b, "  contract in the guest, before", secs(before.rep.ContractTime.Seconds()), "")
			row(b, "  contract in the guest, after", secs(after.rep.ContractTime.Seconds()), "")
		}
	}
	coldOn := medianRuns(b, 3, rigBin, "-boot", "cold", "-checks", "reader", "-settle", "0")
	coldOff := medianRuns(b, 3, rigBin, "-boot", "cold", "-checks", "reader", "-settle", "0", "-kernel-args", "no_debug_objects")
	row(b, "boot to init, cold, debugobjects on (median of 3)", secs(coldOn.rep.BootToInit.Seconds()), "")
	row(b, "boot to init, cold, no_debug_objects (median of 3)", secs(coldOff.rep.BootToInit.Seconds()), "")
}

// medianRuns runs the rig n times and returns the run of median wall time.
func medianRuns(b *testing.B, n int, name string, args ...string) timed {
	b.Helper()
	var runs []timed
	for range n {
		runs = append(runs, benchRig(b, name, args...))
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].wall < runs[j].wall })
	return runs[len(runs)/2]
}

// freshBenchCache is an empty cache with the built kernels and the
// initramfs of the default one, but no snapshot.
func freshBenchCache(b *testing.B) string {
	b.Helper()
	return linkedCache(b, "downloads", "apt-versions", "kernel", "src", "initramfs", "module")
}

// watchSaves starts rig watch on a copy of module/, and times n saves of
// mymap.c to the verdict line each prints.
func watchSaves(b *testing.B, n int) []time.Duration {
	b.Helper()
	mod := filepath.Join(b.TempDir(), "module")
	copyDir(b, "../module", mod)
	cmd := exec.Command(rigBin, "watch", "-module", mod, "-artifacts", filepath.Join(b.TempDir(), "runs", "x"))
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	await := func(what string) {
		for l := range lines {
			if strings.Contains(l, what) {
				return
			}
		}
		b.Fatalf("rig watch ended before %q", what)
	}
	await("watching")
	var out []time.Duration
	for i := range n {
		f, _ := os.OpenFile(filepath.Join(mod, "mymap.c"), os.O_APPEND|os.O_WRONLY, 0)
		start := time.Now()
		fmt.Fprintf(f, "/* watch edit %d %d */\n", i, start.UnixNano())
		f.Close()
		await("mymap.c  PASS")
		out = append(out, time.Since(start))
	}
	return out
}

// wallOf times a rig run that must pass.
func wallOf(b *testing.B, args ...string) time.Duration {
	b.Helper()
	start := time.Now()
	out, err := exec.Command(rigBin, append(args, "-artifacts", b.TempDir())...).CombinedOutput()
	if err != nil {
		b.Fatalf("rig %v: %v\n%s", args, err, out)
	}
	return time.Since(start)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func copyDir(b *testing.B, src, dst string) {
	b.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(t)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}
