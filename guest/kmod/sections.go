package kmod

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// Sections reads where the kernel put each loaded module's sections, from
// /sys/module/NAME/sections: a file per section, holding its address. The
// kernel shows the real addresses to root only.
func Sections(names []string) ([]wire.ModuleSections, error) {
	var mods []wire.ModuleSections
	for _, name := range names {
		secs, err := moduleSections(name)
		if err != nil {
			return mods, fmt.Errorf("the sections of %s: %w", name, err)
		}
		mods = append(mods, wire.ModuleSections{Name: name, Sections: secs})
	}
	return mods, nil
}

func moduleSections(name string) (map[string]uint64, error) {
	dir := filepath.Join("/sys/module", name, "sections")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w (the kernel needs CONFIG_KALLSYMS)", err)
	}
	secs := map[string]uint64{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		addr, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 64)
		if err != nil {
			return nil, fmt.Errorf("section %s: %w", e.Name(), err)
		}
		secs[e.Name()] = addr
	}
	return secs, nil
}
