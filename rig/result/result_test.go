package result

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/symbolize"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

var update = flag.Bool("update", false, "rewrite testdata/document.json")

// contract is a passing contract's cases, with the skips given.
func contract(skips map[string]string) []Case {
	var cases []Case
	for i, name := range []string{"reader_output", "refuses_bad_maps", "shared_coherence", "user_kernel_agree",
		"concurrent_mappers", "unload_reload", "kernel_clean"} {
		c := wire.Case{Number: i + 1, Name: name, Result: wire.Pass, Suite: wire.CmdContract}
		if why, ok := skips[name]; ok {
			c.Result, c.Reason = wire.Skip, why
		}
		cases = append(cases, NewCase(c))
	}
	return cases
}

func TestCaseCount(t *testing.T) {
	for _, tc := range []struct {
		cases []Case
		want  string
	}{
		{contract(nil), "7 cases"},
		{contract(map[string]string{"user_kernel_agree": "no write(): the driver has no write() (write() of 1 byte at offset 0 returned EINVAL (invalid argument)); read() agrees with the mapping"}),
			"7 cases, 1 skipped: user_kernel_agree (no write())"},
		{contract(map[string]string{"user_kernel_agree": "no read() or write(): the driver has no read() and no write() (...)", "kernel_clean": "x_test.go:3: no log"}),
			"7 cases, 2 skipped: user_kernel_agree (no read() or write()), kernel_clean (no log)"},
		{[]Case{NewCase(wire.Case{Name: "only", Result: wire.Skip})}, "1 case, 1 skipped: only (no reason given)"},
		{nil, "0 cases"},
	} {
		if got := CaseCount(tc.cases); got != tc.want {
			t.Errorf("CaseCount = %q, want %q", got, tc.want)
		}
	}
}

// A skipped case carries its reason's headline, for readers of -json
// that show it without parsing the reason.
func TestNewCaseWhy(t *testing.T) {
	c := NewCase(wire.Case{Name: "user_kernel_agree", Result: wire.Skip, Reason: "no write(): the driver has no write()"})
	if c.Why != "no write()" || c.Result != "skip" {
		t.Errorf("NewCase = %+v; want why %q", c, "no write()")
	}
	if c := NewCase(wire.Case{Name: "x", Result: wire.Fail, Reason: "broke: here"}); c.Why != "" {
		t.Errorf("a failed case has a skip headline %q", c.Why)
	}
}

// The origin's phrase names the source in a few words, its version, and
// how the run got it, for every kind of source, and for a document from
// before the kind and how were recorded.
func TestOriginString(t *testing.T) {
	for _, tc := range []struct {
		o    Origin
		want string
	}{
		{Origin{Source: "Debian package linux-source-6.1", Kind: kernel.OriginDebianSource, Release: "6.1.192", Built: true,
			How: HowBuilt, Time: Seconds(692 * time.Second)}, "Debian linux-source-6.1 6.1.192, built in 11m32s"},
		{Origin{Source: "Debian prebuilt linux-image-6.12.0-NN-cloud-amd64-unsigned", Kind: kernel.OriginDebianPrebuilt,
			Release: "6.12.118+deb12-cloud-amd64", Built: true, How: HowDownloaded, Time: Seconds(9800 * time.Millisecond)},
			"Debian prebuilt 6.12.118+deb12-cloud-amd64, downloaded in 9.80s"},
		{Origin{Source: "git file:///srv/linux.git master", Kind: "git", Commit: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
			Release: "6.19.0-rc1", How: HowCached, Time: Seconds(12 * time.Millisecond)}, "git 1a2b3c4d5e6f 6.19.0-rc1, cached"},
		{Origin{Source: "tarball /srv/linux-6.6.tar.xz", Kind: kernel.OriginTarball, Release: "6.6.74", How: HowCached},
			"tarball linux-6.6.tar.xz 6.6.74, cached"},
		{Origin{Source: "https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.tar.xz", Kind: kernel.OriginURL, Release: "6.18.0",
			How: HowBuilt, Time: Seconds(40 * time.Minute)}, "tarball linux-6.18.tar.xz 6.18.0, built in 40m0s"},
		{Origin{Source: "tree /src/linux", Kind: kernel.OriginTree, Release: "6.19.0", How: HowBuilt, Time: Seconds(3 * time.Second)},
			"tree /src/linux 6.19.0, built in 3.00s"},
		// Before kind and how: the source as it was, built or cached.
		{Origin{Source: "Debian package linux-source-6.1", Release: "6.1.192", Built: true}, "Debian package linux-source-6.1 6.1.192, built"},
		{Origin{Source: "Debian package linux-source-6.1", Release: "6.1.192"}, "Debian package linux-source-6.1 6.1.192, cached"},
	} {
		if got := tc.o.String(); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.o, got, tc.want)
		}
	}
}

// A prebuilt kernel the run fetched is downloaded; any other it made is
// built; one it found is cached.
func TestHow(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		fresh bool
		want  string
	}{
		{kernel.OriginDebianPrebuilt, true, HowDownloaded},
		{kernel.OriginDebianPrebuilt, false, HowCached},
		{kernel.OriginDebianSource, true, HowBuilt},
		{"git", true, HowBuilt},
		{kernel.OriginURL, false, HowCached},
	} {
		if got := How(tc.kind, tc.fresh); got != tc.want {
			t.Errorf("How(%q, %v) = %q, want %q", tc.kind, tc.fresh, got, tc.want)
		}
	}
}

