package report

import (
	"github.com/mmaprig/mmaprig/rig/result"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// crashTitle has the characters a Markdown table and HTML must escape.
const crashTitle = "BUG: kernel NULL pointer dereference in null_mmap | <b>x</b>"

// matrix is a matrix of four cells, with artifact directories under dir:
// a pass with cached stages, a contract failure, a crash whose title,
// message and excerpt hold Markdown and HTML syntax, and a skipped cell.
// It creates some of the artifact files and leaves others out.
func matrix(t *testing.T, dir string) []result.Cell {
	t.Helper()
	art := func(cell string, files ...string) string {
		d := filepath.Join(dir, "artifacts", cell)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), []byte(f+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	cases := func(failing string) []result.Case {
		var cs []wire.Case
		for i, name := range []string{"reader_output", "refuses_bad_maps", "shared_coherence"} {
			c := wire.Case{Number: i + 1, Name: name, Result: wire.Pass, Time: time.Duration(i+1) * 100 * time.Millisecond}
			if name == failing {
				c.Result, c.Reason, c.Diagnostics = wire.Fail, "2 pages mapped", []string{"mmap(2 pages) = 0x7f00, want EINVAL"}
			}
			cs = append(cs, c)
		}
		cs = append(cs, wire.Case{Number: 4, Name: "user_kernel_agree", Result: wire.Skip, Reason: "no read()"})
		var out []result.Case
		for _, c := range cs {
			out = append(out, result.NewCase(c))
		}
		return out
	}
	pass := result.Run{Class: verdict.Pass, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg", AccelReason: "/dev/kvm is paravirtual",
		Stages: []result.Stage{
			{Stage: "setup", Time: result.Seconds(1 * time.Millisecond)},
			{Stage: "kernel", Time: result.Seconds(5 * time.Millisecond), Cached: true},
			{Stage: "initramfs", Time: result.Seconds(3 * time.Millisecond), Cached: true},
			{Stage: "module", Time: result.Seconds(500 * time.Millisecond)},
			{Stage: "boot", Time: result.Seconds(2 * time.Second)},
		},
		Cases: cases(""), ArtifactDir: art("6.1", "console.log", "engine.log", "run.json", "ktap.txt")}
	contract := result.Run{Class: verdict.Contract, Kernel: "Debian package linux-source-6.12", Arch: "x86_64", Accel: "kvm",
		Title: "contract case refuses_bad_maps failed", Step: "run:contract",
		Message: "contract case(s) failed: refuses_bad_maps", Excerpt: "mymap: mapped 2 pages",
		Stages: []result.Stage{
			{Stage: "kernel", Time: result.Seconds(4 * time.Second)},
			{Stage: "module", Time: result.Seconds(time.Second)},
			{Stage: "boot", Time: result.Seconds(3 * time.Second)},
		},
		Cases: cases("refuses_bad_maps"), ArtifactDir: art("6.12", "console.log", "engine.log", "run.json")}
	crash := result.Run{Class: verdict.GuestCrash, Kernel: "Debian package linux-source-6.1", Arch: "x86_64", Accel: "tcg", AccelReason: "/dev/kvm is paravirtual",
		Title: crashTitle, Step: "insmod",
		Message:     "the kernel reported a BUG\nsee | the log",
		Excerpt:     "[    1.2] BUG: kernel NULL pointer dereference\n```\n<script>alert(1)</script>\n[    1.3] RIP: null_mmap+0x5",
		Stages:      []result.Stage{{Stage: "kernel", Time: result.Seconds(6 * time.Millisecond), Cached: true}, {Stage: "boot", Time: result.Seconds(1500 * time.Millisecond)}},
		ArtifactDir: art("6.1-debug", "console.log", "dmesg.txt")}
	return []result.Cell{
		result.NewCell("6.1", verdict.Pass, pass, 2600*time.Millisecond),
		result.NewCell("6.12", verdict.Pass, contract, 8*time.Second),
		result.NewCell("6.1-debug", verdict.Pass, crash, 2*time.Second),
		result.SkippedCell("6.6", verdict.Pass, "needs the internet to download linux-6.6.74.tar.xz"),
	}
}
