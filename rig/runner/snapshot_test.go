package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/vm"
)

// A restore checks the snapshot's checksum before QEMU starts: a state
// that does not match never reaches QEMU, and the error is a failed
// restore (the cold-boot fallback) that names the file. A state that
// matches goes on to QEMU, here a QEMU that does not exist.
func TestRestoreChecksSumBeforeQEMU(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		corrupt bool
	}{{"matches", false}, {"flipped byte", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, snapshotFile)
			os.WriteFile(state, []byte("QEVM and a guest's RAM"), 0o644)
			if err := vm.WriteSnapshotSum(ctx, state); err != nil {
				t.Fatal(err)
			}
			if tc.corrupt {
				os.WriteFile(state, []byte("QEVM and a guest's RAm"), 0o644)
			}
			art := filepath.Join(dir, "artifacts")
			os.Mkdir(art, 0o755)
			r := &run{opts: Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, vms: realVMHost()}
			cfg := vm.Config{QEMU: filepath.Join(dir, "no-qemu-here"), ArtifactDir: art, RuntimeDir: dir}
			err := r.restore(ctx, cfg, &snapshot{key: "k", path: state}).take().err
			if !errors.Is(err, errRestore) {
				t.Fatalf("restore = %v; want a failed restore", err)
			}
			if got := errors.Is(err, vm.ErrSnapshotSum); got != tc.corrupt {
				t.Errorf("restore = %v; checksum error %v, want %v", err, got, tc.corrupt)
			}
			if got := errors.Is(err, vm.ErrNoQEMU); got == tc.corrupt {
				t.Errorf("restore = %v; reached QEMU %v, want %v", err, got, !tc.corrupt)
			}
			if tc.corrupt && !strings.Contains(err.Error(), state) {
				t.Errorf("restore = %q does not name %s", err, state)
			}
		})
	}
}
