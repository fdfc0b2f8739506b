package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/mmaprig/mmaprig/internal/dkms"
)

// How a module directory is built: the build modes.
const (
	// BuildAuto picks one of the others from the directory's files.
	BuildAuto = "auto"
	// BuildKbuild runs kbuild on the directory: make -C KDIR M=DIR.
	BuildKbuild = "kbuild"
	// BuildMake runs the author's own Makefile, its default target, with
	// the kernel tree in the variables such Makefiles read (KDIR, ...).
	BuildMake = "make"
	// BuildDKMS runs the build command of the directory's dkms.conf, as
	// dkms build does.
	BuildDKMS = "dkms"
)

// BuildModes are the modes -build takes.
var BuildModes = []string{BuildAuto, BuildKbuild, BuildMake, BuildDKMS}

// ModuleSpec is what to build and how.
type ModuleSpec struct {
	// Dir is the module directory, absolute.
	Dir string
	// Root is a directory above Dir that is copied with it, so that the
	// module's "../include" resolves; empty: Dir alone.
	Root string
	// Mode is one of BuildModes; BuildAuto until Resolve.
	Mode string
	// MakeArgs are more make variables, VAR=value.
	MakeArgs []string
	// Coverage builds the module for gcov.
	Coverage bool
	// Work, when set, is a kept build directory for this module (rig
	// watch keeps one per session): a kbuild build there remakes only
	// what changed, replaying kbuild's saved commands when only the
	// author's .c files did (kept.go). It is no part of the module's key:
	// the .ko files are the same either way.
	Work string
}

// TreeRoot is the directory the build copies: Root, or Dir.
func (s ModuleSpec) TreeRoot() string {
	if s.Root == "" {
		return s.Dir
	}
	return s.Root
}

// Rel is Dir relative to TreeRoot: "" when they are the same.
func (s ModuleSpec) Rel() string {
	rel, err := filepath.Rel(s.TreeRoot(), s.Dir)
	if err != nil || rel == "." {
		return ""
	}
	return rel
}

// ErrNotModule means a directory has no Kbuild, Makefile or dkms.conf.
var ErrNotModule = errors.New("not an out-of-tree module directory")

// moduleFiles are the files that make a directory a module's, one per
// build mode that needs it.
var moduleFiles = map[string]string{"Kbuild": BuildKbuild, "Makefile": BuildMake, dkms.FileName: BuildDKMS}

// CheckModuleDir reports ErrNotModule unless dir has a Kbuild, a Makefile
// or a dkms.conf.
func CheckModuleDir(dir string) error {
	for f := range moduleFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w: %v", ErrNotModule, err)
	}
	return fmt.Errorf("%w: %s has no Kbuild, Makefile or dkms.conf", ErrNotModule, dir)
}

// Resolve checks the spec against the directories and picks the mode
// BuildAuto stands for. why says what decided the mode.
func (s ModuleSpec) Resolve() (ModuleSpec, string, error) {
	if err := CheckModuleDir(s.Dir); err != nil {
		return s, "", err
	}
	if s.Root != "" {
		rel, err := filepath.Rel(s.Root, s.Dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return s, "", fmt.Errorf("the module directory %s is not inside the module root %s", s.Dir, s.Root)
		}
	}
	switch s.Mode {
	case "", BuildAuto:
		mode, why, err := DetectMode(s.Dir)
		s.Mode = mode
		return s, why, err
	case BuildKbuild:
		return s, "-build kbuild", needFile(s.Dir, "Kbuild", "Makefile")
	case BuildMake:
		return s, "-build make", needFile(s.Dir, "Makefile")
	case BuildDKMS:
		return s, "-build dkms", needFile(s.Dir, dkms.FileName)
	}
	return s, "", fmt.Errorf("unknown build mode %q (want one of %s)", s.Mode, strings.Join(BuildModes, ", "))
}

// needFile reports an error unless dir has one of the files.
func needFile(dir string, files ...string) error {
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s has no %s", dir, strings.Join(files, " or "))
}

// makeCallRE matches a recipe line that runs make on another directory,
// "\t$(MAKE) -C $(KDIR) M=$(PWD) modules": a Makefile that drives the
// kernel's build itself, and may pass it variables of its own.
var makeCallRE = regexp.MustCompile(`(?m)^\t.*(\$\(MAKE\)|\$\{MAKE\}|\bmake\b).*\s-C\s*\S.*$`)

// DetectMode picks how to build dir: with its dkms.conf when it has
// one; else with kbuild when it has a Kbuild file (its Makefile, if any,
// only wraps kbuild); else with its Makefile when that runs make -C
// itself; else with kbuild, which reads the Makefile as a Kbuild file.
func DetectMode(dir string) (mode, why string, err error) {
	has := func(f string) bool {
		_, err := os.Stat(filepath.Join(dir, f))
		return err == nil
	}
	switch {
	case has(dkms.FileName):
		return BuildDKMS, "it has a dkms.conf", nil
	case has("Kbuild"):
		return BuildKbuild, "it has a Kbuild file", nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNotModule, err)
	}
	if m := makeCallRE.Find(b); m != nil {
		return BuildMake, fmt.Sprintf("its Makefile runs %q", strings.TrimSpace(string(m))), nil
	}
	return BuildKbuild, "its Makefile is a kbuild file", nil
}

