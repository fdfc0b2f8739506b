package kernel

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// DebianPrebuilt is a distribution kernel the rig does not build: Debian's
// linux-image-<series>.0-NN-<flavour>-unsigned, with the matching
// linux-headers package to build modules against. NN is the newest ABI
// apt knows.
type DebianPrebuilt struct {
	Series  string // "6.1"
	Flavour string // "cloud-amd64"
}

func (d DebianPrebuilt) String() string {
	return fmt.Sprintf("Debian prebuilt linux-image-%s.0-NN-%s-unsigned", d.Series, d.Flavour)
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
}

// Key implements Source: it resolves the ABI and returns the key Fetch's
// Prebuilt will carry. Fragments do not apply to a kernel the rig does not
// build.
func (d DebianPrebuilt) Key(ctx context.Context, _ *Env) (string, error) {
	abi, err := d.ABI(ctx)
	if err != nil {
		return "", err
	}
	return prebuiltKey(d.release(abi)), nil
}

// Prepare implements Source: it fetches the image and its headers.
func (d DebianPrebuilt) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	if !strings.HasSuffix(d.Flavour, "-"+env.Arch.GOARCH) {
		return nil, fmt.Errorf("%w: %s is not a kernel for %s", ErrBadSource, d, env.Arch.Name)
	}
	hit := false
	if abi, err := d.ABI(ctx); err == nil {
		_, hit = env.Cache.Lookup("prebuilt", d.entryKey(abi))
	}
	p, err := d.Fetch(ctx, env.Cache)
	if err != nil {
		return nil, err
	}
	return &Kernel{Image: p.Image, BuildDir: p.Headers, Config: p.Config, Release: p.Release, Key: p.Key, Fresh: !hit,
		Summary: fmt.Sprintf("Debian %s, prebuilt (modules build against its headers)", p.Release),
		Origin:  Origin{Kind: OriginDebianPrebuilt}}, nil
}

// SourceDir implements Source: a prebuilt kernel has none.
func (d DebianPrebuilt) SourceDir(context.Context, *Env) (string, error) {
	return "", fmt.Errorf("%w: %s ships no source tree; use -kernel VERSION for tools such as checkpatch.pl", ErrBadSource, d)
}

func (d DebianPrebuilt) release(abi string) string { return abi + "-" + d.Flavour }

func prebuiltKey(release string) string { return cache.Key("prebuilt", release) }

// ABI finds the newest ABI of the flavour in apt's lists.
func (d DebianPrebuilt) ABI(ctx context.Context) (string, error) {
	pat := fmt.Sprintf(`^linux-image-%s\.0-[0-9]+-%s-unsigned$`, regexp.QuoteMeta(d.Series), regexp.QuoteMeta(d.Flavour))
	out, err := exec.CommandContext(ctx, "apt-cache", "search", "--names-only", pat).Output()
	if err != nil {
		return "", fmt.Errorf("%w: apt-cache search: %v", ErrBadSource, err)
	}
	abiRE := regexp.MustCompile(`linux-image-(` + regexp.QuoteMeta(d.Series) + `\.0-(\d+))-`)
	type abi struct {
		s string
		n int
	}
	var abis []abi
	for _, m := range abiRE.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[2])
		abis = append(abis, abi{m[1], n})
	}
	if len(abis) == 0 {
		return "", fmt.Errorf("%w: apt knows no linux-image-%s.0-NN-%s-unsigned; run `apt-get update`", ErrBadSource, d.Series, d.Flavour)
	}
	sort.Slice(abis, func(i, j int) bool { return abis[i].n < abis[j].n })
	return abis[len(abis)-1].s, nil
}

func (d DebianPrebuilt) packages(abi string) []string {
	release := d.release(abi)
	return []string{
		"linux-image-" + release + "-unsigned",
		"linux-headers-" + release,
		"linux-headers-" + abi + "-common",
		"linux-kbuild-" + d.Series,
	}
}

// entryKey names the cache entry of the unpacked packages.
func (d DebianPrebuilt) entryKey(abi string) string {
	return cache.Key("debian-prebuilt;v2", strings.Join(d.packages(abi), ","))
}

// Fetch downloads the image, its headers, the common headers and the kbuild
// tools they point into, unpacks them into the cache once (not into the
// system), and returns their paths.
func (d DebianPrebuilt) Fetch(ctx context.Context, c *cache.Cache) (Prebuilt, error) {
	abi, err := d.ABI(ctx)
	if err != nil {
		return Prebuilt{}, err
	}
	release := d.release(abi)
	pkgs := d.packages(abi)
	key := d.entryKey(abi)
	final := c.Path("prebuilt", key)
	dir, _, err := c.Get(ctx, "prebuilt", key, func(ctx context.Context, tmp string) error {
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
		return os.WriteFile(mk, b, 0o644)
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
	}
	for _, f := range []string{p.Image, p.Headers, p.Config} {
		if _, err := os.Stat(f); err != nil {
			return Prebuilt{}, fmt.Errorf("%w: the Debian packages lack %s", ErrBadSource, f)
		}
	}
	return p, nil
}
