package kernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mmaprig/mmaprig/internal/cache"
	"github.com/mmaprig/mmaprig/internal/proc"
)

// ErrBadSource marks a source the user named that cannot be used: an
// unknown version, a corrupt tarball, a checksum mismatch.
var ErrBadSource = errors.New("bad kernel source")

// DebianPackage is a Debian linux-source-X.Y package, as apt-get downloads it.
type DebianPackage struct {
	Package string
}

// DebianSource returns the Debian source package for a version like "6.1".
func DebianSource(version string) DebianPackage {
	return DebianPackage{Package: "linux-source-" + version}
}

func (d DebianPackage) String() string { return "Debian package " + d.Package }

// Origin implements unpacker.
func (d DebianPackage) Origin(context.Context, *cache.Cache) Origin {
	return Origin{Kind: OriginDebianSource}
}

// Key implements Source.
func (d DebianPackage) Key(ctx context.Context, env *Env) (string, error) {
	return unpackedKey(ctx, d, env)
}

// Prepare implements Source.
func (d DebianPackage) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	return prepareUnpacked(ctx, d, env)
}

// SourceDir implements Source.
func (d DebianPackage) SourceDir(ctx context.Context, env *Env) (string, error) {
	return unpackedSourceDir(ctx, d, env)
}

// ID is the package name and the version apt would fetch, or, when apt
// knows nothing (no package lists), the newest version already downloaded.
func (d DebianPackage) ID(ctx context.Context, c *cache.Cache) (string, error) {
	v, err := d.memoCandidate(ctx, c)
	if err != nil {
		if v := d.newestDownloaded(c); v != "" {
			return d.Package + "=" + v, nil
		}
		return "", err
	}
	return d.Package + "=" + v, nil
}

var versionRE = regexp.MustCompile(`(?m)^Version: (\S+)$`)

// aptListsDir holds apt's package lists.
const aptListsDir = "/var/lib/apt/lists"

// memoCandidate is candidate, remembered until apt's lists change.
func (d DebianPackage) memoCandidate(ctx context.Context, c *cache.Cache) (string, error) {
	return aptMemo(ctx, c, d.Package, d.candidate)
}

// aptMemo is what answer says, remembered in the cache under what until
// apt's lists change: without a pkgcache, apt-cache takes most of a
// second, and more on a busy machine, on every warm run.
func aptMemo(ctx context.Context, c *cache.Cache, what string, answer func(context.Context) (string, error)) (string, error) {
	lists, _ := filepath.Glob(filepath.Join(aptListsDir, "*_Packages*"))
	fp := []string{what}
	for _, l := range lists {
		if fi, err := os.Stat(l); err == nil {
			fp = append(fp, l, fi.ModTime().String(), strconv.FormatInt(fi.Size(), 10))
		}
	}
	memo := filepath.Join(c.Root(), "apt-versions", cache.Key(fp...))
	if b, err := os.ReadFile(memo); err == nil && len(b) > 0 {
		return string(b), nil
	}
	v, err := answer(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(memo), 0o755); err == nil {
		tmp := memo + ".tmp-" + strconv.Itoa(os.Getpid())
		if os.WriteFile(tmp, []byte(v), 0o644) == nil {
			os.Rename(tmp, memo)
		}
	}
	return v, nil
}

func (d DebianPackage) candidate(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", d.Package).Output()
	if m := versionRE.FindSubmatch(out); err == nil && m != nil {
		return string(m[1]), nil
	}
	return "", fmt.Errorf("%w: apt knows no package %s; run `apt-get update`, "+
		"or use -kernel-src for a tree or tarball", ErrBadSource, d.Package)
}

func (d DebianPackage) newestDownloaded(c *cache.Cache) string {
	debs, _ := filepath.Glob(filepath.Join(c.Root(), "downloads", "*", d.Package+"_*.deb"))
	var vers []string
	for _, deb := range debs {
		v := strings.TrimPrefix(filepath.Base(deb), d.Package+"_")
		vers = append(vers, strings.TrimSuffix(v, "_all.deb"))
	}
	if len(vers) == 0 {
		return ""
	}
	sort.Strings(vers)
	return vers[len(vers)-1]
}

