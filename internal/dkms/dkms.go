// Package dkms reads a DKMS dkms.conf the way dkms(8) does: the file is a
// bash fragment that dkms sources with its own variables set ($kernelver,
// $kernel_source_dir, $dkms_tree, ...), and then reads the directives
// (PACKAGE_NAME, MAKE[n], BUILT_MODULE_NAME[n], ...) it left behind. The
// fragment is evaluated by a shell interpreter in this process, with no
// command run and no file opened: a dkms.conf that needs either is
// refused, with what it tried.
package dkms

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// FileName is the file that makes a directory a DKMS package.
const FileName = "dkms.conf"

// Env is what dkms sets before it sources a dkms.conf.
type Env struct {
	// KernelVer is $kernelver, the target kernel's release.
	KernelVer string
	// Arch is $arch, the target's uname -m.
	Arch string
	// KernelSourceDir is $kernel_source_dir, the tree modules build
	// against.
	KernelSourceDir string
	// DKMSTree is $dkms_tree; the build directory is
	// $dkms_tree/$PACKAGE_NAME/$PACKAGE_VERSION/build.
	DKMSTree string
	// SourceTree is $source_tree; the sources are
	// $source_tree/$PACKAGE_NAME-$PACKAGE_VERSION.
	SourceTree string
}

// vars are the environment the fragment sees. $module and
// $module_version are what dkms was asked to build, which is the
// package's own name and version (known after a first reading).
func (e Env) vars(module, version string) []string {
	return []string{
		"kernelver=" + e.KernelVer, "arch=" + e.Arch, "kernel_source_dir=" + e.KernelSourceDir,
		"kernel_config=" + e.KernelSourceDir + "/.config",
		"dkms_tree=" + e.DKMSTree, "source_tree=" + e.SourceTree, "install_tree=/lib/modules",
		"module=" + module, "module_version=" + version,
		"PATH=/usr/bin:/bin", "HOME=/nonexistent",
	}
}

// Module is one module record of a dkms.conf.
type Module struct {
	// Name is BUILT_MODULE_NAME[n], without .ko.
	Name string
	// Location is BUILT_MODULE_LOCATION[n], relative to the build
	// directory: "" or a path that ends in "/".
	Location string
	// DestName and DestLocation are DEST_MODULE_NAME[n] and
	// DEST_MODULE_LOCATION[n], where dkms install would put it.
	DestName, DestLocation string
}

// Path is the built module's path relative to the build directory.
func (m Module) Path() string { return m.Location + m.Name + ".ko" }

// Conf is what a dkms.conf says, for one kernel.
type Conf struct {
	PackageName, PackageVersion string
	// Make is the build command for the kernel: the MAKE[n] whose
	// MAKE_MATCH[n] matches $kernelver, else MAKE[0], else dkms's default.
	// It is run by a shell in the build directory, as dkms runs it.
	Make string
	// Clean is CLEAN (dkms no longer runs it; the build directory is
	// fresh each time).
	Clean   string
	Modules []Module
}

// Unsupported are directives that make dkms run more than the build
// command, which the rig does not do: it says so rather than build
// something else than dkms would.
var Unsupported = []string{"PRE_BUILD", "POST_BUILD", "PATCH", "BUILD_DEPENDS"}

// ReadFile reads the dkms.conf at path.
func ReadFile(ctx context.Context, path string, env Env) (Conf, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Conf{}, err
	}
	return Read(ctx, string(b), path, env)
}

// Read evaluates a dkms.conf, src, named name in errors. As dkms add does
// for a source tree, it reads the file once for the package's name and
// version, then again with $module and $module_version set to them.
func Read(ctx context.Context, src, name string, env Env) (Conf, error) {
	vars, err := source(ctx, src, name, env.vars("", ""))
	if err != nil {
		return Conf{}, err
	}
	pkg, version := str(vars, "PACKAGE_NAME"), str(vars, "PACKAGE_VERSION")
	if vars, err = source(ctx, src, name, env.vars(pkg, version)); err != nil {
		return Conf{}, err
	}
	return conf(vars, name, env)
}

