// Package modinfo reads a kernel module's .modinfo section: its name, its
// parameters, its license, as the kernel and modinfo(8) see them.
package modinfo

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
)

// Info is a module's .modinfo: each key with its values, in order.
type Info map[string][]string

// Read reads the .modinfo section of the .ko at path.
func Read(path string) (Info, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section; not a kernel module", path)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: read .modinfo: %w", path, err)
	}
	info := Info{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			info[k] = append(info[k], v)
		}
	}
	return info, nil
}

// Name is the module's name, which the kernel knows it by; the file name
// may differ.
func (i Info) Name() (string, error) {
	if n := i["name"]; len(n) > 0 {
		return n[0], nil
	}
	return "", fmt.Errorf("no name= in .modinfo")
}

// Params are the names of the module's parameters, sorted.
func (i Info) Params() []string {
	seen := map[string]bool{}
	for _, key := range []string{"parm", "parmtype"} {
		for _, v := range i[key] {
			name, _, _ := strings.Cut(v, ":")
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
