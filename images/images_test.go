package images

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/uio/uio"
)

// readArchive reads one newc archive from r into name -> record.
func readArchive(t *testing.T, r io.ReaderAt) map[string]cpio.Record {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(r))
	if err != nil {
		t.Fatalf("read archive: %v", err)
	}
	out := map[string]cpio.Record{}
	for _, rec := range recs {
		out[rec.Name] = rec
	}
	return out
}

func content(t *testing.T, rec cpio.Record) string {
	t.Helper()
	b, err := io.ReadAll(uio.Reader(rec))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOverlay(t *testing.T) {
	var buf bytes.Buffer
	err := Overlay(&buf, []File{
		{Path: "/mmaprig/module.ko", Data: []byte("ELF"), Mode: 0o644},
		{Path: "/mmaprig/run.json", Data: []byte("{}"), Mode: 0o600},
	})
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-byte aligned; a following archive would not parse", buf.Len())
	}
	recs := readArchive(t, bytes.NewReader(buf.Bytes()))
	if rec, ok := recs["mmaprig"]; !ok || rec.Mode&cpio.S_IFMT != cpio.S_IFDIR {
		t.Errorf("the parent directory is missing: %v", recs)
	}
	if rec := recs["mmaprig/module.ko"]; content(t, rec) != "ELF" || rec.Mode != cpio.S_IFREG|0o644 {
		t.Errorf("module.ko = %q mode %o", content(t, rec), rec.Mode)
	}
	if rec := recs["mmaprig/run.json"]; content(t, rec) != "{}" || rec.Mode != cpio.S_IFREG|0o600 {
		t.Errorf("run.json = %q mode %o", content(t, rec), rec.Mode)
	}
	if err := Overlay(io.Discard, []File{{Path: "/"}}); err == nil {
		t.Error("Overlay accepted the root as a file path")
	}
}

// The initramfs is the base archive byte for byte, then the overlay, which
// the kernel unpacks on top.
func TestAssemble(t *testing.T) {
	dir := t.TempDir()
	var base bytes.Buffer
	w := cpio.Newc.Writer(&base)
	if err := cpio.WriteRecordsAndDirs(w, []cpio.Record{cpio.StaticFile("bbin/init", "busybox", 0o755)}); err != nil {
		t.Fatal(err)
	}
	cpio.WriteTrailer(w)
	basePath := filepath.Join(dir, "base.cpio")
	os.WriteFile(basePath, base.Bytes(), 0o644)

	dst := filepath.Join(dir, "initramfs.cpio")
	if err := Assemble(dst, basePath, []File{{Path: "/mmaprig/run.json", Data: []byte("cfg"), Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.HasPrefix(got, base.Bytes()) {
		t.Fatal("the initramfs does not start with the base archive")
	}
	over := readArchive(t, bytes.NewReader(got[base.Len():]))
	if content(t, over["mmaprig/run.json"]) != "cfg" {
		t.Errorf("the overlay after the base is %v", over)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".initramfs-*")); len(left) != 0 {
		t.Errorf("Assemble left temporary files: %v", left)
	}
}
