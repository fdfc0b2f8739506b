package vm

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/arch"
)

// TestStartSaysWhyQEMUExited starts a real QEMU that cannot bind its QMP
// socket (its runtime directory is gone, as when a sweep removed it) and
// checks that the error quotes QEMU's own last word, not only its exit
// status.
func TestStartSaysWhyQEMUExited(t *testing.T) {
	a := arch.Host()
	if _, err := exec.LookPath(a.QEMU); err != nil {
		t.Skipf("no %s: %v", a.QEMU, err)
	}
	art := t.TempDir()
	cfg := Config{Arch: a, QEMU: a.QEMU, Kernel: "/nonexistent/bzImage", Initrd: "/nonexistent/initrd",
		MemMB: 64, SMP: 1, Accel: Accel{Name: "tcg"}, ArtifactDir: art,
		RuntimeDir: filepath.Join(t.TempDir(), "swept"), Name: "mmaprig-test", Log: slog.New(slog.DiscardHandler)}
	v, err := Start(context.Background(), cfg)
	if err == nil {
		v.Kill()
		t.Fatal("Start succeeded without a QMP socket directory")
	}
	t.Log(err)
	for _, want := range []string{"QEMU exited before QMP was up", "exit status 1", "qemu-system", "qemu.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start = %q; want it to say %q", err, want)
		}
	}
}