// ModuleKey hashes what goes into the module's build: the kernel it
// builds against, the sources of the copied tree, the build mode, the
// make variables and where the module is in the tree; a coverage build
// also depends on where the sources are, which its profile names. The
// debug info names the sources under fixed roots (v5), so it does not;
// v6 moved the rig's flags from KCFLAGS to CFLAGS_MODULE, so that an
// author's own KCFLAGS reaches the build.
func ModuleKey(kernelKey string, s ModuleSpec) (string, error) {
	root := s.TreeRoot()
	files, err := sourceFiles(root)
	if err != nil {
		return "", fmt.Errorf("read module sources: %w", err)
	}
	parts := []string{"module;W=1;g;v6", kernelKey, "mode=" + s.Mode, "rel=" + s.Rel(), "args=" + strings.Join(s.MakeArgs, "\x00")}
	if s.Coverage {
		parts = append(parts, "gcov", root)
	}
	return hashFiles(parts, root, files)
}

// ParseMakeArgs reads -make-args: make variables, VAR=value, split and
// unquoted as a shell would, with nothing expanded (no $VAR, no $(cmd),
// no globs): the value is the command line's, not the environment's.
func ParseMakeArgs(s string) ([]string, error) {
	f, err := syntax.NewParser().Parse(strings.NewReader(s), "")
	if err != nil {
		return nil, fmt.Errorf("cannot split %q as a shell would: %v", s, err)
	}
	if len(f.Stmts) > 1 {
		return nil, fmt.Errorf("%q is more than one command line; give VAR=value ...", s)
	}
	var words []*syntax.Word
	if len(f.Stmts) == 1 {
		call, ok := f.Stmts[0].Cmd.(*syntax.CallExpr)
		if !ok || f.Stmts[0].Redirs != nil || f.Stmts[0].Background || f.Stmts[0].Negated {
			return nil, fmt.Errorf("%q is not a list of VAR=value", s)
		}
		for _, a := range call.Assigns {
			words = append(words, assignWord(a))
		}
		words = append(words, call.Args...)
	}
	var args []string
	for _, w := range words {
		arg, err := literal(w)
		if err != nil {
			return nil, err
		}
		if err := checkMakeArg(arg); err != nil {
			return nil, err
		}
		args = append(args, arg)
	}
	return args, nil
}

// assignWord is an assignment as the word that spells it, "VAR=value".
func assignWord(a *syntax.Assign) *syntax.Word {
	parts := []syntax.WordPart{&syntax.Lit{Value: a.Name.Value + "="}}
	if a.Value != nil {
		parts = append(parts, a.Value.Parts...)
	}
	if a.Array != nil || a.Index != nil || a.Append {
		parts = append(parts, &syntax.CmdSubst{}) // refused by literal
	}
	return &syntax.Word{Parts: parts}
}

// literal is a word without its quotes, or an error if anything in it
// would be expanded.
func literal(w *syntax.Word) (string, error) {
	var refused syntax.Node
	syntax.Walk(w, func(n syntax.Node) bool {
		switch n.(type) {
		case *syntax.ParamExp, *syntax.CmdSubst, *syntax.ArithmExp, *syntax.ProcSubst, *syntax.ExtGlob, *syntax.BraceExp:
			refused = n
		}
		return refused == nil
	})
	if refused != nil || hasGlob(w) {
		return "", fmt.Errorf("-make-args expands nothing ($VAR, $(cmd), globs): quote the value")
	}
	return expand.Literal(&expand.Config{}, w)
}

// hasGlob reports an unquoted glob character, which a shell would expand.
func hasGlob(w *syntax.Word) bool {
	for _, p := range w.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.ContainsAny(l.Value, "*?[") {
			return true
		}
	}
	return false
}

// checkMakeArg rejects what is not VAR=value, and the variables the rig
// sets itself.
func checkMakeArg(f string) error {
	name, _, ok := strings.Cut(f, "=")
	if !ok || !makeVarRE.MatchString(name) {
		return fmt.Errorf("%q is not a make variable assignment VAR=value", f)
	}
	if slices.Contains(reservedVars, name) {
		return fmt.Errorf("%s is the rig's to set: it builds against the guest's kernel, for the guest's machine", name)
	}
	return nil
}

var makeVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedVars are the variables the rig sets for every build: a
// -make-args of its own would build against another tree or for
// another machine than the one the module is tested on.
var reservedVars = []string{"M", "KDIR", "KERNELDIR", "KERNEL_SRC", "KSRC", "KVER", "ARCH", "CROSS_COMPILE", "KERNELRELEASE"}
