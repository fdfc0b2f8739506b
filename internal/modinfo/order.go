package modinfo

import (
	"fmt"
	"slices"
	"strings"
)

// Depends are the modules the module needs loaded first, from its
// depends= entry (modpost writes it, comma-separated, possibly empty).
func (i Info) Depends() []string {
	var deps []string
	for _, v := range i["depends"] {
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" && !slices.Contains(deps, d) {
				deps = append(deps, d)
			}
		}
	}
	return deps
}

// Node is one module to order: its name and what it depends on.
type Node struct {
	Name    string
	Depends []string
}

// LoadOrder orders modules so that each comes after the modules it
// depends on, as modprobe would load them; it returns their indexes.
// Among modules free to go next, the earliest given goes first, so the
// order is the given one wherever the dependencies allow. A dependency on
// a module that is not given must be the kernel's (inkernel), which is
// an error: the guest's kernel has no modules of its own. A cycle is an
// error too: the kernel could load none of its modules.
func LoadOrder(mods []Node) ([]int, error) {
	index := map[string]int{}
	for i, m := range mods {
		if _, dup := index[m.Name]; dup {
			return nil, fmt.Errorf("two modules are named %s", m.Name)
		}
		index[m.Name] = i
	}
	for _, m := range mods {
		for _, d := range m.Depends {
			if _, ok := index[d]; !ok {
				return nil, fmt.Errorf("module %s depends on %s, which the build did not make (and the guest kernel has no modules of its own)", m.Name, d)
			}
		}
	}
	var order []int
	done := make([]bool, len(mods))
	for len(order) < len(mods) {
		next := slices.IndexFunc(mods, func(m Node) bool {
			i := index[m.Name]
			return !done[i] && !slices.ContainsFunc(m.Depends, func(d string) bool { return !done[index[d]] })
		})
		if next < 0 {
			return nil, fmt.Errorf("the modules depend on each other in a cycle: %s", cycle(mods, done, index))
		}
		done[next] = true
		order = append(order, next)
	}
	return order, nil
}

// cycle names one dependency cycle among the modules not yet ordered:
// "a -> b -> a".
func cycle(mods []Node, done []bool, index map[string]int) string {
	start := slices.IndexFunc(done, func(d bool) bool { return !d })
	var path []string
	seen := map[int]int{}
	for i := start; ; {
		if at, ok := seen[i]; ok {
			return strings.Join(append(path[at:], mods[i].Name), " -> ")
		}
		seen[i] = len(path)
		path = append(path, mods[i].Name)
		for _, d := range mods[i].Depends {
			if j := index[d]; !done[j] {
				i = j
				break
			}
		}
	}
}