// sample is a document with every field set: a failed run and a skipped
// cell.
func sample() Document {
	run := Run{Class: verdict.GuestCrash, ExitCode: 1, Title: "BUG: kernel NULL pointer dereference in mymap_mmap",
		Step: "contract", Message: "the kernel reported ...", Cause: "exit status 1", Excerpt: "[ 1.0] BUG: ...",
		Crash: &verdict.Crash{Kind: "BUG", Title: "BUG: kernel NULL pointer dereference in mymap_mmap", Frame: "mymap_mmap",
			File: "mymap.c", Line: 12, Stack: []string{"mymap_mmap+0x1c/0x40 [mymap]"}, Panic: true,
			Trap: "RIP: 0010:mymap_mmap+0x1c/0x40 [mymap]", Decoded: []symbolize.Frame{{Raw: "mymap_mmap+0x1c/0x40 [mymap]",
				Function: "mymap_mmap", Offset: 0x1c, Size: 0x40, Module: "mymap", Reliable: true, Trap: true,
				Lines: []symbolize.Location{{Function: "mymap_poke", File: "mymap.c", Line: 8}, {Function: "mymap_mmap", File: "mymap.c", Line: 12}}}}},
		Build:  []Diagnostic{{Severity: "warning", Tool: "compiler", File: "/m/mymap.c", Line: 3, Column: 1, Message: "x"}},
		Module: "mymap", Nonce: "abc", Kernel: "git file:///srv/linux.git master",
		Origin: &Origin{Source: "git file:///srv/linux.git master", Kind: "git", Commit: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
			Release: "6.19.0-rc1", Key: "b87f752e87f2", Fragments: []string{"base"}, Built: true, How: HowBuilt,
			Time: Seconds(692 * time.Second), Summary: "git 1a2b3c4d5e6f 6.19.0-rc1, built in 11m32s"},
		Arch: "x86_64", Accel: "tcg", AccelReason: "no /dev/kvm", IdleSkipped: true, Settled: "100ms: nothing of the module's armed (0 traced events)",
		Boot: &Boot{Mode: BootCold, Took: Seconds(120 * time.Millisecond), Saved: true, SaveError: "disk full",
			RestoreFailed: "QEMU exited"},
		Stages: []Stage{{Stage: "kernel", Time: Seconds(692 * time.Second), Summary: "built 6.19.0-rc1"},
			{Stage: "module", Time: Seconds(2 * time.Second), Failed: true, Warnings: []string{"mymap.c:3:1: warning: x"}}},
		BootToInit: Seconds(time.Second), BootToReady: Seconds(1200 * time.Millisecond), BootToVerdict: Seconds(1500 * time.Millisecond),
		Output: []string{"0 1 2"}, Cases: contract(map[string]string{"kernel_clean": "no log: x"}), SkippedCount: 1, Run: "refuses|Seed",
		ContractTime: Seconds(700 * time.Millisecond), Exec: &Exec{Exit: 137, Signal: "killed", Error: "no such file", Stderr: "x"},
		Coverage:    &Coverage{Files: []FileCoverage{{File: "/m/mymap.c", LinesHit: 9, LinesFound: 10, FunctionsHit: 1, FunctionsFound: 2, Uncovered: []int{7}}}, LCOV: "lcov.info", HTML: "index.html"},
		ArtifactDir: "/art", ConsoleLog: "/art/console.log"}
	run.Coverage.Files[0].Summarize()
	run.Cases[1] = NewCase(wire.Case{Suite: wire.CmdContract, Name: "refuses_bad_maps", Result: wire.Fail,
		Reason: "2 pages mapped", Diagnostics: []string{"mmap(2 pages) = 0x7f00, want EINVAL"}, Time: 30 * time.Millisecond})
	run.Cases[1].File, run.Cases[1].Line = "/m/guesttest/m_test.go", 12
	return NewDocument([]Cell{NewCell("6.1", verdict.Pass, run, 3*time.Second),
		SkippedCell("6.1-kernelorg", verdict.Pass, "needs the internet")})
}

// TestSchema holds the JSON form to testdata/document.json: a change
// there is a change of the schema, which docs/result.md documents, and
// which must bump Schema unless it only adds fields. A document also reads
// back as itself.
func TestSchema(t *testing.T) {
	doc := sample()
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "document.json")
	if *update {
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(b)+"\n" {
		t.Errorf("the JSON form changed (go test ./rig/result -update, then document it in docs/result.md):\n%s", b)
	}
	var back Document
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, doc) {
		t.Errorf("read back:\n%+v\nwant\n%+v", back, doc)
	}
	if back.Schema != Schema || back.Cells[0].OK || !back.Cells[1].OK {
		t.Errorf("schema %d, ok %v %v; want %d, false, true", back.Schema, back.Cells[0].OK, back.Cells[1].OK, Schema)
	}
}

// TestSchemaDocumented checks docs/result.md against the example
// document: every field the document has is in a table row of the page,
// and every field the page lists is in the document, so that the page
// neither misses a field nor keeps one that went away.
func TestSchemaDocumented(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "result.md"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	jsonKeys(doc, have)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(string(page), -1) {
		documented[m[1]] = true
	}
	for k := range have {
		if !documented[k] {
			t.Errorf("field %q is not documented in docs/result.md", k)
		}
	}
	for k := range documented {
		if !have[k] {
			t.Errorf("docs/result.md documents %q, which the document does not have (or the example leaves it out)", k)
		}
	}
}

// jsonKeys adds the keys of every object in v to keys.
func jsonKeys(v any, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			keys[k] = true
			jsonKeys(e, keys)
		}
	case []any:
		for _, e := range v {
			jsonKeys(e, keys)
		}
	}
}
