package runner

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mmaprig/mmaprig/images"
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
