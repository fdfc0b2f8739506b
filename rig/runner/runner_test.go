package runner

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/images"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
)

// The u-root base must be rebuilt when any Go file that goes into it
// changes, including the rig packages that guest programs import.
func TestGuestSources(t *testing.T) {
	files, err := guestSources("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"guest/init/main.go", "guest/contract/main.go", "internal/wire/ktap.go", "internal/kreport/kreport.go"} {
		if !slices.Contains(files, filepath.FromSlash(want)) {
			t.Errorf("%s is not among the base's sources: %v", want, files)
		}
	}
	for _, f := range files {
		if filepath.Ext(f) != ".go" || filepath.Base(f) == "runner.go" || len(f) > 8 && f[len(f)-8:] == "_test.go" {
			t.Errorf("%s should not be a base source", f)
		}
	}
}

func TestBaseKeyFollowsSources(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(s), 0o644)
	}
	write("go.mod", "module github.com/mmaprig/mmaprig\n")
	write("go.sum", "")
	write("guest/a/main.go", "package main\nimport _ \"github.com/mmaprig/mmaprig/lib\"\n")
	write("lib/lib.go", "package lib\n")
	write("other/other.go", "package other\n")
	base := images.DefaultBase(root, "amd64")
	k1, err := baseKey(root, base)
	if err != nil {
		t.Fatal(err)
	}
	write("other/other.go", "package other\n// changed\n")
	if k2, _ := baseKey(root, base); k2 != k1 {
		t.Error("a package the guest does not import changed the key")
	}
	write("lib/lib.go", "package lib\n// changed\n")
	if k3, _ := baseKey(root, base); k3 == k1 {
		t.Error("a package the guest imports changed, but the key did not")
	}
}

// Tests named alike get names of their own, so that neither overwrites the
// other's binary in the guest and their cases stay apart.
func TestUniqueName(t *testing.T) {
	taken := map[string]bool{}
	var got []string
	for _, n := range []string{"guesttest.test", "guesttest.test", "probe", "probe", "guesttest.test", "guesttest-2.test"} {
		got = append(got, uniqueName(n, taken))
	}
	want := []string{"guesttest.test", "guesttest-2.test", "probe", "probe-2", "guesttest-3.test", "guesttest-2-2.test"}
	if !slices.Equal(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
}

// The work's size is what its files carry on the port: a module and tests
// that would pass the port's limit are caught before the guest refuses them.
func TestWorkSize(t *testing.T) {
	w := &wire.Work{Nonce: "n", Files: []wire.File{{Path: wire.ModulePath, Data: make([]byte, 3<<20)}, {Path: "/mmaprig/tests/a", Data: make([]byte, 1<<20), Mode: 0o755}}}
	b, err := wire.MarshalRequest(wire.Request{Work: w})
	if err != nil {
		t.Fatal(err)
	}
	if n := workSize(w); n != 4<<20 || len(b) < n {
		t.Errorf("workSize = %d, want 4 MiB; the message is %d bytes", n, len(b))
	}
}

// A finished run records where its kernel came from and how it got it,
// with the kernel stage's time; a run that got no kernel records none.
func TestFinishOrigin(t *testing.T) {
	prebuilt := kernel.DebianPrebuilt{Series: "6.12", Flavour: "cloud-amd64"}
	stages := []result.Stage{{Stage: "setup", Time: result.Seconds(time.Millisecond)},
		{Stage: "kernel", Time: result.Seconds(9800 * time.Millisecond)}, {Stage: "boot", Time: result.Seconds(time.Second)}}
	for _, tc := range []struct {
		name string
		k    *kernel.Kernel
		want *result.Origin
	}{
		{"downloaded", &kernel.Kernel{Release: "6.12.48+deb12-cloud-amd64", Key: "k1", Fresh: true,
			Origin: kernel.Origin{Kind: kernel.OriginDebianPrebuilt}},
			&result.Origin{Source: prebuilt.String(), Kind: kernel.OriginDebianPrebuilt, Release: "6.12.48+deb12-cloud-amd64", Key: "k1",
				Fragments: []string{"base"}, Built: true, How: result.HowDownloaded, Time: result.Seconds(9800 * time.Millisecond),
				Summary: "Debian prebuilt 6.12.48+deb12-cloud-amd64, downloaded in 9.80s"}},
		{"cached git", &kernel.Kernel{Release: "6.19.0-rc1", Key: "k2", Origin: kernel.Origin{Kind: "git", Commit: "1a2b3c4d5e6f7a8b"}},
			&result.Origin{Source: prebuilt.String(), Kind: "git", Commit: "1a2b3c4d5e6f7a8b", Release: "6.19.0-rc1", Key: "k2",
				Fragments: []string{"base"}, How: result.HowCached, Time: result.Seconds(9800 * time.Millisecond),
				Summary: "git 1a2b3c4d5e6f 6.19.0-rc1, cached"}},
		{"no kernel", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{opts: Options{Kernel: prebuilt, Fragments: []string{"base"}},
				res: &result.Run{Stages: slices.Clone(stages)}, machine: machine{kernel: tc.k}}
			r.finish(context.Background(), nil)
			if !reflect.DeepEqual(r.res.Origin, tc.want) {
				t.Errorf("origin = %+v\nwant     %+v", r.res.Origin, tc.want)
			}
		})
	}
}
