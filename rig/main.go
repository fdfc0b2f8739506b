// Command rig proves an mmap driver works: it builds a kernel and the
// module, boots them in QEMU with a u-root initramfs, runs the checks in
// the guest, and reports a classified verdict.
//
//	go run ./rig                      # Linux 6.1, module/, bytes 0..9
//	go run ./rig -module ./mydriver   # another out-of-tree module
//	go run ./rig help                 # the commands; rig CMD -h, a command's flags
//
// Each command is a file, cmd_NAME.go: its flags are groups from flags.go,
// and docs/usage.md is generated from them.
//
// Exit codes: 0 pass, 1 the module failed, 2 bad usage or setup, 3 no
// verdict (the kernel did not build, the guest did not boot, the channel
// broke, QEMU died).
package main

//go:generate sh -c "go run . help -markdown > ../docs/usage.md"

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/mmaprig/mmaprig/images"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

func main() {
	// The rig's binary also builds the initramfs, in a child process of
	// its own that a deadline or a signal can stop.
	if code, ok := images.RunChild(os.Args[1:]); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := rig(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// rig runs a command line: it parses and checks it, resolves the options
// (the rig's tree, the module, the cache), and runs the command.
func rig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "help" {
		return help(args[1:], stdout, stderr)
	}
	if len(args) == 1 && slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
		return help(nil, stdout, stderr)
	}
	cmd, c, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		cmd.printUsage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts, err := resolve(c, log, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "rig: %v\n", err)
		return verdict.ExitSetup
	}
	return cmd.run(ctx, env{cfg: c, opts: opts, stdout: stdout, stderr: stderr})
}

// usageError is bad command-line input.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }
