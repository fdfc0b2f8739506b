package images

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// WithBootModules writes to out the archive base followed by a second
// cpio archive that holds the module files given, in load order, under
// wire.BootModulesDir, with the order file the guest's init follows. The
// kernel unpacks concatenated archives one after the other, so the base
// stays as it was built, and one base serves every kernel.
func WithBootModules(base, out string, modules []string) error {
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	defer dst.Close()
	src, err := os.Open(base)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("copy the initramfs base: %w", err)
	}
	recs, err := bootModuleRecords(modules)
	if err != nil {
		return err
	}
	w := cpio.Newc.Writer(dst)
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		return fmt.Errorf("write the boot modules' archive: %w", err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return err
	}
	return dst.Close()
}

// bootModuleRecords are the module files, named NN-file so that two
// modules of the same file name cannot collide, and the order file.
func bootModuleRecords(modules []string) ([]cpio.Record, error) {
	dir := strings.TrimPrefix(wire.BootModulesDir, "/")
	var recs []cpio.Record
	var order []string
	for i, m := range modules {
		b, err := os.ReadFile(m)
		if err != nil {
			return nil, fmt.Errorf("read a boot module: %w", err)
		}
		name := fmt.Sprintf("%02d-%s", i, filepath.Base(m))
		recs = append(recs, cpio.StaticFile(path.Join(dir, name), string(b), 0o644))
		order = append(order, name)
	}
	orderFile := strings.TrimPrefix(wire.BootModulesOrder, "/")
	recs = append(recs, cpio.StaticFile(orderFile, strings.Join(order, "\n")+"\n", 0o644))
	return recs, nil
}