// source runs the fragment with the environment env and returns the
// variables it leaves.
func source(ctx context.Context, src, name string, env []string) (map[string]expand.Variable, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), name)
	if err != nil {
		return nil, fmt.Errorf("%s is not a shell fragment dkms could source: %w", name, err)
	}
	var refused []string
	r, err := interp.New(
		interp.Env(expand.ListEnviron(env...)),
		interp.StdIO(nil, io.Discard, io.Discard),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			return func(ctx context.Context, args []string) error {
				refused = append(refused, "runs "+strconv.Quote(strings.Join(args, " ")))
				return interp.NewExitStatus(127)
			}
		}),
		interp.OpenHandler(func(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
			if path == "/dev/null" {
				return devNull{}, nil
			}
			refused = append(refused, "opens "+path)
			return nil, os.ErrPermission
		}),
	)
	if err != nil {
		return nil, err
	}
	r.Vars = map[string]expand.Variable{}
	err = r.Run(ctx, file)
	if len(refused) > 0 {
		return nil, fmt.Errorf("%s %s: the rig reads dkms.conf without running commands or opening files; set the value itself", name, refused[0])
	}
	// Like bash's source, the status of the last command does not matter.
	if _, status := interp.IsExitStatus(err); err != nil && !status {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r.Vars, nil
}

// devNull is /dev/null, the one file a dkms.conf may redirect to.
type devNull struct{}

func (devNull) Read([]byte) (int, error)    { return 0, io.EOF }
func (devNull) Write(b []byte) (int, error) { return len(b), nil }
func (devNull) Close() error                { return nil }

// str is a string variable's value, or an array's first element, as bash
// expands $NAME.
func str(vars map[string]expand.Variable, name string) string {
	v, ok := vars[name]
	if !ok || !v.IsSet() {
		return ""
	}
	if v.Kind == expand.Indexed {
		return at(vars, name, 0)
	}
	return v.Str
}

// at is ${NAME[i]}: "" when unset.
func at(vars map[string]expand.Variable, name string, i int) string {
	v := vars[name]
	switch v.Kind {
	case expand.Indexed:
		if i < len(v.List) {
			return v.List[i]
		}
	case expand.String:
		if i == 0 {
			return v.Str
		}
	}
	return ""
}

// length is one more than the highest index of an array that is set.
func length(vars map[string]expand.Variable, name string) int {
	v := vars[name]
	switch v.Kind {
	case expand.Indexed:
		for n := len(v.List); n > 0; n-- {
			if v.List[n-1] != "" {
				return n
			}
		}
	case expand.String:
		if v.Str != "" {
			return 1
		}
	}
	return 0
}

// conf reads the directives the way dkms's read_conf does.
func conf(vars map[string]expand.Variable, name string, env Env) (Conf, error) {
	c := Conf{PackageName: str(vars, "PACKAGE_NAME"), PackageVersion: str(vars, "PACKAGE_VERSION"), Clean: str(vars, "CLEAN")}
	var errs []string
	if c.PackageName == "" {
		errs = append(errs, "no PACKAGE_NAME")
	}
	if c.PackageVersion == "" {
		errs = append(errs, "no PACKAGE_VERSION")
	}
	for _, u := range Unsupported {
		if length(vars, u) > 0 {
			errs = append(errs, u+" is set, and the rig runs only the build command (MAKE)")
		}
	}
	mods, merrs := modules(vars, c.PackageName)
	c.Modules, errs = mods, append(errs, merrs...)
	mk, err := makeCommand(vars, env.KernelVer)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if c.Make = mk; c.Make == "" {
		c.Make = "make -C " + env.KernelSourceDir + " M=" + c.BuildDir(env)
	}
	if len(errs) > 0 {
		return Conf{}, fmt.Errorf("%s: %s", name, strings.Join(errs, "; "))
	}
	return c, nil
}

