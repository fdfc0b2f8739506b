package kernel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// The page-size fragments go over arm64's base, whose 4K pages they turn
// off, and survive olddefconfig on the real Kconfig: 16K here, since no
// cell builds it (the 64K one is the 6.1-arm64-64k cell's, which the
// nightly builds). Over the x86_64 base they cannot hold, and the build
// stops at its configuration with the symbol named, before a kernel is
// compiled. Only the configuration runs (tinyconfig, the fragments,
// olddefconfig: about half a minute of CPU each), against the tree
// MMAPRIG_KERNEL_SRC names (`make test` sets it).
func TestPageFragmentsConfigure(t *testing.T) {
	src := os.Getenv("MMAPRIG_KERNEL_SRC")
	if src == "" || testing.Short() {
		t.Skip("MMAPRIG_KERNEL_SRC is not set (or -short); point it at a kernel source tree: go run ./rig srcdir")
	}
	for _, tc := range []struct {
		arch, frag, symbol string
		holds              bool
	}{
		{"arm64", "16k", "CONFIG_ARM64_16K_PAGES", true},
		{"x86_64", "64k", "CONFIG_ARM64_64K_PAGES", false},
	} {
		t.Run(tc.arch+"/"+tc.frag, func(t *testing.T) {
			a, err := arch.Get(tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			frags, err := LoadFragments(a.Fragment, tc.frag)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			out := t.TempDir()
			err = Configure(ctx, src, out, BuildOptions{Arch: a, Fragments: frags})
			var missing *MissingSymbolsError
			switch {
			case tc.holds && err != nil:
				t.Fatalf("Configure(%s, %s): %v", tc.arch, tc.frag, err)
			case !tc.holds && !errors.As(err, &missing):
				t.Fatalf("Configure(%s, %s) = %v; want a MissingSymbolsError", tc.arch, tc.frag, err)
			case !tc.holds:
				if len(missing.Mismatches) != 1 || missing.Mismatches[0].Name != tc.symbol {
					t.Errorf("the mismatches are %v; want %s alone", missing.Mismatches, tc.symbol)
				}
				return
			}
			f, err := os.Open(filepath.Join(out, ".config"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cfg, err := ParseConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			if cfg[tc.symbol] != "y" || cfg["CONFIG_ARM64_4K_PAGES"] != "" {
				t.Errorf("the final .config has %s=%q and CONFIG_ARM64_4K_PAGES=%q; want y and unset",
					tc.symbol, cfg[tc.symbol], cfg["CONFIG_ARM64_4K_PAGES"])
			}
		})
	}
}