// Unpack downloads the package (once; it is cached) and unpacks the
// kernel tarball it ships under usr/src.
func (d DebianPackage) Unpack(ctx context.Context, c *cache.Cache, dir string) error {
	id, err := d.ID(ctx, c)
	if err != nil {
		return err
	}
	dl, _, err := c.Get(ctx, "downloads", cache.Key(id), func(ctx context.Context, tmp string) error {
		cmd := exec.CommandContext(ctx, "apt-get", "download", id)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get download %s: %w\n%s", id, err, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("%s: expected one .deb in %s, found %d", d, dl, len(debs))
	}
	script := `dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards './usr/src/linux-source-*.tar.*' | tar -xJ --strip-components=1 -C "$2"`
	return run(ctx, io.Discard, "bash", "-o", "pipefail", "-c", script, "unpack", debs[0], dir)
}

// Tarball is a kernel source tarball on the local disk.
type Tarball struct {
	Path string
}

func (t Tarball) String() string { return "tarball " + t.Path }

// Origin implements unpacker.
func (t Tarball) Origin(context.Context, *cache.Cache) Origin { return Origin{Kind: OriginTarball} }

// Key implements Source.
func (t Tarball) Key(ctx context.Context, env *Env) (string, error) { return unpackedKey(ctx, t, env) }

// Prepare implements Source.
func (t Tarball) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	return prepareUnpacked(ctx, t, env)
}

// SourceDir implements Source.
func (t Tarball) SourceDir(ctx context.Context, env *Env) (string, error) {
	return unpackedSourceDir(ctx, t, env)
}

// ID is the tarball's sha256.
func (t Tarball) ID(context.Context, *cache.Cache) (string, error) {
	sum, err := cache.HashFile(t.Path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	return "sha256:" + sum, nil
}

// Unpack extracts the tarball, dropping its top directory.
func (t Tarball) Unpack(ctx context.Context, _ *cache.Cache, dir string) error {
	return untar(ctx, t.Path, dir)
}

func untar(ctx context.Context, path, dir string) error {
	var out bytes.Buffer
	if err := run(ctx, &out, "tar", "-xf", path, "--strip-components=1", "-C", dir); err != nil {
		if he := cache.BuildHostFault(filepath.Dir(dir), out.String(), err); he != nil {
			return he // a full disk, not a bad tarball
		}
		return fmt.Errorf("%w: unpack %s: %v: %s", ErrBadSource, path, err, strings.TrimSpace(out.String()))
	}
	if _, err := os.Stat(filepath.Join(dir, "Makefile")); err != nil {
		return fmt.Errorf("%w: %s holds no kernel tree (no top-level Makefile)", ErrBadSource, path)
	}
	return nil
}

// URL is a tarball to download, pinned by its sha256.
type URL struct {
	URL    string
	SHA256 string
	// Client defaults to http.DefaultClient.
	Client *http.Client
}

func (u URL) String() string { return u.URL }

// Origin implements unpacker.
func (u URL) Origin(context.Context, *cache.Cache) Origin { return Origin{Kind: OriginURL} }

// Key implements Source.
func (u URL) Key(ctx context.Context, env *Env) (string, error) { return unpackedKey(ctx, u, env) }

// Prepare implements Source.
func (u URL) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	return prepareUnpacked(ctx, u, env)
}

// SourceDir implements Source.
func (u URL) SourceDir(ctx context.Context, env *Env) (string, error) {
	return unpackedSourceDir(ctx, u, env)
}

// ID is the pinned sha256.
func (u URL) ID(context.Context, *cache.Cache) (string, error) {
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(u.SHA256) {
		return "", fmt.Errorf("%w: %s needs its sha256 as 64 lowercase hex digits (-kernel-sha256), got %q", ErrBadSource, u.URL, u.SHA256)
	}
	return "sha256:" + u.SHA256, nil
}

// downloadName is the name of a downloaded tarball in its cache entry. The
// entry is keyed by the content's sha256, so the name must not come from
// the URL: two URLs may serve the same tarball. tar finds the compression
// from the content.
const downloadName = "source.tar"