// BuildDir is where dkms builds the package:
// $dkms_tree/$PACKAGE_NAME/$PACKAGE_VERSION/build.
func (c Conf) BuildDir(env Env) string {
	return env.DKMSTree + "/" + c.PackageName + "/" + c.PackageVersion + "/build"
}

// SourceDir is where dkms keeps the package's sources:
// $source_tree/$PACKAGE_NAME-$PACKAGE_VERSION.
func (c Conf) SourceDir(env Env) string {
	return env.SourceTree + "/" + c.PackageName + "-" + c.PackageVersion
}

// moduleArrays are the arrays whose highest index counts the modules.
var moduleArrays = []string{"BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME", "DEST_MODULE_LOCATION"}

// modules reads the module records, with dkms's defaults and checks.
func modules(vars map[string]expand.Variable, pkg string) ([]Module, []string) {
	n := 0
	for _, a := range moduleArrays {
		n = max(n, length(vars, a))
	}
	var mods []Module
	var errs []string
	for i := range n {
		m := Module{Name: at(vars, "BUILT_MODULE_NAME", i), Location: at(vars, "BUILT_MODULE_LOCATION", i),
			DestName: at(vars, "DEST_MODULE_NAME", i), DestLocation: at(vars, "DEST_MODULE_LOCATION", i)}
		if m.Name == "" && n == 1 {
			m.Name = pkg
		}
		if m.DestName == "" {
			m.DestName = m.Name
		}
		if m.Location != "" && !strings.HasSuffix(m.Location, "/") {
			m.Location += "/"
		}
		switch {
		case m.Name == "":
			errs = append(errs, fmt.Sprintf("no BUILT_MODULE_NAME[%d]", i))
		case strings.HasSuffix(m.Name, ".o") || strings.HasSuffix(m.Name, ".ko"):
			errs = append(errs, fmt.Sprintf("BUILT_MODULE_NAME[%d]=%q ends in .o or .ko", i, m.Name))
		}
		if !destRE.MatchString(m.DestLocation) {
			errs = append(errs, fmt.Sprintf("DEST_MODULE_LOCATION[%d]=%q does not begin with /kernel, /updates or /extra", i, m.DestLocation))
		}
		mods = append(mods, m)
	}
	if n == 0 {
		errs = append(errs, "no BUILT_MODULE_NAME: the package builds no module")
	}
	return mods, errs
}

var destRE = regexp.MustCompile(`^/(kernel|updates|extra)`)

// makeCommand is MAKE[0], unless MAKE_MATCH[0] is set, overridden by each
// MAKE[n] whose MAKE_MATCH[n] matches kernelver (bash's =~; Go's regexp
// takes the extended expressions dkms.conf files use).
func makeCommand(vars map[string]expand.Variable, kernelver string) (string, error) {
	cmd := ""
	if at(vars, "MAKE_MATCH", 0) == "" {
		cmd = at(vars, "MAKE", 0)
	}
	for i := range length(vars, "MAKE") {
		m, match := at(vars, "MAKE", i), at(vars, "MAKE_MATCH", i)
		if m == "" || match == "" {
			continue
		}
		re, err := regexp.Compile(match)
		if err != nil {
			return "", fmt.Errorf("MAKE_MATCH[%d]=%q is not a regular expression: %v", i, match, err)
		}
		if re.MatchString(kernelver) {
			cmd = m
		}
	}
	return cmd, nil
}

// BuildCommand is the command dkms build runs: the make command with a
// leading "make" given KERNELRELEASE (as dkms does; its -j is left to
// the caller).
func (c Conf) BuildCommand(env Env) string {
	if rest, ok := strings.CutPrefix(c.Make, "make"); ok {
		return "make KERNELRELEASE=" + env.KernelVer + rest
	}
	return c.Make
}
