package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// crashTitle has the characters a Markdown table and HTML must escape.
const crashTitle = "BUG: kernel NULL pointer dereference in null_mmap | <b>x</b>"

// readerCell is the name of the -checks reader pass: a single run's
// name, long and with spaces, as the rig names a run that is no matrix
// cell.
const readerCell = "Debian package linux-source-6.1, base+debug"

// The long unbroken strings a report must wrap or scroll, never let
// widen the page: a hex dump, a path and a stack frame.
var (
	longHex   = strings.Repeat("deadbeef", 60)
	longPath  = "/home/runner/work/mmaprig/mmaprig/" + strings.Repeat("very_long_directory_name/", 8) + "mymap.c"
	longFrame = "null_mmap_" + strings.Repeat("with_a_very_long_symbol_name_", 8) + "+0x1c/0x40 [null]"
)

// matrix is a matrix of five cells, with artifact directories under dir:
// a pass with cached stages, a -checks reader pass with the bytes it
// read, a contract failure whose diagnostics are long unbroken lines, a
// crash whose title, message, stack and excerpt hold Markdown and HTML
// syntax, and a skipped cell. It creates some of the artifact files and
// leaves others out.
func matrix(t *testing.T, dir string) []result.Cell {
	t.Helper()
	art := func(cell string, files ...string) string {
		d := filepath.Join(dir, "artifacts", cell)
		for _, f := range files {
			p := filepath.Join(d, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(f+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	return []result.Cell{
		result.NewCell("6.1", verdict.Pass, passRun(art("6.1", "console.log", "engine.log", "run.json", "ktap.txt")), 2600*time.Millisecond),
		result.NewCell(readerCell, verdict.Pass, readerRun(art(readerCell, "console.log", "qemu.log", "kmsg.txt", "restore-qemu.log", "coverage/lcov.info", "coverage/index.html")), 3*time.Second),
		result.NewCell("6.12", verdict.Pass, contractRun(art("6.12", "console.log", "engine.log", "run.json")), 8*time.Second),
		result.NewCell("6.1-debug", verdict.Pass, crashRun(art("6.1-debug", "console.log", "dmesg.txt")), 2*time.Second),
		result.SkippedCell("6.6", verdict.Pass, "needs the internet to download linux-6.6.74.tar.xz"),
	}
}

// cases are the contract's cases; the one named failing fails with the
// given diagnostics.
func cases(failing string, diagnostics ...string) []result.Case {
	var cs []wire.Case
	for i, name := range []string{"reader_output", "refuses_bad_maps", "shared_coherence"} {
		c := wire.Case{Number: i + 1, Suite: "contract", Name: name, Result: wire.Pass, Time: time.Duration(i+1) * 100 * time.Millisecond}
		if name == failing {
			c.Result, c.Reason, c.Diagnostics = wire.Fail, "2 pages mapped", diagnostics
		}
		cs = append(cs, c)
	}
	cs = append(cs, wire.Case{Number: 4, Suite: "contract", Name: "user_kernel_agree", Result: wire.Skip, Reason: "no read()"})
	var out []result.Case
	for _, c := range cs {
		out = append(out, result.NewCase(c))
	}
	return out
}

func passRun(art string) result.Run {
	return result.Run{Class: verdict.Pass, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg", AccelReason: "/dev/kvm is paravirtual",
		Origin: &result.Origin{Source: "Debian package linux-source-6.1", Kind: kernel.OriginDebianSource, Release: "6.1.192",
			Key: "0d97f5f33fbb", How: result.HowCached, Time: result.Seconds(5 * time.Millisecond)},
		Stages: []result.Stage{
			{Stage: "setup", Time: result.Seconds(1 * time.Millisecond)},
			{Stage: "kernel", Time: result.Seconds(5 * time.Millisecond), Cached: true, Summary: "cached 6.1.192"},
			{Stage: "initramfs", Time: result.Seconds(3 * time.Millisecond), Cached: true},
			{Stage: "module", Time: result.Seconds(500 * time.Millisecond)},
			{Stage: "boot", Time: result.Seconds(2 * time.Second)},
		},
		Cases: cases(""), ArtifactDir: art}
}

// readerRun is a -checks reader pass: the bytes the reader read, and
// the guest's boot, kernel and coverage. Its kernel's origin is as a
// document from before the origin's kind and how has it.
func readerRun(art string) result.Run {
	return result.Run{Class: verdict.Pass, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg", AccelReason: "no /dev/kvm",
		Origin: &result.Origin{Source: "Debian package linux-source-6.1", Release: "6.1.192", Key: "b87f752e87f2", Fragments: []string{"base", "debug"}},
		Boot:   &result.Boot{Mode: result.BootCold, Took: result.Seconds(1200 * time.Millisecond), Saved: true, RestoreFailed: "the snapshot's QEMU differs"},
		Stages: []result.Stage{
			{Stage: "kernel", Time: result.Seconds(13 * time.Millisecond), Cached: true, Summary: "cached 6.1.192"},
			{Stage: "module", Time: result.Seconds(1500 * time.Millisecond), Summary: "mymap.ko, 1 warning",
				Warnings: []string{longPath + ":3:1: warning: no previous prototype for 'mymap_helper' [-Wmissing-prototypes]"}},
			{Stage: "boot", Time: result.Seconds(1300 * time.Millisecond)},
		},
		BootToInit: result.Seconds(time.Second), BootToVerdict: result.Seconds(1500 * time.Millisecond),
		Output: []string{"reader: read 4096 bytes from /dev/mymap at offset 0",
			"00000000  6d 79 6d 61 70 20 68 65  6c 6c 6f 0a 00 00 00 00  |mymap hello.....|", longHex},
		Coverage: &result.Coverage{Files: []result.FileCoverage{{File: "/m/mymap.c", LinesHit: 113, LinesFound: 120,
			FunctionsHit: 9, FunctionsFound: 9, Uncovered: []int{40, 41, 42, 57, 90, 91}}},
			LCOV: filepath.Join(art, "coverage", "lcov.info"), HTML: filepath.Join(art, "coverage", "index.html")},
		ArtifactDir: art}
}

// contractRun is a contract failure on a prebuilt kernel the run
// downloaded.
func contractRun(art string) result.Run {
	return result.Run{Class: verdict.Contract, Kernel: "Debian prebuilt linux-image-6.12.0-NN-cloud-amd64-unsigned", Arch: "x86_64", Accel: "kvm",
		Origin: &result.Origin{Source: "Debian prebuilt linux-image-6.12.0-NN-cloud-amd64-unsigned", Kind: kernel.OriginDebianPrebuilt,
			Release: "6.12.48+deb12-cloud-amd64", Key: "5c1e0f7a9b2d", Built: true, How: result.HowDownloaded, Time: result.Seconds(4 * time.Second)},
		Title: "contract case refuses_bad_maps failed", Step: "run:contract",
		Message: "contract case(s) failed: refuses_bad_maps", Excerpt: "mymap: mapped 2 pages",
		Stages: []result.Stage{
			{Stage: "kernel", Time: result.Seconds(4 * time.Second)},
			{Stage: "module", Time: result.Seconds(time.Second)},
			{Stage: "boot", Time: result.Seconds(3 * time.Second), Failed: true},
		},
		Output: []string{"the reader read 8192 bytes, 4096 expected"},
		Cases: cases("refuses_bad_maps", "mmap(2 pages) = 0x7f00, want EINVAL",
			"the page read back as "+longHex, "the mapping came from "+longPath+" line 12, which should refuse a length past the buffer"),
		ArtifactDir: art}
}

// crashRun is a crash; its run says only where its kernel came from,
// as a run that failed before it had a kernel does.
func crashRun(art string) result.Run {
	return result.Run{Class: verdict.GuestCrash, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg", AccelReason: "/dev/kvm is paravirtual",
		Title: crashTitle, Step: "insmod",
		Message: "the kernel reported a BUG\nsee | the log", Cause: "exit status 1",
		Crash: &verdict.Crash{Kind: "BUG", Title: crashTitle, Frame: "null_mmap", File: longPath, Line: 42,
			Stack: []string{"null_mmap+0x1c/0x40 [null]", longFrame, "mmap_region+0x59e/0x7c0", "<script>alert(2)</script>"}},
		Boot:        &result.Boot{Mode: result.BootRestored, Took: result.Seconds(120 * time.Millisecond)},
		Excerpt:     "[    1.2] BUG: kernel NULL pointer dereference\n```\n<script>alert(1)</script>\n[    1.3] RIP: null_mmap+0x5",
		Stages:      []result.Stage{{Stage: "kernel", Time: result.Seconds(6 * time.Millisecond), Cached: true}, {Stage: "boot", Time: result.Seconds(1500 * time.Millisecond)}},
		ArtifactDir: art}
}
