package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The file is replaced whole: one who had the old one open reads the old,
// the path gives the new with its permissions, and no temporary file is
// left, whether the write worked or not.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gdbinit")
	if err := WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := WriteFile(path, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(old); string(b) != "old\n" {
		t.Errorf("the open old file reads %q: it was rewritten in place", b)
	}
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(b) != "new\n" || fi.Mode().Perm() != 0o644 {
		t.Errorf("the file reads %q (%v), mode %v; want the new, 0644", b, err, fi.Mode())
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o644); err == nil {
		t.Errorf("no error writing into a missing directory")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want the file alone: %v", len(entries), entries)
	}
}
