package kernel

import (
	"os"
	"path/filepath"
	"testing"
)

// A tree rebuilt in place changes its hash, so a module built against
// the old build is not reused: what the module's build reads from the tree
// is hashed, whatever the tree's own cache key.
func TestTreeHashFollowsTheBuild(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Module.symvers":                "0x1 vm_insert_page vmlinux EXPORT_SYMBOL\n",
		".config":                       "CONFIG_MODULES=y\n",
		"include/generated/autoconf.h":  "#define CONFIG_MODULES 1\n",
		"include/config/kernel.release": "6.1.0\n",
	}
	for f, s := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644)
	}
	h1, err := TreeHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	for f := range files {
		old, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(dir, f), append(old, "# changed\n"...), 0o644)
		if h2, _ := TreeHash(dir); h2 == h1 {
			t.Errorf("changing %s left the tree's hash as it was", f)
		}
		os.WriteFile(filepath.Join(dir, f), old, 0o644)
	}
	os.Remove(filepath.Join(dir, "Module.symvers"))
	if _, err := TreeHash(dir); err == nil {
		t.Error("a tree without Module.symvers hashed without an error")
	}
}
