package kernel

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// GDBScripts returns the kernel tree's vmlinux-gdb.py, the kernel's own
// gdb commands (lx-symbols, lx-dmesg, lx-ps, ...), or "" when the kernel
// has no CONFIG_GDB_SCRIPTS. The kernel's build makes them (Compile); a
// tree in the rig's cache built before it did lacks them, and gets them
// here, once, in place under the entry's lock (make scripts_gdb: links to
// the source's scripts and one generated constants.py, in seconds). A tree
// that is not the cache's is left alone.
func GDBScripts(ctx context.Context, env *Env, k *Kernel) (string, error) {
	py := filepath.Join(k.BuildDir, "vmlinux-gdb.py")
	if _, err := os.Stat(py); err == nil {
		return py, nil
	}
	b, err := os.ReadFile(k.Config)
	if err != nil {
		return "", fmt.Errorf("read the kernel's config: %w", err)
	}
	cfg, err := ParseConfig(bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("read the kernel's config %s: %w", k.Config, err)
	}
	if cfg["CONFIG_GDB_SCRIPTS"] != "y" || k.BuildDir != env.Cache.Path("kernel", k.Key) {
		return "", nil
	}
	var out bytes.Buffer
	var makeErr error
	err = env.Cache.Update(ctx, "kernel", k.Key, func(ctx context.Context, dir string) error {
		if _, err := os.Stat(py); err == nil {
			return nil // another rig made them meanwhile
		}
		src, err := filepath.EvalSymlinks(filepath.Join(dir, "source"))
		if err != nil {
			makeErr = fmt.Errorf("find the kernel's source: %w", err)
			return nil
		}
		args := append(append([]string{"-C", src, "O=" + dir}, env.Arch.MakeArgs()...), "scripts_gdb")
		makeErr = run(ctx, &out, "make", args...)
		// Never an error here: Update removes an entry whose update
		// failed, and the kernel is good without its gdb scripts.
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("update the cached kernel %s: %w", k.BuildDir, err)
	}
	if makeErr != nil {
		return "", fmt.Errorf("make scripts_gdb in %s: %w: %s", k.BuildDir, makeErr, strings.TrimSpace(lastLines(out.String(), 5)))
	}
	return py, nil
}

// lastLines are the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
