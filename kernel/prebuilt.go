package kernel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// DebianPrebuilt is a distribution kernel the rig does not build: Debian's
// linux-image-ABI-FLAVOUR-unsigned, with the matching linux-headers
// packages to build modules against. ABI is the newest apt knows of the
// series: 6.1.0-NN for bookworm's 6.1, 6.12.NN+debNN for its 6.12.
type DebianPrebuilt struct {
	Series  string // "6.1"
	Flavour string // "cloud-amd64"
}

func (d DebianPrebuilt) String() string {
	return fmt.Sprintf("Debian prebuilt linux-image-%s-%s", d.Series, d.Flavour)
}

// ParsePrebuilt reads a -kernel value such as "debian:6.12-cloud": Debian's
// prebuilt kernel of a series and flavour, for an architecture (a Debian
// architecture name such as amd64). The flavour defaults to the generic
// one ("debian:6.12"). ok is false for a value that is not debian:...
func ParsePrebuilt(spec, debArch string) (p DebianPrebuilt, ok bool, err error) {
	rest, ok := strings.CutPrefix(spec, "debian:")
	if !ok {
		return DebianPrebuilt{}, false, nil
	}
	m := regexp.MustCompile(`^(\d+\.\d+)(?:-([a-z]+))?$`).FindStringSubmatch(rest)
	if m == nil {
		return DebianPrebuilt{}, true, fmt.Errorf("-kernel %q: want debian:SERIES or debian:SERIES-FLAVOUR, such as debian:6.12 or debian:6.12-cloud", spec)
	}
	flavour := debArch
	if m[2] != "" {
		flavour = m[2] + "-" + debArch
	}
	return DebianPrebuilt{Series: m[1], Flavour: flavour}, true, nil
}

// Prebuilt is a fetched distribution kernel.
type Prebuilt struct {
	// ABI is the package ABI, such as "6.1.0-56".
	ABI string
	// Image is the bootable kernel.
	Image string
	// Headers is the tree to build modules against (KDIR).
	Headers string
	// Config is the kernel's .config.
	Config string
	// Release is uname -r.
	Release string
	// Key stands for this kernel in cache keys, as Key does for a built one.
	Key string
	// BootModules are the image's modules the guest loads first, in
	// order (see BootModules).
	BootModules []string
	// Fetched is true when this call downloaded the packages, false for
	// a cache hit.
	Fetched bool
}

// Key implements Source: it resolves the ABI and returns the key Fetch's
// Prebuilt will carry. Fragments do not apply to a kernel the rig does not
// build.
func (d DebianPrebuilt) Key(ctx context.Context, env *Env) (string, error) {
	abi, err := d.ABI(ctx, env.Cache)
	if err != nil {
		return "", err
	}
	return prebuiltKey(d.release(abi)), nil
}

// Prepare implements Source: it fetches the image and its headers.
func (d DebianPrebuilt) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	if d.Flavour != env.Arch.GOARCH && !strings.HasSuffix(d.Flavour, "-"+env.Arch.GOARCH) {
		return nil, fmt.Errorf("%w: %s is not a kernel for %s", ErrBadSource, d, env.Arch.Name)
	}
	env.progress(0, "fetching "+d.String())
	p, err := d.Fetch(ctx, env.Cache)
	if err != nil {
		return nil, err
	}
	how := "cached"
	if p.Fetched {
		how = "downloaded"
	}
	return &Kernel{Image: p.Image, BuildDir: p.Headers, Config: p.Config, Release: p.Release, Key: p.Key, Fresh: p.Fetched,
		BootModules: p.BootModules,
		Summary:     fmt.Sprintf("Debian %s, prebuilt, %s (modules build against its headers)", p.Release, how),
		Origin:      Origin{Kind: OriginDebianPrebuilt}}, nil
}

// SourceDir implements Source: a prebuilt kernel has none.
func (d DebianPrebuilt) SourceDir(context.Context, *Env) (string, error) {
	return "", fmt.Errorf("%w: %s ships no source tree; use -kernel VERSION for tools such as checkpatch.pl", ErrBadSource, d)
}

func (d DebianPrebuilt) release(abi string) string { return abi + "-" + d.Flavour }

func prebuiltKey(release string) string { return cache.Key("prebuilt", release) }

// ABI finds the newest ABI of the flavour in apt's lists, remembered in
// c until they change.
func (d DebianPrebuilt) ABI(ctx context.Context, c *cache.Cache) (string, error) {
	return aptMemo(ctx, c, "prebuilt-abi;"+d.Series+";"+d.Flavour, d.searchABI)
}

// searchABI asks apt for the newest ABI of the flavour.
func (d DebianPrebuilt) searchABI(ctx context.Context) (string, error) {
	series := regexp.QuoteMeta(d.Series)
	pat := fmt.Sprintf(`^linux-image-%s\..*-%s-unsigned$`, series, regexp.QuoteMeta(d.Flavour))
	out, err := exec.CommandContext(ctx, "apt-cache", "search", "--names-only", pat).Output()
	if err != nil {
		return "", fmt.Errorf("%w: apt-cache search: %v", ErrBadSource, err)
	}
	abi, ok := newestABI(string(out), d.Series, d.Flavour)
	if !ok {
		return "", fmt.Errorf("%w: apt knows no linux-image-%s.*-%s-unsigned; run `apt-get update`, and check the series and flavour (`apt-cache search linux-image-%s`)",
			ErrBadSource, d.Series, d.Flavour, d.Series)
	}
	return abi, nil
}