// Unpack downloads the tarball into the cache, verifying its sha256, and
// extracts it. A download that fails or does not match leaves nothing.
func (u URL) Unpack(ctx context.Context, c *cache.Cache, dir string) error {
	id, err := u.ID(ctx, c)
	if err != nil {
		return err
	}
	dl, _, err := c.Get(ctx, "downloads", cache.Key(id), func(ctx context.Context, tmp string) error {
		return u.download(ctx, filepath.Join(tmp, downloadName))
	})
	if err != nil {
		return err
	}
	return untar(ctx, filepath.Join(dl, downloadName), dir)
}

func (u URL) download(ctx context.Context, dst string) error {
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", u.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: download %s: %s", ErrBadSource, u.URL, resp.Status)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return fmt.Errorf("download %s: %w", u.URL, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != u.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, want %s; the download is corrupt or the pin is wrong",
			ErrBadSource, u.URL, got, u.SHA256)
	}
	return f.Close()
}

// LocalTree is a kernel tree on the local disk, built out of tree (O=)
// into the cache. It may change between runs, so every run lets make bring
// the cached build up to date.
type LocalTree struct {
	Dir string
}

func (l LocalTree) String() string { return "tree " + l.Dir }

// Key names the build by the tree's path and the fragments: make decides
// what changed, and TreeHash tells modules apart.
func (l LocalTree) Key(ctx context.Context, env *Env) (string, error) {
	abs, err := filepath.Abs(l.Dir)
	if err != nil {
		return "", err
	}
	return Key(ctx, env.Arch, "tree:"+abs, env.Fragments), nil
}

// Prepare configures and builds the tree on the first run, and runs make
// again on every later one. A failed update drops the cached build.
func (l LocalTree) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	key, err := l.Key(ctx, env)
	if err != nil {
		return nil, err
	}
	fresh := false
	dir, _, err := env.Cache.Get(ctx, "kernel", key, func(ctx context.Context, out string) error {
		fresh = true
		return build(ctx, env, l.Dir, out)
	})
	if err != nil {
		return nil, err
	}
	if !fresh {
		env.progress(0, "make in "+l.Dir)
		err := env.Cache.Update(ctx, "kernel", key, func(ctx context.Context, out string) error {
			return compile(ctx, env, l.Dir, out)
		})
		if err != nil {
			return nil, err
		}
	}
	k, err := builtKernel(env.Arch, dir, key, true, l.String())
	if err != nil {
		return nil, err
	}
	k.Fresh = fresh
	k.Origin = Origin{Kind: OriginTree}
	return k, nil
}

// SourceDir is the tree itself.
func (l LocalTree) SourceDir(context.Context, *Env) (string, error) { return l.Dir, nil }

// ParseSource picks the source for -kernel-src: a git repository
// (git+URL#REF, or git://), a URL (with sha), a directory, or a tarball.
func ParseSource(spec, sha string) (Source, error) {
	if rest, ok := strings.CutPrefix(spec, "git+"); ok || strings.HasPrefix(spec, "git://") {
		if !ok {
			rest = spec
		}
		repo, ref, _ := strings.Cut(rest, "#")
		if !strings.Contains(repo, "://") {
			return nil, fmt.Errorf("%w: -kernel-src %s: a git source is git+URL#REF, such as git+%s#master", ErrBadSource, spec, Mainline)
		}
		return NewGit(repo, ref), nil
	}
	if strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://") {
		return URL{URL: spec, SHA256: sha}, nil
	}
	fi, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: -kernel-src %s: %v", ErrBadSource, spec, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(spec, "Kconfig")); err != nil {
			return nil, fmt.Errorf("%w: -kernel-src %s is a directory but not a kernel tree (no Kconfig)", ErrBadSource, spec)
		}
		return LocalTree{Dir: spec}, nil
	}
	return Tarball{Path: spec}, nil
}

// run runs a command, copying its combined output to w.
func run(ctx context.Context, w io.Writer, name string, args ...string) error {
	cmd := proc.Command(ctx, 5*time.Second, name, args...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// firstLine returns the first line a command prints, or "" on error.
func firstLine(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(out)).ReadLine()
	return string(line)
}
