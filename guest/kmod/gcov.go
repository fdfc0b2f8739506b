package kmod

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// Coverage reads every .gcda file under the kernel's gcov directory: with
// only modules built with GCOV_PROFILE=y, the module under test's. The
// kernel makes them as they are read, so they are read, never copied.
func Coverage(dir string) ([]wire.File, error) {
	var files []wire.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".gcda") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, wire.File{Path: "/" + rel, Data: b, Mode: 0o644})
		return nil
	})
	return files, err
}
