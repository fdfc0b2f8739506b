package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The test binary is also the child that BuildInChild starts.
func TestMain(m *testing.M) {
	if code, ok := RunChild(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestRunChildArgs(t *testing.T) {
	if _, ok := RunChild([]string{"run", "-v"}); ok {
		t.Error("RunChild took the rig's own arguments")
	}
	if code, ok := RunChild([]string{ChildCommand, "{not json"}); !ok || code != 2 {
		t.Errorf("RunChild with a bad spec = %d, %v; want 2, true", code, ok)
	}
}

// A deadline stops the build, and every go command it started, within
// seconds, and no archive is written.
func TestBuildInChildHonoursDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a u-root build")
	}
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	out := filepath.Join(dir, "base.cpio")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := DefaultBase(root, "amd64").BuildInChild(ctx, out, dir)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BuildInChild past its deadline = %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the build stopped %v after its 2s deadline", d-2*time.Second)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a cancelled build wrote the archive")
	}
}
