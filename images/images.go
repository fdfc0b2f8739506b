// Package images builds the guest's initramfs in two layers: a u-root base
// archive with the Go programs, which is cached, and a small per-run overlay
// with the module and the run configuration. Linux unpacks concatenated
// archives in order, so editing the module never rebuilds the base.
package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"
)

// Base describes the u-root base archive.
type Base struct {
	// ModuleDir is the Go module that holds the guest programs; package
	// paths are resolved from there.
	ModuleDir string
	// Commands are the Go packages built into the busybox.
	Commands []string
	// Init is the command that /init links to.
	Init string
}

// DefaultBase is the base the rig boots: the guest programs, u-root's gosh
// and a few core tools for `rig shell`, and no u-root init, whose module
// autoloading would race the rig's own insmod.
func DefaultBase(moduleDir string) Base {
	return Base{
		ModuleDir: moduleDir,
		Commands: []string{
			"github.com/mmaprig/mmaprig/guest/init",
			"github.com/mmaprig/mmaprig/guest/reader",
			"github.com/mmaprig/mmaprig/guest/modctl",
			"github.com/mmaprig/mmaprig/guest/contract",
			"github.com/mmaprig/mmaprig/guest/sshd",
			"github.com/u-root/u-root/cmds/core/gosh",
			"github.com/u-root/u-root/cmds/core/cat",
			"github.com/u-root/u-root/cmds/core/ls",
			"github.com/u-root/u-root/cmds/core/dmesg",
		},
		Init: "init",
	}
}

// Build writes the base archive to out. It builds the Go busybox with
// u-root's uimage API, in tmpDir.
func (b Base) Build(ctx context.Context, log *slog.Logger, out, tmpDir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	env := golang.Default(
		golang.WithWorkingDir(b.ModuleDir),
		golang.WithGOOS("linux"),
		golang.WithGOARCH("amd64"),
	)
	env.CgoEnabled = false
	l := llog.New(slog.LevelWarn, func(format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...), "component", "uimage")
	})
	err := uimage.Create(l,
		uimage.WithReplaceEnv(env),
		uimage.WithBaseArchive(uimage.DefaultRamfs()),
		uimage.WithBusyboxCommands(b.Commands...),
		uimage.WithInit(b.Init),
		uimage.WithSkipLDD(),
		uimage.WithTempDir(tmpDir),
		uimage.WithCPIOOutput(out),
	)
	if err != nil {
		return fmt.Errorf("build u-root base archive: %w", err)
	}
	return nil
}

// File is one regular file of an overlay archive.
type File struct {
	// Path inside the guest, absolute.
	Path string
	Data []byte
	Mode uint64
}

// Overlay writes a newc archive holding files and their parent
// directories.
func Overlay(w io.Writer, files []File) error {
	recs := make([]cpio.Record, 0, len(files))
	for _, f := range files {
		name := cpio.Normalize(f.Path)
		if name == "" || name == "." {
			return fmt.Errorf("overlay: bad path %q", f.Path)
		}
		rec := cpio.StaticRecord(f.Data, cpio.Info{Name: name, Mode: cpio.S_IFREG | f.Mode})
		recs = append(recs, rec)
	}
	cw := cpio.Newc.Writer(w)
	if err := cpio.WriteRecordsAndDirs(cw, recs); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	return nil
}

// Assemble writes the initramfs to dst: the base archive, then the overlay.
func Assemble(dst, base string, files []File) error {
	var ov bytes.Buffer
	if err := Overlay(&ov, files); err != nil {
		return err
	}
	in, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("assemble initramfs: %w", err)
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".initramfs-*")
	if err != nil {
		return fmt.Errorf("assemble initramfs: %w", err)
	}
	defer os.Remove(out.Name())
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("assemble initramfs: copy base: %w", err)
	}
	if _, err := out.Write(ov.Bytes()); err != nil {
		out.Close()
		return fmt.Errorf("assemble initramfs: write overlay: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("assemble initramfs: %w", err)
	}
	return os.Rename(out.Name(), dst)
}
