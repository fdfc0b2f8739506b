package main

// The host's own faults, and what the build says went wrong: a full disk,
// a read-only cache or artifact directory are setup failures (exit 2)
// that name the path and what to do, never the module's; a cache moved
// to another path still works without a kernel rebuild; modpost's errors
// headline a module that does not link, with the author's paths. The
// faults are made with mounts in a private mount namespace (unshare -m),
// so nothing is mounted on the host.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/layout"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// needMountNamespace skips a test that needs root and unshare -m.
func needMountNamespace(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds modules against the cached kernel")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the faults are mounts in a private mount namespace")
	}
	if out, err := exec.Command("unshare", "-m", "--", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare -m does not work here: %v: %s", err, out)
	}
}

// runRigMounted runs the rig as runRig does, but in a private mount
// namespace where the shell commands mounts ran first.
func runRigMounted(t *testing.T, mounts string, args ...string) rigRun {
	t.Helper()
	dir := t.TempDir()
	art, js := filepath.Join(dir, "artifacts"), filepath.Join(dir, "result.json")
	full := append([]string{"-artifacts", art, "-json", js}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	script := "set -e; mount --make-rprivate /; " + mounts + "; exec \"$0\" \"$@\""
	// unshare and sh exec the rig: it keeps their pid.
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-m", "--", "sh", "-c", script, rigBin}, full...)...)
	r := collect(t, cmd, art, js)
	t.Logf("[%s] rig %s -> exit %d\n%s", mounts, strings.Join(args, " "), r.code, r.out)
	return r
}

// warmCache is a cache with the default cache's downloads, kernels and
// initramfs bases, by hard links; the rig writes into a copied entry only
// by renaming new files into place.
func warmCache(t *testing.T) string {
	t.Helper()
	src := defaultCacheDir()
	if ok, _ := filepath.Glob(filepath.Join(src, "kernel", "*", "Module.symvers")); len(ok) == 0 {
		t.Skipf("no kernel is built in %s yet; run `go run ./rig -build-only` first", src)
	}
	return linkedCache(t, "downloads", "apt-versions", "kernel", "src", "initramfs")
}

// wantHostFault checks a run that met the host's fault: setup, exit 2,
// a message that names the path and says what to do, and nothing that
// blames the module or the rig.
func wantHostFault(t *testing.T, r rigRun, path, advice string) {
	t.Helper()
	rep := wantVerdict(t, r, verdict.Setup, path)
	if !strings.Contains(rep.Verdict(), advice) {
		t.Errorf("the message %q does not say %q", rep.Verdict(), advice)
	}
	for _, bad := range []string{"did not compile", "internal error", "FAIL [module-build]", "FAIL [infra]"} {
		if strings.Contains(r.out, bad) {
			t.Errorf("the output says %q", bad)
		}
	}
}

// A full disk under the cache is the host's: when even the module's
// sources do not fit, and when make runs out of room.
func TestHostFaultFullDisk(t *testing.T) {
	needMountNamespace(t)
	for _, tc := range []struct {
		name, size, fill, cause string
	}{
		// Nothing fits: the copy of the sources fails.
		{"copy", "64k", "dd if=/dev/zero of=$C/module/fill bs=4k 2>/dev/null || true", "cause: copy module sources: "},
		// The sources fit, the objects do not: make fails, as fixdep
		// says "not all data was written".
		{"make", "96k", "true", "cause: make: exit status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := warmCache(t)
			mod := filepath.Join(c, "module")
			os.MkdirAll(mod, 0o755)
			mounts := "C=" + c + "; mount -t tmpfs -o size=" + tc.size + " tmpfs $C/module; " + tc.fill
			r := runRigMounted(t, mounts, "-cache", c, "-build-only")
			wantHostFault(t, r, mod, "free space there, or point -cache or XDG_CACHE_HOME at a disk with room")
			if !strings.Contains(r.out, tc.cause) {
				t.Errorf("the failure's cause is not %q", tc.cause)
			}
		})
	}
}

// A read-only cache is the host's: all of it, or the part a module build
// writes.
func TestHostFaultReadOnlyCache(t *testing.T) {
	needMountNamespace(t)
	c := warmCache(t)
	mod := filepath.Join(c, "module")
	os.MkdirAll(mod, 0o755)
	ro := func(dir string) string {
		return "mount --bind " + dir + " " + dir + "; mount -o remount,bind,ro " + dir
	}
	r := runRigMounted(t, ro(mod), "-cache", c, "-build-only")
	wantHostFault(t, r, mod, "point -cache or XDG_CACHE_HOME at a directory on a writable file system")

	// The whole cache: the rig stops before any run, with exit 2.
	r = runRigMounted(t, ro(c), "-cache", c, "-build-only")
	if r.code != verdict.ExitSetup || !strings.Contains(r.out, c+": read-only file system") ||
		!strings.Contains(r.out, "point -cache or XDG_CACHE_HOME at a directory on a writable file system") {
		t.Errorf("a read-only cache: exit %d; want %d and a message that names %s and what to do", r.code, verdict.ExitSetup, c)
	}
}

