package cache

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func open(t *testing.T) *Cache {
	t.Helper()
	c, err := Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKey(t *testing.T) {
	if Key("ab", "c") == Key("a", "bc") {
		t.Error("Key does not separate its parts")
	}
	if Key("x", "y") != Key("x", "y") {
		t.Error("Key is not stable")
	}
	if len(Key()) != 32 {
		t.Errorf("len(Key()) = %d, want 32", len(Key()))
	}
}

func TestGetBuildsOnceAndCommits(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	builds := 0
	build := func(_ context.Context, dir string) error {
		builds++
		return os.WriteFile(filepath.Join(dir, "out"), []byte("v"), 0o644)
	}
	dir, hit, err := c.Get(ctx, "k", "key1", build)
	if err != nil || hit {
		t.Fatalf("first Get = %v, hit %v", err, hit)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "v" {
		t.Fatalf("entry content = %q, %v", b, err)
	}
	if _, hit, err = c.Get(ctx, "k", "key1", build); err != nil || !hit || builds != 1 {
		t.Fatalf("second Get: hit %v, err %v, builds %d; want a hit and one build", hit, err, builds)
	}
}

func TestFailedBuildIsNeverAHit(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	boom := errors.New("boom")
	_, _, err := c.Get(ctx, "k", "key", func(_ context.Context, dir string) error {
		os.WriteFile(filepath.Join(dir, "half"), []byte("x"), 0o644)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Get = %v, want boom", err)
	}
	if _, ok := c.Lookup("k", "key"); ok {
		t.Fatal("a failed build became a cache entry")
	}
	if left, _ := filepath.Glob(c.Path("k", "key") + ".tmp-*"); len(left) != 0 {
		t.Fatalf("a failed build left %v", left)
	}
}

// A builder killed with -9 leaves its temporary directory; the next
// builder must not trust it, and removes it.
func TestKilledBuildLeftovers(t *testing.T) {
	c := open(t)
	stale := c.Path("k", "key") + ".tmp-99999"
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "out"), []byte("partial"), 0o644)
	if _, ok := c.Lookup("k", "key"); ok {
		t.Fatal("leftovers count as an entry")
	}
	dir, hit, err := c.Get(context.Background(), "k", "key", func(_ context.Context, dir string) error {
		return os.WriteFile(filepath.Join(dir, "out"), []byte("whole"), 0o644)
	})
	if err != nil || hit {
		t.Fatalf("Get = %v, hit %v", err, hit)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "whole" {
		t.Errorf("entry = %q, want the fresh build", b)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale directory %s still exists", stale)
	}
}

func TestConcurrentGetBuildsOnce(t *testing.T) {
	c := open(t)
	var builds atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := c.Get(context.Background(), "k", "key", func(_ context.Context, dir string) error {
				builds.Add(1)
				return os.WriteFile(filepath.Join(dir, "out"), nil, 0o644)
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}

// A caller waiting for another builder's lock gives up when its context
// ends. The builder's goroutine is joined before the test returns, so it
// never outlives the test's temporary directory.
func TestCancelWhileWaitingForLock(t *testing.T) {
	c := open(t)
	started, release := make(chan struct{}), make(chan struct{})
	builder := make(chan error, 1)
	go func() {
		_, _, err := c.Get(context.Background(), "k", "key", func(_ context.Context, dir string) error {
			close(started)
			<-release
			return nil
		})
		builder <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Get(ctx, "k", "key", func(context.Context, string) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Get while another builds, cancelled = %v; want context.Canceled", err)
	}
	close(release)
	if err := <-builder; err != nil {
		t.Errorf("the builder's Get = %v", err)
	}
	if _, ok := c.Lookup("k", "key"); !ok {
		t.Error("the builder's entry was not committed")
	}
}

// Open removes what a builder killed with -9 left, once nobody holds its
// lock, and leaves a live builder's directory alone.
func TestOpenSweepsDeadBuilders(t *testing.T) {
	root := t.TempDir()
	c, err := Open(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dead := c.Path("k", "dead") + ".tmp-99999"
	os.MkdirAll(dead, 0o755)
	os.WriteFile(c.Path("k", "dead")+".lock", nil, 0o644)

	started, release := make(chan struct{}), make(chan struct{})
	builder := make(chan error, 1)
	go func() {
		_, _, err := c.Get(context.Background(), "k", "live", func(_ context.Context, dir string) error {
			close(started)
			<-release
			return nil
		})
		builder <- err
	}()
	<-started
	live, _ := filepath.Glob(c.Path("k", "live") + ".tmp-*")
	if len(live) != 1 {
		t.Fatalf("the live builder has %d temporary directories, want 1", len(live))
	}
	if _, err := Open(root, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a dead builder's %s survived Open: %v", dead, err)
	}
	for _, l := range live {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("Open removed a live builder's %s: %v", l, err)
		}
	}
	close(release)
	if err := <-builder; err != nil {
		t.Errorf("the live builder's Get = %v", err)
	}
}

func TestOpenUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere; a path under a regular file still fails.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o644)
		if _, err := Open(filepath.Join(f, "cache"), slog.New(slog.DiscardHandler)); !errors.Is(err, ErrUnwritable) {
			t.Errorf("Open under a file = %v; want ErrUnwritable", err)
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o555)
	if _, err := Open(filepath.Join(dir, "cache"), slog.New(slog.DiscardHandler)); !errors.Is(err, ErrUnwritable) {
		t.Errorf("Open in a read-only dir = %v; want ErrUnwritable", err)
	}
}

// Update works on the entry in place; a failed update removes the entry,
// so it is never trusted again.
func TestUpdate(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	dir, _, err := c.Get(ctx, "k", "tree", func(_ context.Context, d string) error {
		return os.WriteFile(filepath.Join(d, "obj"), []byte("v1"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, "k", "tree", func(_ context.Context, d string) error {
		return os.WriteFile(filepath.Join(d, "obj"), []byte("v2"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "obj")); string(b) != "v2" {
		t.Errorf("after Update the entry holds %q", b)
	}
	boom := errors.New("make failed")
	if err := c.Update(ctx, "k", "tree", func(context.Context, string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	if _, ok := c.Lookup("k", "tree"); ok {
		t.Error("a failed update left the entry to be trusted")
	}
}

func TestRemove(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	if _, _, err := c.Get(ctx, "k", "key", func(_ context.Context, d string) error {
		return os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "k", "key"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("k", "key"); ok {
		t.Error("the entry is still there")
	}
	if left, _ := filepath.Glob(c.Path("k", "key") + ".tmp-*"); len(left) > 0 {
		t.Errorf("Remove left %v", left)
	}
	if err := c.Remove(ctx, "k", "key"); err != nil {
		t.Errorf("removing a missing entry = %v; want nil", err)
	}
}
