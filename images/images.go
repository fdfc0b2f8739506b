// Package images builds the guest's initramfs: a u-root archive with the
// guest's Go programs, built with mkuimage's uimage API. Nothing of a run
// goes into it (the module, the nonce and the keys come over the results
// port), so one archive serves every run of the same guest programs, and
// editing the module never rebuilds it.
package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"github.com/mmaprig/mmaprig/internal/proc"
)

// Base describes the u-root base archive.
type Base struct {
	// ModuleDir is the Go module that holds the guest programs; package
	// paths are resolved from there.
	ModuleDir string
	// Commands are the Go packages built into the busybox.
	Commands []string
	// Binaries are Go packages built as programs of their own, in /bin:
	// the ones a run starts often, which should not pay for the
	// busybox's every package initialiser at each start.
	Binaries []string
	// Init is the command that /init links to.
	Init string
	// GOARCH is the guest's Go architecture.
	GOARCH string
}

// DefaultBase is the base the rig boots: the guest programs, u-root's gosh
// and a few core tools for `rig shell`, and no u-root init, whose module
// autoloading would race the rig's own insmod.
func DefaultBase(moduleDir, goarch string) Base {
	return Base{
		ModuleDir: moduleDir,
		GOARCH:    goarch,
		Commands: []string{
			"github.com/mmaprig/mmaprig/guest/init",
			"github.com/mmaprig/mmaprig/guest/modctl",
			"github.com/mmaprig/mmaprig/guest/sshd",
			"github.com/u-root/u-root/cmds/core/gosh",
			"github.com/u-root/u-root/cmds/core/cat",
			"github.com/u-root/u-root/cmds/core/ls",
			"github.com/u-root/u-root/cmds/core/dmesg",
		},
		Binaries: []string{
			"github.com/mmaprig/mmaprig/guest/reader",
			"github.com/mmaprig/mmaprig/guest/contract",
		},
		Init: "init",
	}
}

// Build writes the archive to out, building the Go busybox in tmpDir. The
// uimage API runs `go build` without a context, so Build cannot be
// cancelled; BuildInChild can.
func (b Base) Build(log *slog.Logger, out, tmpDir string) error {
	env := golang.Default(
		golang.WithWorkingDir(b.ModuleDir),
		golang.WithGOOS("linux"),
		golang.WithGOARCH(b.GOARCH),
	)
	env.CgoEnabled = false
	l := llog.New(slog.LevelWarn, func(format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...), "component", "uimage")
	})
	err := uimage.Create(l,
		uimage.WithReplaceEnv(env),
		uimage.WithBaseArchive(uimage.DefaultRamfs()),
		uimage.WithBusyboxCommands(b.Commands...),
		uimage.WithBinaryCommands(b.Binaries...),
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

// ChildCommand is the argument that makes the rig's own binary build an
// archive (see RunChild).
const ChildCommand = "__mmaprig-build-initramfs"

type childSpec struct {
	Base   Base   `json:"base"`
	Out    string `json:"out"`
	TmpDir string `json:"tmp_dir"`
}

// BuildInChild builds the archive in a child process: the rig's own binary
// run with ChildCommand, in a process group of its own, so that a deadline
// or a signal stops it and every `go build` it started.
func (b Base) BuildInChild(ctx context.Context, out, tmpDir string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the rig's binary to build the initramfs: %w", err)
	}
	spec, err := json.Marshal(childSpec{Base: b, Out: out, TmpDir: tmpDir})
	if err != nil {
		return err
	}
	var output bytes.Buffer
	cmd := proc.Command(ctx, 2*time.Second, exe, ChildCommand, string(spec))
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("build the u-root initramfs: %w\n%s", err, strings.TrimSpace(output.String()))
	}
	return nil
}

// RunChild is the child side of BuildInChild. A main package calls it
// first thing: when args start with ChildCommand, it builds and returns
// the exit code and true; otherwise it returns false.
func RunChild(args []string) (int, bool) {
	if len(args) != 2 || args[0] != ChildCommand {
		return 0, false
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(args[1]), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", ChildCommand, err)
		return 2, true
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := spec.Base.Build(log, spec.Out, spec.TmpDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	return 0, true
}
