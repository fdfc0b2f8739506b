package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mmaprig/mmaprig/internal/cache"
)

// fakeTarball makes a small tar.xz shaped like a kernel release: one top
// directory with a Makefile.
func fakeTarball(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	top := filepath.Join(dir, "linux-9.9")
	os.MkdirAll(filepath.Join(top, "kernel"), 0o755)
	os.WriteFile(filepath.Join(top, "Makefile"), []byte("VERSION = 9\n"), 0o644)
	os.WriteFile(filepath.Join(top, "kernel", "fork.c"), []byte("int x;\n"), 0o644)
	out := filepath.Join(dir, "linux-9.9.tar.xz")
	if b, err := exec.Command("tar", "-cJf", out, "-C", dir, "linux-9.9").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	b, _ := os.ReadFile(out)
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func serve(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestURLSource(t *testing.T) {
	good := fakeTarball(t)
	corrupt := append([]byte(nil), good[:len(good)/2]...) // truncated
	srv := serve(t, map[string][]byte{"/linux-9.9.tar.xz": good, "/cut.tar.xz": corrupt})
	c, err := cache.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("good", func(t *testing.T) {
		u := URL{URL: srv.URL + "/linux-9.9.tar.xz", SHA256: sum(good)}
		dir := t.TempDir()
		if err := u.Unpack(ctx, c, dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "kernel", "fork.c")); err != nil {
			t.Errorf("the tree was not unpacked with its top directory stripped: %v", err)
		}
	})
	t.Run("wrong sha256", func(t *testing.T) {
		wrong := sum([]byte("something else"))
		u := URL{URL: srv.URL + "/linux-9.9.tar.xz", SHA256: wrong}
		err := u.Unpack(ctx, c, t.TempDir())
		if !errors.Is(err, ErrBadSource) {
			t.Fatalf("Unpack = %v; want ErrBadSource", err)
		}
		if _, ok := c.Lookup("downloads", cache.Key("sha256:"+wrong)); ok {
			t.Error("a download that failed its checksum is in the cache")
		}
		if left, _ := filepath.Glob(filepath.Join(c.Root(), "downloads", "*.tmp-*")); len(left) != 0 {
			t.Errorf("partial downloads left behind: %v", left)
		}
	})
	t.Run("truncated tarball", func(t *testing.T) {
		u := URL{URL: srv.URL + "/cut.tar.xz", SHA256: sum(corrupt)}
		if err := u.Unpack(ctx, c, t.TempDir()); !errors.Is(err, ErrBadSource) {
			t.Fatalf("Unpack = %v; want ErrBadSource", err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		u := URL{URL: srv.URL + "/nope.tar.xz", SHA256: sum([]byte("never served"))}
		if err := u.Unpack(ctx, c, t.TempDir()); !errors.Is(err, ErrBadSource) {
			t.Fatalf("Unpack = %v; want ErrBadSource", err)
		}
	})
	// The download is cached by its content: the same tarball under another
	// name and URL is the same entry, and unpacks.
	t.Run("same sha256 under another URL", func(t *testing.T) {
		first := URL{URL: srv.URL + "/linux-9.9.tar.xz", SHA256: sum(good)}
		if err := first.Unpack(ctx, c, t.TempDir()); err != nil {
			t.Fatal(err)
		}
		// The server has nothing at this URL: only the cache can serve it.
		other := URL{URL: srv.URL + "/mirror/linux-9.9.tar.gz?dl=1", SHA256: sum(good)}
		dir := t.TempDir()
		if err := other.Unpack(ctx, c, dir); err != nil {
			t.Fatalf("Unpack from a second URL: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "kernel", "fork.c")); err != nil {
			t.Errorf("the tree was not unpacked: %v", err)
		}
	})
	t.Run("malformed sha256", func(t *testing.T) {
		u := URL{URL: srv.URL + "/linux-9.9.tar.xz", SHA256: "abc"}
		if _, err := u.ID(ctx, c); !errors.Is(err, ErrBadSource) {
			t.Fatalf("ID = %v; want ErrBadSource", err)
		}
	})
}

func TestParseSource(t *testing.T) {
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "Kconfig"), nil, 0o644)
	notTree := t.TempDir()
	tarball := filepath.Join(t.TempDir(), "linux.tar.xz")
	os.WriteFile(tarball, []byte("x"), 0o644)
	for _, tc := range []struct {
		spec string
		want string
	}{
		{"https://cdn.example/linux-6.6.tar.xz", "kernel.URL"},
		{tree, "kernel.LocalTree"},
		{tarball, "kernel.Tarball"},
		{"git+" + Mainline + "#master", "kernel.Git"},
		{"git+file:///srv/linux.git", "kernel.Git"},
		{"git://example.org/linux.git#v6.18", "kernel.Git"},
	} {
		s, err := ParseSource(tc.spec, "")
		if err != nil {
			t.Errorf("ParseSource(%s): %v", tc.spec, err)
			continue
		}
		if got := typeName(s); got != tc.want {
			t.Errorf("ParseSource(%s) = %s, want %s", tc.spec, got, tc.want)
		}
	}
	// A git source's repository and ref: #REF, or the remote's HEAD.
	for spec, want := range map[string]string{
		"git+" + Mainline + "#master":       "git " + Mainline + " master",
		"git+file:///srv/linux.git":         "git file:///srv/linux.git HEAD",
		"git://example.org/linux.git#v6.18": "git git://example.org/linux.git v6.18",
	} {
		if s, err := ParseSource(spec, ""); err != nil || s.String() != want {
			t.Errorf("ParseSource(%s) = %v, %v; want %s", spec, s, err, want)
		}
	}
	for _, bad := range []string{notTree, filepath.Join(tree, "missing"), "git+/srv/linux.git"} {
		if _, err := ParseSource(bad, ""); !errors.Is(err, ErrBadSource) {
			t.Errorf("ParseSource(%s) = %v; want ErrBadSource", bad, err)
		}
	}
}

func typeName(s Source) string {
	switch s.(type) {
	case URL:
		return "kernel.URL"
	case LocalTree:
		return "kernel.LocalTree"
	case Tarball:
		return "kernel.Tarball"
	case Git:
		return "kernel.Git"
	}
	return "?"
}
