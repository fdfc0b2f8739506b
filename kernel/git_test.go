package kernel

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/cache"
)

// gitRepo is a bare repository on the local disk, served by file://, and
// the work tree that pushes to it.
type gitRepo struct {
	url, bare, work string
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=rig", "GIT_AUTHOR_EMAIL=rig@example.org",
		"GIT_COMMITTER_NAME=rig", "GIT_COMMITTER_EMAIL=rig@example.org", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newGitRepo makes a small tree shaped like a kernel's (a top Makefile),
// commits it on master and pushes it to a bare repository.
func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed; make deps installs it")
	}
	root := t.TempDir()
	r := &gitRepo{bare: filepath.Join(root, "linux.git"), work: filepath.Join(root, "work")}
	r.url = "file://" + r.bare
	runGit(t, root, "init", "-q", "--bare", "-b", "master", r.bare)
	runGit(t, root, "init", "-q", "-b", "master", r.work)
	os.MkdirAll(filepath.Join(r.work, "kernel"), 0o755)
	os.WriteFile(filepath.Join(r.work, "Makefile"), []byte("VERSION = 9\n"), 0o644)
	r.commit(t, "kernel/fork.c", "int x;\n")
	return r
}

// commit writes a file, commits it, pushes master and returns the commit.
func (r *gitRepo) commit(t *testing.T, file, text string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.work, file), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, r.work, "add", "-A")
	runGit(t, r.work, "commit", "-q", "-m", "change "+file)
	runGit(t, r.work, "push", "-q", r.bare, "master")
	return runGit(t, r.work, "rev-parse", "HEAD")
}

func TestGitResolvesRefs(t *testing.T) {
	r := newGitRepo(t)
	first := runGit(t, r.work, "rev-parse", "HEAD")
	runGit(t, r.work, "tag", "-a", "-m", "release", "v1")
	runGit(t, r.work, "tag", "light")
	runGit(t, r.work, "push", "-q", r.bare, "v1", "light")
	second := r.commit(t, "kernel/fork.c", "int y;\n")
	runGit(t, r.work, "push", "-q", r.bare, "master:refs/heads/stable")
	ctx := context.Background()
	for _, tc := range []struct {
		ref, want string
	}{
		{"master", second},
		{"", second}, // HEAD
		{"refs/heads/master", second},
		{"stable", second},
		{"v1", first}, // an annotated tag names its commit, not the tag object
		{"light", first},
	} {
		got, err := NewGit(r.url, tc.ref).ID(ctx, nil)
		if err != nil {
			t.Errorf("ref %q: %v", tc.ref, err)
			continue
		}
		if got != "git:"+tc.want {
			t.Errorf("ref %q: ID %s, want git:%s", tc.ref, got, tc.want)
		}
	}
	if _, err := NewGit(r.url, "nope").ID(ctx, nil); !errors.Is(err, ErrBadSource) {
		t.Errorf("unknown ref: %v, want ErrBadSource", err)
	}
	if _, err := NewGit("file://"+filepath.Join(t.TempDir(), "none.git"), "master").ID(ctx, nil); err == nil {
		t.Error("a repository that does not exist resolved")
	}
}

// The tree is the commit's, without .git; a source keeps the commit it
// resolved first, so one run's key, tree and report agree when the ref
// moves meanwhile.
func TestGitUnpack(t *testing.T) {
	r := newGitRepo(t)
	first := runGit(t, r.work, "rev-parse", "HEAD")
	ctx := context.Background()
	src := NewGit(r.url, "master")
	if id, err := src.ID(ctx, nil); err != nil || id != "git:"+first {
		t.Fatalf("ID = %s, %v; want git:%s", id, err, first)
	}
	r.commit(t, "kernel/fork.c", "int moved;\n")
	dir := t.TempDir()
	if err := src.Unpack(ctx, nil, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "kernel", "fork.c")); string(b) != "int x;\n" {
		t.Errorf("unpacked fork.c = %q; want the first commit's", b)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); !os.IsNotExist(err) {
		t.Errorf("the unpacked tree keeps .git: %v", err)
	}
	if o := src.Origin(ctx, nil); o.Kind != OriginGit || o.Commit != first {
		t.Errorf("Origin = %+v; want git at %s", o, first)
	}
	if !strings.Contains(src.String(), first[:12]) {
		t.Errorf("String() = %q; want the commit named", src.String())
	}
	// A tree without a top Makefile is no kernel.
	runGit(t, r.work, "rm", "-q", "Makefile")
	r.commit(t, "README", "not a kernel\n")
	if err := NewGit(r.url, "master").Unpack(ctx, nil, t.TempDir()); !errors.Is(err, ErrBadSource) {
		t.Errorf("Unpack of a tree without a Makefile = %v; want ErrBadSource", err)
	}
}

// An unchanged ref is the same key, and a kernel cached under it is
// used without a clone; a new commit is a new key.
func TestGitUnchangedRefIsNoClone(t *testing.T) {
	r := newGitRepo(t)
	head := runGit(t, r.work, "rev-parse", "HEAD")
	ctx := context.Background()
	c, err := cache.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := arch.Get("x86_64")
	frags, err := LoadFragments("base")
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Arch: a, Cache: c, Fragments: frags, LogPath: filepath.Join(t.TempDir(), "build.log"),
		Log: slog.New(slog.DiscardHandler)}
	src, err := ParseSource("git+"+r.url+"#master", "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := src.Key(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := NewGit(r.url, "master").Key(ctx, env); again != key {
		t.Fatalf("the key of an unchanged ref changed: %s, then %s", key, again)
	}
	// The kernel a build left under that key.
	_, _, err = c.Get(ctx, "kernel", key, func(_ context.Context, dir string) error {
		os.MkdirAll(filepath.Join(dir, "include", "config"), 0o755)
		return os.WriteFile(filepath.Join(dir, "include", "config", "kernel.release"), []byte("9.9.0\n"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewGit(r.url, "master").Prepare(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if k.Fresh || k.Key != key || k.Origin != (Origin{Kind: OriginGit, Commit: head}) {
		t.Errorf("Prepare = fresh %v, key %s, origin %+v; want the cached kernel of %s", k.Fresh, k.Key, k.Origin, head)
	}
	if _, ok := c.Lookup("src", cache.Key("git:"+head)); ok {
		t.Error("the source was cloned for a kernel already cached under its commit")
	}
	next := r.commit(t, "kernel/fork.c", "int y;\n")
	moved, err := NewGit(r.url, "master").Key(ctx, env)
	if err != nil || moved == key {
		t.Errorf("after a new commit %s the key is %s (%v); want a new one", next[:12], moved, err)
	}
}