// newestABI picks the newest ABI of the series and flavour among apt-cache
// search's lines: 6.1.0-NN or 6.12.NN+debNN, by NN.
func newestABI(lines, series, flavour string) (string, bool) {
	s := regexp.QuoteMeta(series)
	re := regexp.MustCompile(`^linux-image-(` + s + `\.0-(\d+)|` + s + `\.(\d+)\+deb\d+)-` + regexp.QuoteMeta(flavour) + `-unsigned$`)
	best, bestN := "", -1
	for _, l := range strings.Split(lines, "\n") {
		name, _, _ := strings.Cut(l, " ")
		m := re.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2] + m[3])
		if n > bestN {
			best, bestN = m[1], n
		}
	}
	return best, bestN >= 0
}

// packages are what Fetch downloads: the image, the flavour's headers,
// the common headers, and the kbuild tools, which 6.1 names by series and
// 6.12 by ABI.
func (d DebianPrebuilt) packages(abi string) []string {
	release := d.release(abi)
	kbuild := "linux-kbuild-" + d.Series
	if strings.Contains(abi, "+deb") {
		kbuild = "linux-kbuild-" + abi
	}
	return []string{
		"linux-image-" + release + "-unsigned",
		"linux-headers-" + release,
		"linux-headers-" + abi + "-common",
		kbuild,
	}
}

// entryKey names the cache entry of the unpacked packages.
func (d DebianPrebuilt) entryKey(abi string) string {
	return cache.Key("debian-prebuilt;v3", strings.Join(d.packages(abi), ","))
}

// Fetch downloads the image, its headers, the common headers and the kbuild
// tools they point into, unpacks them into the cache once (not into the
// system), and returns their paths.
func (d DebianPrebuilt) Fetch(ctx context.Context, c *cache.Cache) (Prebuilt, error) {
	abi, err := d.ABI(ctx, c)
	if err != nil {
		return Prebuilt{}, err
	}
	release := d.release(abi)
	key := d.entryKey(abi)
	final := c.Path("prebuilt", key)
	dir, hit, err := c.Get(ctx, "prebuilt", key, func(ctx context.Context, tmp string) error {
		return unpackDebs(ctx, d.packages(abi), tmp, final, release)
	})
	if err != nil {
		return Prebuilt{}, err
	}
	root := filepath.Join(dir, "root")
	p := Prebuilt{
		ABI:     abi,
		Image:   filepath.Join(root, "boot", "vmlinuz-"+release),
		Headers: filepath.Join(root, "usr", "src", "linux-headers-"+release),
		Config:  filepath.Join(root, "boot", "config-"+release),
		Release: release,
		Key:     prebuiltKey(release),
		Fetched: !hit,
	}
	for _, f := range []string{p.Image, p.Headers, p.Config} {
		if _, err := os.Stat(f); err != nil {
			return Prebuilt{}, fmt.Errorf("%w: the Debian packages lack %s", ErrBadSource, f)
		}
	}
	p.BootModules, err = BootModules(filepath.Join(root, "lib", "modules", release), BootDrivers)
	return p, err
}

// unpackDebs downloads the packages into tmp, the cache entry that will be
// final, and unpacks them into tmp/root, ready to build modules against.
func unpackDebs(ctx context.Context, pkgs []string, tmp, final, release string) error {
	dl := filepath.Join(tmp, "debs")
	if err := os.Mkdir(dl, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download"}, pkgs...)...)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	for _, deb := range debs {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, filepath.Join(tmp, "root")).CombinedOutput(); err != nil {
			return fmt.Errorf("unpack %s: %w\n%s", deb, err, out)
		}
	}
	if err := os.RemoveAll(dl); err != nil {
		return err
	}
	// The headers' Makefile includes the common one by its installed,
	// absolute path; point it into the unpacked tree.
	mk := filepath.Join(tmp, "root", "usr", "src", "linux-headers-"+release, "Makefile")
	b, err := os.ReadFile(mk)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	b = []byte(strings.ReplaceAll(string(b), "include /usr/src/", "include "+filepath.Join(final, "root", "usr", "src")+"/"))
	if err := os.WriteFile(mk, b, 0o644); err != nil {
		return err
	}
	return depmod(ctx, filepath.Join(tmp, "root"), release)
}

// depmod writes the modules.dep and modules.builtin.* files of the
// unpacked image, which Debian's package leaves to its postinst.
func depmod(ctx context.Context, root, release string) error {
	bin, err := exec.LookPath("depmod")
	if err != nil {
		bin = "/sbin/depmod" // root's PATH has it; another user's may not
	}
	out, err := exec.CommandContext(ctx, bin, "-b", root, release).CombinedOutput()
	if err != nil {
		return fmt.Errorf("depmod for %s: %w\n%s", release, err, out)
	}
	return nil
}
