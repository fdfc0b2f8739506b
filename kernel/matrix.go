package kernel

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mmaprig/mmaprig/internal/arch"
)

//go:embed matrix.json
var matrixJSON []byte

// Cell is one kernel of the matrix.
type Cell struct {
	Name string `json:"name"`
	// Source is "debian" (linux-source-<kernel>), "debian-prebuilt"
	// (Debian's own image and headers), "url" (a tarball and its sha256)
	// or "git" (a branch or tag, ref, of the repository at url).
	Source string `json:"source"`
	// Arch is the guest's architecture; empty means x86_64.
	Arch    string   `json:"arch,omitempty"`
	Kernel  string   `json:"kernel"`
	Config  []string `json:"config"`
	Flavour string   `json:"flavour,omitempty"`
	URL     string   `json:"url,omitempty"`
	SHA256  string   `json:"sha256,omitempty"`
	// Ref is a git cell's branch or tag; empty for the remote's HEAD.
	Ref string `json:"ref,omitempty"`
	// Network cells need the internet to fetch their source.
	Network bool `json:"network,omitempty"`
	// Expect is the class the cell must end in, usually "pass".
	Expect string `json:"expect"`
}

// Matrix is the parsed matrix file.
type Matrix struct {
	Cells []Cell `json:"cells"`
}

// LoadMatrix parses the built-in matrix.
func LoadMatrix() (Matrix, error) {
	return ParseMatrix(matrixJSON)
}

// ParseMatrix parses and checks a matrix file.
func ParseMatrix(b []byte) (Matrix, error) {
	var m Matrix
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("kernel matrix: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range m.Cells {
		switch {
		case c.Name == "" || seen[c.Name]:
			return m, fmt.Errorf("kernel matrix: cell name %q is empty or repeated", c.Name)
		case c.Source == "url" && (c.URL == "" || len(c.SHA256) != 64):
			return m, fmt.Errorf("kernel matrix: cell %s: a url cell needs url and sha256", c.Name)
		case c.Source == "git" && c.URL == "":
			return m, fmt.Errorf("kernel matrix: cell %s: a git cell needs the repository's url", c.Name)
		case c.Source != "url" && c.Source != "git" && c.Source != "debian" && c.Source != "debian-prebuilt":
			return m, fmt.Errorf("kernel matrix: cell %s: unknown source %q", c.Name, c.Source)
		case c.Ref != "" && c.Source != "git":
			return m, fmt.Errorf("kernel matrix: cell %s: only a git cell takes a ref", c.Name)
		case c.Expect == "":
			return m, fmt.Errorf("kernel matrix: cell %s: no expected result", c.Name)
		case c.Source == "debian-prebuilt" && len(c.Config) > 0:
			return m, fmt.Errorf("kernel matrix: cell %s: a prebuilt kernel takes no config fragments", c.Name)
		}
		a, err := c.Architecture()
		if err != nil {
			return m, fmt.Errorf("kernel matrix: cell %s: %w", c.Name, err)
		}
		if _, err := LoadFragments(append([]string{a.Fragment}, c.Config...)...); err != nil {
			return m, fmt.Errorf("kernel matrix: cell %s: %w", c.Name, err)
		}
		seen[c.Name] = true
	}
	return m, nil
}

// Cell returns the cell by name.
func (m Matrix) Cell(name string) (Cell, error) {
	var names []string
	for _, c := range m.Cells {
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
	}
	return Cell{}, fmt.Errorf("unknown cell %q (have: %s)", name, strings.Join(names, ", "))
}

// Architecture is the cell's guest architecture.
func (c Cell) Architecture() (arch.Arch, error) {
	if c.Arch == "" {
		return arch.Get("x86_64")
	}
	return arch.Get(c.Arch)
}

// Fragments are the cell's fragments, its architecture's base first.
func (c Cell) Fragments() []string {
	a, err := c.Architecture()
	if err != nil {
		return append([]string{"base"}, c.Config...)
	}
	return append([]string{a.Fragment}, c.Config...)
}

// KernelSource returns the cell's kernel source.
func (c Cell) KernelSource() Source {
	switch c.Source {
	case "debian-prebuilt":
		return DebianPrebuilt{Series: c.Kernel, Flavour: c.Flavour}
	case "url":
		return URL{URL: c.URL, SHA256: c.SHA256}
	case "git":
		return NewGit(c.URL, c.Ref)
	default:
		return DebianSource(c.Kernel)
	}
}
