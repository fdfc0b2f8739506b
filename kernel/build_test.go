package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// The build makes the kernel's gdb scripts with the tree when its
// configuration has them, so that a cached tree has them from the start.
func TestMakeGoals(t *testing.T) {
	a, err := arch.Get("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"base", "CONFIG_MODULES=y\n# CONFIG_GDB_SCRIPTS is not set\n", []string{"bzImage", "modules"}},
		{"debug", "CONFIG_MODULES=y\nCONFIG_DEBUG_INFO=y\nCONFIG_GDB_SCRIPTS=y\n", []string{"bzImage", "modules", "scripts_gdb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if err := os.WriteFile(filepath.Join(out, ".config"), []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := makeGoals(out, a)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("goals %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := makeGoals(t.TempDir(), a); err == nil {
		t.Errorf("no error for a tree without a .config")
	}
}
