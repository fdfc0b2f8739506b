package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// Mainline is the repository of Linus Torvalds' tree, which the matrix's
// mainline cell follows.
const Mainline = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git"

// Git is a branch or tag of a git repository, built at the commit the ref
// names when the rig asks. The commit is its ID, so a ref that has not
// moved since the last build is a cache hit that costs one `git
// ls-remote` and no clone.
type Git struct {
	// Repo is any URL git can fetch from (https://, file://, ssh://).
	Repo string
	// Ref is a branch or a tag; empty means the remote's HEAD.
	Ref string
	// resolved remembers the commit once ls-remote has named it, so that
	// the key, the tree and the report of one run agree even when the ref
	// moves meanwhile. It is shared by copies; NewGit sets it.
	resolved *gitCommit
}

type gitCommit struct {
	mu     sync.Mutex
	ref    string // the full name ls-remote matched, such as refs/heads/master
	commit string
}

// NewGit returns the source for ref (a branch or tag; "" for HEAD) of repo.
func NewGit(repo, ref string) Git {
	return Git{Repo: repo, Ref: ref, resolved: &gitCommit{}}
}

func (g Git) ref() string {
	if g.Ref == "" {
		return "HEAD"
	}
	return g.Ref
}

// String names the repository and the ref, and the commit once resolved.
func (g Git) String() string {
	s := "git " + g.Repo + " " + g.ref()
	if g.resolved != nil {
		g.resolved.mu.Lock()
		defer g.resolved.mu.Unlock()
		if c := g.resolved.commit; c != "" {
			s += " at " + c[:12]
		}
	}
	return s
}

// Key implements Source.
func (g Git) Key(ctx context.Context, env *Env) (string, error) { return unpackedKey(ctx, g, env) }

// Prepare implements Source.
func (g Git) Prepare(ctx context.Context, env *Env) (*Kernel, error) {
	return prepareUnpacked(ctx, g, env)
}

// SourceDir implements Source.
func (g Git) SourceDir(ctx context.Context, env *Env) (string, error) {
	return unpackedSourceDir(ctx, g, env)
}

// ID is the commit the ref names: a tree's content, whatever repository
// or ref it came from.
func (g Git) ID(ctx context.Context, _ *cache.Cache) (string, error) {
	_, commit, err := g.resolve(ctx)
	if err != nil {
		return "", err
	}
	return "git:" + commit, nil
}

// Origin implements unpacker: the commit built.
func (g Git) Origin(ctx context.Context, _ *cache.Cache) Origin {
	_, commit, _ := g.resolve(ctx)
	return Origin{Kind: OriginGit, Commit: commit}
}

// resolve names the ref's commit, asking the remote once per source.
func (g Git) resolve(ctx context.Context) (ref, commit string, err error) {
	if g.resolved == nil {
		return lsRemote(ctx, g.Repo, g.ref())
	}
	g.resolved.mu.Lock()
	defer g.resolved.mu.Unlock()
	if g.resolved.commit == "" {
		if g.resolved.ref, g.resolved.commit, err = lsRemote(ctx, g.Repo, g.ref()); err != nil {
			return "", "", err
		}
	}
	return g.resolved.ref, g.resolved.commit, nil
}

var lsRemoteLine = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})\t(\S+)$`)

// lsRemote resolves ref on the remote to a commit: a branch before a tag
// of the same name, and an annotated tag to the commit it points at.
func lsRemote(ctx context.Context, repo, ref string) (full, commit string, err error) {
	// ls-remote matches patterns against whole names' tails: an annotated
	// tag's commit is under its own name, with ^{}.
	out, err := git(ctx, "", "ls-remote", "--", repo, ref, ref+"^{}")
	if err != nil {
		return "", "", fmt.Errorf("resolve %s of %s: %w", ref, repo, err)
	}
	found := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if m := lsRemoteLine.FindStringSubmatch(line); m != nil {
			found[m[2]] = m[1]
		}
	}
	for _, name := range []string{ref, "refs/heads/" + ref, "refs/tags/" + ref} {
		if c, ok := found[name+"^{}"]; ok {
			return name, c, nil
		}
		if c, ok := found[name]; ok {
			return name, c, nil
		}
	}
	return "", "", fmt.Errorf("%w: %s has no branch or tag %q", ErrBadSource, repo, ref)
}

// Unpack fetches the resolved commit alone (depth 1) into dir and checks
// it out. The tree is left without its .git: what a tarball of the same
// commit holds, and a kernel release string without a "+" for a tree that
// is not at a tag.
func (g Git) Unpack(ctx context.Context, _ *cache.Cache, dir string) error {
	ref, commit, err := g.resolve(ctx)
	if err != nil {
		return err
	}
	if _, err := git(ctx, dir, "init", "-q"); err != nil {
		return err
	}
	if err := g.fetch(ctx, dir, ref, commit); err != nil {
		return err
	}
	if _, err := git(ctx, dir, "-c", "advice.detachedHead=false", "checkout", "-q", commit); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "Makefile")); err != nil {
		return fmt.Errorf("%w: %s at %s holds no kernel tree (no top-level Makefile)", ErrBadSource, g.Repo, commit)
	}
	return nil
}

// fetch fetches the ref, shallow, and makes sure it still names commit.
// A ref that moved since it was resolved is fetched by the commit itself,
// which servers that allow it (GitHub, git.kernel.org's protocol v2)
// serve; the build must be of the commit its key names.
func (g Git) fetch(ctx context.Context, dir, ref, commit string) error {
	if _, err := git(ctx, dir, "fetch", "-q", "--depth", "1", "--no-tags", "--", g.Repo, ref); err != nil {
		return fmt.Errorf("fetch %s of %s: %w", ref, g.Repo, err)
	}
	head, err := git(ctx, dir, "rev-parse", "FETCH_HEAD^{commit}")
	if err != nil {
		return err
	}
	if strings.TrimSpace(head) == commit {
		return nil
	}
	if _, err := git(ctx, dir, "fetch", "-q", "--depth", "1", "--no-tags", "--", g.Repo, commit); err != nil {
		return fmt.Errorf("%s of %s moved from %s to %s during the run, and the remote does not serve %s by its commit; run again: %w",
			ref, g.Repo, commit[:12], strings.TrimSpace(head)[:12], commit[:12], err)
	}
	return nil
}

// git runs git in dir (the process's own directory if ""), never asking
// for a password: a private repository needs its credentials set up
// beforehand. It returns stdout; an error carries stderr.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("a git kernel source needs the git command: %w", err)
		}
		return "", fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
