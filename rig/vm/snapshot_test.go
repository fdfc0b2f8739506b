package vm

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// savedState writes a file that stands for a saved guest, n bytes of
// seeded noise, and returns its path.
func savedState(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	path := filepath.Join(t.TempDir(), "vm.state")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantSumError checks that err is a SumError for path whose message says
// says and names the file.
func wantSumError(t *testing.T, err error, path, says string) {
	t.Helper()
	var se *SumError
	if !errors.As(err, &se) || !errors.Is(err, ErrSnapshotSum) {
		t.Fatalf("CheckSnapshot = %v; want a SumError", err)
	}
	if se.Path != path || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), says) {
		t.Errorf("CheckSnapshot = %q (path %q); want it to name %s and say %q", err, se.Path, path, says)
	}
}

// A recorded state checks out; a flipped byte anywhere, a truncated or
// grown file, a missing, partial or foreign record do not.
func TestCheckSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		says   string // "" for a state that checks out
	}{
		{"intact", func(*testing.T, string) {}, ""},
		{"rewritten identically", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b, 0o644)
		}, ""},
		{"flipped byte in the middle", flipAt(0.5), "did not match: the file has crc32c"},
		{"flipped first byte", flipAt(0), "did not match: the file has crc32c"},
		{"flipped last byte", flipAt(1), "did not match: the file has crc32c"},
		{"truncated file", func(t *testing.T, path string) { os.Truncate(path, 1000) }, "did not match: the file has 1000 bytes"},
		{"grown file", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0})
			f.Close()
		}, "did not match: the file has 3000001 bytes"},
		{"missing record", func(t *testing.T, path string) { os.Remove(path + SumSuffix) }, "has no checksum record"},
		{"empty record", func(t *testing.T, path string) { os.Truncate(path+SumSuffix, 0) }, "partial or malformed checksum record"},
		{"record cut short", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path + SumSuffix)
			os.WriteFile(path+SumSuffix, b[:len(b)-3], 0o644)
		}, "partial or malformed checksum record"},
		{"record without its newline", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path + SumSuffix)
			os.WriteFile(path+SumSuffix, b[:len(b)-1], 0o644)
		}, "partial or malformed checksum record"},
		{"another algorithm's record", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path + SumSuffix)
			os.WriteFile(path+SumSuffix, []byte(strings.Replace(string(b), "crc32c", "crc32", 1)), 0o644)
		}, "partial or malformed checksum record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := savedState(t, 3_000_000)
			if err := WriteSnapshotSum(ctx, path); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)
			err := CheckSnapshot(ctx, path)
			if tc.says == "" {
				if err != nil {
					t.Fatalf("CheckSnapshot of an intact state: %v", err)
				}
				return
			}
			wantSumError(t, err, path, tc.says)
		})
	}
}

// flipAt flips one bit of the byte at fraction f of the file (1: the last).
func flipAt(f float64) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		i := min(int(f*float64(len(b))), len(b)-1)
		b[i] ^= 0x10
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The record is one line: the algorithm, the CRC in hex, the size.
func TestSumRecordFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.state")
	os.WriteFile(path, []byte("123456789"), 0o644)
	if err := WriteSnapshotSum(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path + SumSuffix)
	if err != nil {
		t.Fatal(err)
	}
	// e3069283 is CRC-32C's check value, the CRC of "123456789".
	if string(b) != "crc32c e3069283 9\n" {
		t.Errorf("record %q; want %q", b, "crc32c e3069283 9\n")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("the atomic write left %v", leftovers)
	}
}

// A saved state is moved into place only with its record, and a state
// that cannot be read leaves neither.
func TestCommitSaved(t *testing.T) {
	ctx := context.Background()
	tmp := savedState(t, 100_000)
	path := filepath.Join(filepath.Dir(tmp), "final.state")
	if err := commitSaved(ctx, tmp, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary state is still there: %v", err)
	}
	if err := CheckSnapshot(ctx, path); err != nil {
		t.Errorf("a committed state does not check out: %v", err)
	}

	gone := filepath.Join(t.TempDir(), "gone.state")
	if err := commitSaved(ctx, filepath.Join(t.TempDir(), "missing.part"), gone); err == nil {
		t.Error("commitSaved of a missing state succeeded")
	}
	for _, p := range []string{gone, gone + SumSuffix} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed commit left %s: %v", p, err)
		}
	}
}

// An interrupted check is the context's error, not a bad snapshot.
func TestCheckSnapshotCancelled(t *testing.T) {
	path := savedState(t, 100_000)
	if err := WriteSnapshotSum(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := CheckSnapshot(ctx, path)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrSnapshotSum) {
		t.Errorf("CheckSnapshot with a cancelled context = %v; want context.Canceled only", err)
	}
}

// The checksum of a snapshot-sized file (25 MB), on each side: what Save
// adds while the guest waits, and what each restore adds before QEMU.
func BenchmarkSnapshotSum(b *testing.B) {
	ctx := context.Background()
	path := savedState(b, 25<<20)
	b.SetBytes(25 << 20)
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if err := WriteSnapshotSum(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := CheckSnapshot(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