// An artifact directory that cannot be written is the host's, and the
// message says to choose another with -artifacts.
func TestHostFaultReadOnlyArtifacts(t *testing.T) {
	needMountNamespace(t)
	ro := t.TempDir()
	art := filepath.Join(ro, "artifacts")
	r := runRigMounted(t, "mount --bind "+ro+" "+ro+"; mount -o remount,bind,ro "+ro,
		"-artifacts", art, "-build-only")
	if r.code != verdict.ExitSetup || !strings.Contains(r.out, art+": read-only file system") ||
		!strings.Contains(r.out, "point -artifacts at a directory on a writable file system") {
		t.Errorf("a read-only artifact directory: exit %d; want %d and a message that names %s and -artifacts", r.code, verdict.ExitSetup, art)
	}
}

// A module that does not link is headlined by modpost's ERROR line, with
// the author's path, not the cache's copy's.
func TestModpostHeadlines(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds modules against the cached kernel")
	}
	for _, tc := range []struct {
		fixture, headline string
	}{
		{"nolicense", "ERROR: modpost: missing MODULE_LICENSE() in {dir}/nolicense.o"},
		{"undefsym", `ERROR: modpost: "mmaprig_no_such_symbol" [{dir}/undefsym.ko] undefined!`},
		// The base kernel does not set SECTION_MISMATCH_WARN_ONLY.
		{"sectionmismatch", "ERROR: modpost: Section mismatches detected: {dir}/sectionmismatch.o: section mismatch in reference: sectionmismatch_again "},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			dir, _ := filepath.Abs(fixture(tc.fixture))
			headline := strings.ReplaceAll(tc.headline, "{dir}", dir)
			r := runRig(t, "-module", fixture(tc.fixture), "-build-only")
			rep := wantVerdict(t, r, verdict.ModuleBuild, "the module did not compile: "+headline)
			if !strings.HasPrefix(rep.Excerpt, headline) {
				t.Errorf("the excerpt %q does not start with %q", rep.Excerpt, headline)
			}
			if strings.Contains(rep.Verdict()+rep.Excerpt, "/module/") {
				t.Errorf("the verdict names the cache's copy: %q / %q", rep.Verdict(), rep.Excerpt)
			}
		})
	}
}

// A cache moved to another path, the old one gone, still gives the right
// verdict, with no kernel rebuild: the kernel tree that named its source
// by the old absolute path is repointed at the moved cache's, and says so.
func TestMovedCache(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	old := warmCache(t)
	trees, _ := filepath.Glob(filepath.Join(old, "kernel", "*", "Makefile"))
	for _, mk := range trees {
		// As if this cache had built them: they name its src/ absolutely.
		tree := filepath.Dir(mk)
		if strings.Contains(tree, ".tmp-") {
			continue // a build in progress when the cache was copied
		}
		src, err := filepath.EvalSymlinks(filepath.Join(tree, "source"))
		if err != nil {
			t.Fatalf("%s: %v", tree, err)
		}
		own := filepath.Join(old, "src", filepath.Base(src))
		text := "# Automatically generated by " + own + "/Makefile: don't edit\ninclude " + own + "/Makefile\n"
		replace(t, mk, func(tmp string) error { return os.WriteFile(tmp, []byte(text), 0o644) })
		replace(t, filepath.Join(tree, "source"), func(tmp string) error { return os.Symlink(own, tmp) })
	}
	moved := filepath.Join(filepath.Dir(old), "moved")
	if err := os.Rename(old, moved); err != nil {
		t.Fatal(err)
	}
	r := runRig(t, "-cache", moved)
	rep := wantVerdict(t, r, verdict.Pass, "")
	for _, s := range rep.Stages {
		if s.Stage == "kernel" && !s.Cached {
			t.Error("the kernel was rebuilt")
		}
	}
	if k := stageOf(t, rep, layout.StageKernel).Summary; !strings.Contains(k, "source relinked") || !strings.Contains(k, "which is gone") {
		t.Error("the run does not say that it repointed the kernel tree, and why")
	}
	// The tree the run used is repaired; the others are, when a run uses
	// them.
	if rep.Origin == nil || rep.Origin.Key == "" {
		t.Fatal("the run's report does not name its kernel's key")
	}
	mk, _ := filepath.Glob(filepath.Join(moved, "kernel", rep.Origin.Key+"*", "Makefile"))
	if len(mk) != 1 {
		t.Fatalf("kernel trees for key %s: %q; want one", rep.Origin.Key, mk)
	}
	if b, _ := os.ReadFile(mk[0]); bytes.Contains(b, []byte(old)) {
		t.Errorf("%s still names the old cache: %s", mk[0], b)
	}
}

// replace writes a new file beside path and renames it into place, so a
// hard-linked original is never written to.
func replace(t *testing.T, path string, write func(tmp string) error) {
	t.Helper()
	tmp := path + ".test-tmp"
	os.Remove(tmp)
	if err := write(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
