package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/verdict"
)

// kernelRepo commits the Debian 6.1 tree to a new bare repository, on
// master, and returns the repository and the commit. The commit's author,
// committer and dates are fixed, so the same tree is the same commit, and
// the same cache key, on every run: the kernel is built once per Debian
// release, as the Debian source's is. The repository packs without
// compression or deltas, so serving 75,000 files to the rig's shallow
// fetch takes seconds rather than minutes.
func kernelRepo(t *testing.T) (repo, commit string) {
	t.Helper()
	dir := t.TempDir()
	tarball := debianTarball(t, dir)
	tree, repo := filepath.Join(dir, "tree"), filepath.Join(dir, "linux.git")
	os.MkdirAll(tree, 0o755)
	if out, err := exec.Command("tar", "-xf", tarball, "--strip-components=1", "-C", tree).CombinedOutput(); err != nil {
		t.Fatalf("unpack the tarball: %v: %s", err, out)
	}
	os.Remove(tarball)
	// After init, git runs on the repository and the tree by their options.
	var where []string
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append(where, args...)...)
		cmd.Dir = tree
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
			"GIT_AUTHOR_NAME=mmaprig", "GIT_AUTHOR_EMAIL=rig@mmaprig.invalid", "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z",
			"GIT_COMMITTER_NAME=mmaprig", "GIT_COMMITTER_EMAIL=rig@mmaprig.invalid", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "--bare", "-b", "master", repo)
	where = []string{"--git-dir", repo, "--work-tree", tree}
	for _, kv := range [][2]string{{"core.compression", "0"}, {"pack.window", "0"}, {"core.autocrlf", "false"}} {
		git("config", kv[0], kv[1])
	}
	// -f: Debian's .gitignore ignores the whole top level (/*).
	git("add", "-A", "-f", ".")
	git("commit", "-q", "-m", "Debian's linux-source-6.1")
	return repo, git("rev-parse", "HEAD")
}

// A kernel from a git source, end to end: a bare repository of the Debian
// 6.1 tree, served by file://, fetched at the commit master names, built,
// and booted with the project's driver, which passes. The same ref again
// is the cached kernel under the key `rig key` prints, and a module that
// does not compile against it is module-build with the compiler's first
// error, as on every kernel. A kernel build: make test-nightly.
func TestGitKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a kernel and boots it")
	}
	nightlyKernel(t, "git")
	repo, commit := kernelRepo(t)
	src := "git+file://" + repo + "#master"
	key := runRig(t, "key", "-kernel-src", src)
	if key.code != 0 {
		t.Fatalf("rig key: exit %d", key.code)
	}
	first := runRig(t, "-kernel-src", src, "-module", "../module")
	rep := first.report(t)
	if first.code != 0 || rep.Class != verdict.Pass {
		t.Fatalf("the driver on the git kernel: %s, exit %d; want pass", rep.Class, first.code)
	}
	assertContract(t, rep)
	wantNoWarnings(t, rep, "the git kernel")
	if !strings.Contains(rep.Kernel, commit[:12]) {
		t.Errorf("the report names the kernel %q; want its commit %s", rep.Kernel, commit[:12])
	}
	if rep.Origin == nil || rep.Origin.Key != strings.TrimSpace(key.out) {
		t.Errorf("the run's kernel key is %+v; rig key printed %s", rep.Origin, key.out)
	}
	again := runRig(t, "-kernel-src", src, "-module", fixture("nobuild"))
	broken := wantVerdict(t, again, verdict.ModuleBuild, "nobuild.c:7:16: error: ")
	if !strings.Contains(broken.Verdict(), "this_symbol_does_not_exist") {
		t.Errorf("the verdict %q does not give the compiler's first error", broken.Verdict())
	}
	if broken.Origin == nil || broken.Origin.Built || broken.Origin.Key != rep.Origin.Key {
		t.Errorf("the unchanged ref's kernel was not the cached one: %+v", broken.Origin)
	}
}
