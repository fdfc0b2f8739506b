package main

// In-process tests of the command line: every misuse gets its exact
// message and exit 2, at the step that finds it (parsing, which does no
// I/O; resolving, which reads files; or the run's setup stage); every
// command line the tests, the Makefile and the action use still parses;
// each command's -h lists its own flags; docs/usage.md is current.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// rigInProcess runs the rig's command line in this process.
func rigInProcess(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = rig(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// The misuses found by parsing alone: parseArgs returns the message, and
// the rig prints it and exits 2.
func TestParseErrors(t *testing.T) {
	m, err := kernel.LoadMatrix()
	if err != nil {
		t.Fatal(err)
	}
	var cells []string
	for _, c := range m.Cells {
		cells = append(cells, c.Name)
	}
	zeros := strings.Repeat("0", 64)
	cellsOwn := " does not apply to matrix cells, which name their own kernel, config and arch in kernel/matrix.json"
	for _, tc := range []struct {
		args []string
		want string
	}{
		// The misuses of the old black-box TestBadUsage.
		{[]string{"-kernel", "six"}, `-kernel "six": want a version like 6.1 or 6.12, or debian:6.12-cloud for Debian's prebuilt kernel`},
		{[]string{"-kernel", "debian:cloud"}, `-kernel "debian:cloud": want debian:SERIES or debian:SERIES-FLAVOUR, such as debian:6.12 or debian:6.12-cloud`},
		{[]string{"-kernel", "debian:6.12-cloud", "-config", "debug"}, "-config debug: -kernel debian:6.12-cloud is Debian's own build, which the rig boots as it is; for config fragments, build the kernel from source (-kernel 6.12)"},
		{[]string{"-kernel", "debian:6.1", "-coverage"}, "-coverage needs a kernel with gcov (CONFIG_GCOV_KERNEL), and Debian's prebuilt kernels have none; build one from source (-kernel 6.1)"},
		{[]string{"-expect", "1,2,300"}, `-expect "1,2,300": "300" is not a byte (0-255) (or give hex, 0x0001, or text in quotes, 'text')`},
		{[]string{"-expect", "0x00,0x01"}, `-expect "0x00,0x01": after 0x want hex digits, two a byte, with no separators (0x00010203)`},
		{[]string{"-device", "mymap"}, `-device "mymap": the node must be a clean absolute path, such as /dev/mymap`},
		{[]string{"-device", "/dev/a", "-device", "/dev/a=existing"}, "-device /dev/a is named twice"},
		{[]string{"-device", "/dev/x=c:scull"}, `-device "/dev/x=c:scull": after '=' want c:DRIVER:MINOR (the char driver's name in /proc/devices and a minor, such as c:scull:0) or existing`},
		{[]string{"-run", "("}, "-run \"(\": error parsing regexp: missing closing ): `(`"},
		{[]string{"-run", "nothing"}, `-run "nothing" matches no contract case; the cases are ` + strings.Join(wire.ContractCases, ", ")},
		{[]string{"-run", "refuses", "-checks", "reader"}, "-run selects contract cases and Go guest tests; with -checks reader and no -guest-test there is nothing to select"},
		{[]string{"-expect", strings.Repeat("1,", wire.MinPageSize) + "1"}, "-expect gives 4097 bytes; a page holds 4096 on a 4K-page kernel, the smallest a guest can have"},
		{[]string{"-boot-timeout", "-1s"}, "-boot-timeout -1s: must be positive"},
		{[]string{"-settle", "-1s"}, "-settle -1s: must be from 0 to 1m0s"},
		{[]string{"-settle", "2m"}, "-settle 2m0s: must be from 0 to 1m0s"},
		{[]string{"-accel", "hvf"}, `-accel "hvf": want auto, kvm or tcg`},
		{[]string{"-cell", "no-such-cell"}, `-cell: unknown cell "no-such-cell" (have: ` + strings.Join(cells, ", ") + ")"},
		{[]string{"-cell", "6.1,6.1"}, `-cell 6.1,6.1: cell "6.1" is named twice`},
		{[]string{"-cell", "6.1", "-config", "debug"}, "-config" + cellsOwn},
		{[]string{"-cell", "6.1", "-kernel", "6.12"}, "-kernel" + cellsOwn},
		{[]string{"-cell", "6.1", "-kernel-src", "/nonexistent"}, "-kernel-src" + cellsOwn},
		{[]string{"exec", "-junit", "j.xml", "--", "true"}, "rig exec has no flag -junit (rig run and rig matrix take it); see rig exec -h"},
		{[]string{"-network"}, "-network applies only to rig matrix (or to rig run with -matrix or -cell)"},
		{[]string{"-kernel-sha256", zeros}, "-kernel-sha256 pins a tarball downloaded with -kernel-src URL; without a URL it would be ignored"},
		{[]string{"-kernel-src", "git+https://example.org/linux.git#master", "-kernel-sha256", zeros}, "-kernel-sha256 pins a tarball downloaded with -kernel-src URL; without a URL it would be ignored"},
		{[]string{"-channel", "carrier-pigeon"}, `-channel "carrier-pigeon": want serial or ssh`},
		{[]string{"-checks", "some"}, `-checks "some": want contract, reader or none`},
		{[]string{"-mem", "12"}, "-mem 12: must be at least 64 (MiB)"},
		{[]string{"-inject", "gremlins"}, `-inject "gremlins": want one of pause-after-ready, net-down, drop-event, drop-event=EVENT`},
		{[]string{"exec", "-channel", "serial", "--", "true"}, "rig exec has no flag -channel (rig run, rig matrix and rig watch take it); see rig exec -h"},
		{[]string{"nonsense-command"}, `unknown command "nonsense-command"; the commands are run, matrix, exec, shell, watch, lint, key, kdir, srcdir (run is the default); see rig help`},
		// A flag of another command, or of none.
		{[]string{"lint", "-html", "x.html"}, "rig lint has no flag -html (rig run and rig matrix take it); see rig lint -h"},
		{[]string{"lint", "-channel", "ssh"}, "rig lint has no flag -channel (rig run, rig matrix and rig watch take it); see rig lint -h"},
		{[]string{"key", "-matrix"}, "rig key has no flag -matrix (rig run takes it); see rig key -h"},
		{[]string{"srcdir", "-config", "debug"}, "rig srcdir has no flag -config (rig run, rig exec, rig shell, rig watch, rig lint, rig key and rig kdir take it); see rig srcdir -h"},
		{[]string{"-frob"}, "rig run has no flag -frob; see rig run -h"},
		{[]string{"-mem", "lots"}, `invalid value "lots" for flag -mem: parse error; see rig run -h`},
		// Wrong values and combinations.
		{[]string{"run", "extra"}, `unexpected argument "extra"; usage: rig run [flags]`},
		{[]string{"exec"}, "rig exec needs a command; usage: rig exec [flags] -- COMMAND [ARGS...]"},
		{[]string{"exec", "-v", "--"}, "rig exec needs a command; usage: rig exec [flags] -- COMMAND [ARGS...]"},
		{[]string{"-arch", "sparc"}, `-arch: unknown architecture "sparc" (have: arm64, x86_64)`},
		{[]string{"-kernel", "6.1", "-kernel-src", "/src"}, "-kernel picks a Debian source package; -kernel-src names another source: give one of them"},
		{[]string{"-smp", "0"}, "-smp 0: must be at least 1"},
		{[]string{"-make-jobs", "0"}, "-make-jobs 0: must be at least 1"},
		{[]string{"-timeout", "0s"}, "-timeout 0s: must be positive"},
		{[]string{"-boot", "warm"}, `-boot "warm": want auto or cold`},
		{[]string{"-jobs", "2"}, "-jobs applies only to rig matrix (or to rig run with -matrix or -cell)"},
		{[]string{"-matrix", "-cell", "6.1"}, "-matrix runs every cell; -cell runs the ones named: give one of them"},
		{[]string{"-matrix", "-arch", "arm64"}, "-arch" + cellsOwn},
		{[]string{"matrix", "-jobs", "0"}, "-jobs 0: must be at least 1"},
		{[]string{"key", "-cell", "6.1,6.12"}, "-cell 6.1,6.12: rig key prints the key of one cell"},
		{[]string{"key", "-cell", "6.1", "-kernel", "6.12"}, "-kernel" + cellsOwn},
		// The debugger.
		{[]string{"-on-crash", "reboot"}, `-on-crash "reboot": want poweroff or pause`},
		{[]string{"matrix", "-gdb"}, "-gdb debugs one guest; the matrix's cells run side by side: run the cell alone, with rig run -config and -kernel"},
		{[]string{"-cell", "6.1", "-on-crash", "pause"}, "-on-crash pause debugs one guest; the matrix's cells run side by side: run the cell alone, with rig run -config and -kernel"},
		// The module's build.
		{[]string{"-build", "cmake"}, `-build "cmake": want auto, kbuild, make, dkms`},
		{[]string{"-make-args", "DEBUG"}, `-make-args: "DEBUG" is not a make variable assignment VAR=value`},
		{[]string{"-make-args", "A=1 -j4"}, `-make-args: "-j4" is not a make variable assignment VAR=value`},
		{[]string{"-make-args", "KDIR=/usr/src/linux"}, "-make-args: KDIR is the rig's to set: it builds against the guest's kernel, for the guest's machine"},
		{[]string{"-make-args", "ARCH=arm"}, "-make-args: ARCH is the rig's to set: it builds against the guest's kernel, for the guest's machine"},
		{[]string{"-make-args", "X=$HOME"}, "-make-args: -make-args expands nothing ($VAR, $(cmd), globs): quote the value"},
		{[]string{"-make-args", "X=$(id)"}, "-make-args: -make-args expands nothing ($VAR, $(cmd), globs): quote the value"},
		{[]string{"-make-args", "X=*.c"}, "-make-args: -make-args expands nothing ($VAR, $(cmd), globs): quote the value"},
		{[]string{"-make-args", "A=1; B=2"}, `-make-args: "A=1; B=2" is more than one command line; give VAR=value ...`},
		{[]string{"-make-args", "A='1"}, `-make-args: cannot split "A='1" as a shell would: 1:3: reached EOF without closing quote '`},
		{[]string{"-make-args", "A=1 > f"}, `-make-args: "A=1 > f" is not a list of VAR=value`},
		{[]string{"lint", "-build", "make"}, "rig lint has no flag -build (rig run, rig matrix, rig exec, rig shell and rig watch take it); see rig lint -h"},
	} {
		_, _, err := parseArgs(tc.args)
		if err == nil || err.Error() != tc.want || !errors.As(err, new(usageError)) {
			t.Errorf("rig %q: error %v;\nwant %s", tc.args, err, tc.want)
			continue
		}
		code, stdout, stderr := rigInProcess(t, tc.args...)
		if code != verdict.ExitSetup || stdout != "" || stderr != "rig: "+tc.want+"\n" {
			t.Errorf("rig %q: exit %d, stdout %q, stderr %q; want exit 2 and the message", tc.args, code, stdout, stderr)
		}
	}
}

// The misuses found by resolving the config: the rig's tree, the fragment
// files, the kernel source's path and the cache.
func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-config", "nonesuch"}, `-config: unknown config fragment "nonesuch" (have: ` + strings.Join(kernel.FragmentNames(), ", ") + ", or give a file's path)"},
		{[]string{"-config", missing + ".config"}, "-config: config fragment: open " + missing + ".config: no such file or directory"},
		{[]string{"-kernel-src", missing}, "bad kernel source: -kernel-src " + missing + ": stat " + missing + ": no such file or directory"},
		{[]string{"-kernel-src", dir}, "bad kernel source: -kernel-src " + dir + " is a directory but not a kernel tree (no Kconfig)"},
		{[]string{"-kernel-src", "git+" + dir}, "bad kernel source: -kernel-src git+" + dir + ": a git source is git+URL#REF, such as git+" + kernel.Mainline + "#master"},
		{[]string{"-cache", "/proc/mmaprig-cache"}, "cache directory is not writable: /proc/mmaprig-cache: mkdir /proc/mmaprig-cache: no such file or directory: /proc/mmaprig-cache; choose another with -cache or XDG_CACHE_HOME"},
	} {
		args := append([]string{"-artifacts", filepath.Join(t.TempDir(), "artifacts")}, tc.args...)
		code, stdout, stderr := rigInProcess(t, args...)
		if code != verdict.ExitSetup || stdout != "" || stderr != "rig: "+tc.want+"\n" {
			t.Errorf("rig %q: exit %d, stdout %q, stderr %q;\nwant exit 2 and rig: %s", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if _, err := findRoot(dir); err == nil || err.Error() != "cannot find the rig's source tree above "+dir+"; run from it or pass -root" {
		t.Errorf("findRoot outside the rig: %v", err)
	}
}

// The misuses only the run finds, in its setup stage, before it builds
// anything: the verdict says what is wrong, and the exit is 2.
func TestSetupErrors(t *testing.T) {
	empty, notOurs, kbuildOnly := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(kbuildOnly, "Kbuild"), []byte("obj-m := x.o\n"), 0o644)
	os.WriteFile(filepath.Join(notOurs, "thesis.tex"), []byte("precious"), 0o644)
	missing := filepath.Join(empty, "missing")
	for _, tc := range []struct {
		args []string
		// want is the verdict's line on stdout, or with stderr set, the
		// rig's message on stderr.
		want   string
		stderr bool
	}{
		{[]string{"-module", empty}, "FAIL [setup]: -module " + empty + ": give a directory with the module's Kbuild, Makefile or dkms.conf", false},
		{[]string{"-module", missing}, "FAIL [setup]: -module " + missing + ": give a directory with the module's Kbuild, Makefile or dkms.conf", false},
		{[]string{"-module", empty, "-module-root", missing}, "FAIL [setup]: -module " + empty + ": give a directory with the module's Kbuild, Makefile or dkms.conf", false},
		{[]string{"-module", kbuildOnly, "-module-root", empty}, "FAIL [setup]: -module " + kbuildOnly + " cannot be built that way", false},
		{[]string{"-module", kbuildOnly, "-build", "dkms"}, "FAIL [setup]: -module " + kbuildOnly + " cannot be built that way", false},
		{[]string{"-qemu", "/nonexistent/qemu-system-x86_64", "-build-only"}, "FAIL [setup]: /nonexistent/qemu-system-x86_64 is not installed; run `make deps`", false},
		{[]string{"-guest-test", "no/such/dir", "-build-only"}, "FAIL [setup]: -guest-test", false},
		{[]string{"-kernel", "9.99"}, "FAIL [setup]: the kernel source cannot be used", false},
		{[]string{"-artifacts", notOurs}, "rig: -artifacts " + notOurs + " holds files that are not a rig run's artifacts; give a new or empty directory", true},
	} {
		if slices.Contains(tc.args, "9.99") {
			if _, err := exec.LookPath("apt-cache"); err != nil {
				t.Logf("rig %q: skipped, without apt-cache", tc.args)
				continue
			}
		}
		args := append([]string{"-cache", t.TempDir()}, tc.args...)
		if !slices.Contains(args, "-artifacts") {
			args = append(args, "-artifacts", filepath.Join(t.TempDir(), "artifacts"))
		}
		code, stdout, stderr := rigInProcess(t, args...)
		out := stdout
		if tc.stderr {
			out = stderr
		}
		if code != verdict.ExitSetup || !slices.Contains(strings.Split(out, "\n"), tc.want) {
			t.Errorf("rig %q: exit %d; want 2 and the line %q\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
	if b, err := os.ReadFile(filepath.Join(notOurs, "thesis.tex")); err != nil || string(b) != "precious" {
		t.Error("a directory that is not a rig's artifacts was touched")
	}
}

// Every command line the tests, the benchmarks, the Makefile, the docs and
// the GitHub Action give the rig still parses, to the command meant.
func TestAcceptedCommandLines(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		cmd  string
		args []string
	}{
		{"run", nil},
		{"run", []string{"-module", "x", "-artifacts", "a", "-json", "j"}},
		{"run", []string{"-arch", "arm64", "-boot", "cold"}},
		{"run", []string{"-arch", "arm64", "-accel", "kvm"}},
		{"run", []string{"-channel", "ssh", "-checks", "reader", "-boot", "cold", "-settle", "0", "-kernel-args", "no_debug_objects"}},
		{"run", []string{"-coverage", "-config", "debug", "-cache", "c", "-v"}},
		{"run", []string{"-module", "m", "-device", "/dev/pages", "-checks", "none", "-guest-test", "guesttest", "-module-params", "npages=3", "-junit", "x"}},
		{"run", []string{"-timeout", "5m", "-boot", "cold", "-module-params", "mode=sleep", "-check-timeout", "60s", "-smp", "2"}},
		{"run", []string{"-load-timeout", "3s", "-inject", "pause-after-ready", "-checks", "reader"}},
		{"run", []string{"-module", "d/m", "-module-root", "d", "-build", "make", "-make-args", `DEBUG=y CFLAGS_EXTRA="-O1 -g" X='a b'`}},
		{"run", []string{"-build", "dkms", "-make-args", ""}},
		{"run", []string{"-kernel", "debian:6.12-cloud", "-channel", "ssh"}},
		{"run", []string{"-kernel", "debian:6.12"}},
		{"matrix", []string{"matrix", "-build", "kbuild", "-make-args", "V=1"}},
		{"exec", []string{"exec", "-module-root", "..", "-build", "auto", "--", "true"}},
		{"run", []string{"-inject", "drop-event", "-build-only", "-keep", "-mem", "512"}},
		{"run", []string{"-kernel-src", "http://127.0.0.1:9/linux-6.6.74.tar.xz", "-kernel-sha256", "nothex"}},
		{"run", []string{"-matrix", "-jobs", "2", "-json", "j", "-junit", "x"}},
		{"run", []string{"-cell", "6.1-arm64,6.12-arm64", "-jobs", "1", "-json", "j", "-json", "k"}},
		// The action's run step, with cells and with one kernel.
		{"run", []string{"-module", "m", "-cache", "c", "-artifacts", "a", "-json", "j", "-checks", "contract", "-channel", "serial",
			"-html", "h", "-cell", "6.1,6.12-debug", "-junit", "x", "-network", "-mem", "512", "-v"}},
		{"run", []string{"-module", "m", "-cache", "c", "-artifacts", "a", "-json", "j", "-checks", "contract", "-channel", "serial",
			"-kernel", "6.1", "-config", "debug,/w/ci/extra.config", "-device", "/dev/mymap", "-expect", "0,1,2", "-guest-test", "g"}},
		{"run", []string{"run", "-module", "m"}},
		{"run", []string{"-module", "m", "-device", "/dev/scull0=c:scull:0", "-device", "/dev/scull1=c:scull:1", "-channel", "ssh"}},
		{"run", []string{"-module", "m", "-device", "/dev/null=existing", "-checks", "none", "-run", "Seed", "-guest-test", "g"}},
		{"run", []string{"-run", "refuses|Seed", "-expect", "0x00010203040506070809"}},
		{"run", []string{"-expect", "'asdf'"}},
		{"run", []string{"-gdb", "-boot", "cold", "-checks", "reader", "-on-crash", "pause"}},
		{"run", []string{"-module", "m", "-on-crash", "pause", "-timeout", "10m", "-arch", "arm64"}},
		{"run", []string{"-on-crash", "poweroff", "-channel", "ssh"}},
		{"run", []string{"-gdb", "-channel", "ssh", "-on-crash", "pause"}},
		{"exec", []string{"exec", "-gdb", "--", "true"}},
		{"shell", []string{"shell", "-on-crash", "pause"}},
		{"watch", []string{"watch", "-gdb"}},
		{"matrix", []string{"matrix"}},
		{"matrix", []string{"matrix", "-cell", "6.1", "-network", "-jobs", "1", "-html", "h", "-build-only"}},
		{"exec", []string{"exec", "-artifacts", "a", "-json", "j", "--", "gosh", "-c", "exit 3"}},
		{"exec", []string{"exec", "-arch", "arm64", "--", "cat", "/proc/sys/kernel/arch"}},
		{"exec", []string{"exec", "-module", "m", "-device", "/dev/pages", "-module-params", "npages=5", "--", "cat", "-v"}},
		{"shell", []string{"shell", "-module", "m", "-boot", "cold"}},
		{"watch", []string{"watch", "-module", "m", "-artifacts", "a"}},
		{"watch", []string{"watch", "-module", "m", "-checks", "reader", "-timeout", "5m"}},
		{"lint", []string{"lint", "-module", "../module"}},
		{"lint", []string{"lint", "-strict", "-module", "module/"}},
		{"lint", []string{"lint", "-artifacts", "a", "-module", "m", "-tools", "mmaprig-cocci", "-json", "j", "-v", "-style", "-in-tree"}},
		{"key", []string{"key", "-cache", "c", "-cell", "6.1"}},
		{"key", []string{"key", "-cache", "c", "-kernel-src", "git+file:///srv/linux.git#v6.18"}},
		{"key", []string{"key", "-artifacts", "a", "-cache", "c", "-kernel", "6.1", "-config", "debug,/w/ci/extra.config"}},
		{"kdir", []string{"kdir"}},
		{"kdir", []string{"kdir", "-kernel", "6.12", "-config", "debug", "-make-jobs", "1"}},
		{"srcdir", []string{"srcdir"}},
		{"srcdir", []string{"srcdir", "-artifacts", "a", "-cache", "c", "-kernel-src", "https://example.org/linux.tar.xz", "-kernel-sha256", sha}},
	} {
		cmd, c, err := parseArgs(tc.args)
		if err != nil || cmd.name != tc.cmd {
			t.Errorf("rig %q: command %s, error %v; want %s", tc.args, cmd.name, err, tc.cmd)
		}
		if err == nil && cmd.argv && !slices.Equal(c.argv, tc.args[slices.Index(tc.args, "--")+1:]) {
			t.Errorf("rig %q: the guest command is %q", tc.args, c.argv)
		}
	}
}

// The config becomes the options the flags say, for each command.
func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want func(c *config) string // "" when right
	}{
		{nil, func(c *config) string {
			o := c.options()
			if o.Channel != "serial" || o.Checks != "contract" || !bytes.Equal(o.Expect, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) ||
				!slices.Equal(o.Devices, []wire.Device{{Path: "/dev/mymap"}}) || o.Run != "" ||
				o.MemMB != 256 || o.SMP != 1 || o.Boot != "auto" || o.Accel != "auto" || o.Timeouts.Load.String() != "20s" {
				return "not the defaults"
			}
			return ""
		}},
		{[]string{"-arch", "arm64", "-config", "debug, arm64 ,x.config", "-coverage"}, func(c *config) string {
			if got := c.fragmentList(); !slices.Equal(got, []string{"arm64", "debug", "x.config", "coverage"}) {
				return "fragments " + strings.Join(got, "+")
			}
			if o := c.options(); o.QEMU != "qemu-system-aarch64" || o.Arch.Name != "arm64" || !o.Coverage {
				return "the arm64 machine: " + o.QEMU
			}
			return ""
		}},
		{[]string{"-device", "/dev/s0=c:scull:0", "-device", "/dev/null=existing", "-run", "^kernel", "-expect", `"ab\x00"`}, func(c *config) string {
			o := c.options()
			want := []wire.Device{{Path: "/dev/s0", Driver: "scull"}, {Path: "/dev/null", Existing: true}}
			if !slices.Equal(o.Devices, want) || o.Run != "^kernel" || string(o.Expect) != "ab\x00" {
				return fmt.Sprintf("devices %+v, run %q, expect %q", o.Devices, o.Run, o.Expect)
			}
			return ""
		}},
		{[]string{"-qemu", "/opt/q", "-kernel-args", " a=1  b ", "-expect", "7,8", "-guest-test", "a", "-guest-test", "b"}, func(c *config) string {
			o := c.options()
			if o.QEMU != "/opt/q" || !slices.Equal(o.KernelArgs, []string{"a=1", "b"}) || !bytes.Equal(o.Expect, []byte{7, 8}) ||
				!slices.Equal(o.GuestTests, []string{"a", "b"}) {
				return "the flags' values were lost"
			}
			return ""
		}},
		{[]string{"lint", "-v", "-strict"}, func(c *config) string {
			if !c.verbose || !c.strict || c.accel != "auto" || !slices.Equal(c.devices, []string{"/dev/mymap"}) {
				return "lint's flags, or the defaults of flags it lacks"
			}
			return ""
		}},
		{[]string{"matrix", "-cell", "6.1, 6.12"}, func(c *config) string {
			if len(c.cells) != 2 || c.cells[0].Name != "6.1" || c.cells[1].Name != "6.12" {
				return "the cells"
			}
			return ""
		}},
		{[]string{"matrix"}, func(c *config) string {
			m, _ := kernel.LoadMatrix()
			if len(c.cells) != len(m.Cells) {
				return "not every cell"
			}
			return ""
		}},
	} {
		_, c, err := parseArgs(tc.args)
		if err != nil {
			t.Errorf("rig %q: %v", tc.args, err)
			continue
		}
		if msg := tc.want(c); msg != "" {
			t.Errorf("rig %q: %s", tc.args, msg)
		}
	}
}

// rig -h and rig help list the commands; rig CMD -h and rig help CMD list
// the command's own flags, all of them and no other, and exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, stdout, stderr := rigInProcess(t, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "\n  srcdir   unpack the kernel source") {
			t.Errorf("rig %q: exit %d, stderr %q; want 0 and the commands:\n%s", args, code, stderr, stdout)
		}
	}
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)`)
	for _, cmd := range commands() {
		var want []string
		cmd.flagSet(newConfig()).VisitAll(func(f *flag.Flag) { want = append(want, f.Name) })
		for _, args := range [][]string{{cmd.name, "-h"}, {"help", cmd.name}, {cmd.name, "-v", "-help"}} {
			code, stdout, stderr := rigInProcess(t, args...)
			var got []string
			for _, m := range flagLine.FindAllStringSubmatch(stdout, -1) {
				got = append(got, m[1])
			}
			slices.Sort(got)
			if code != 0 || stderr != "" || !slices.Equal(got, want) || !strings.HasPrefix(stdout, "usage: rig "+cmd.name+" ") {
				t.Errorf("rig %q: exit %d, stderr %q, flags %q; want 0 and %q", args, code, stderr, got, want)
			}
		}
	}
	// Flags that do not apply to a command are not its flags.
	for _, tc := range []struct {
		cmd     string
		has     []string
		hasNone []string
	}{
		{"run", []string{"html", "junit", "cell", "matrix", "settle", "build-only"}, []string{"tools"}},
		{"matrix", []string{"cell", "jobs", "network", "html"}, []string{"matrix", "kernel", "config", "arch"}},
		{"exec", []string{"json", "check-timeout", "timeout", "module-params"}, []string{"channel", "checks", "guest-test", "html", "junit", "cell", "settle"}},
		{"shell", []string{"json", "module"}, []string{"timeout", "channel", "checks", "check-timeout"}},
		{"watch", []string{"checks", "channel", "timeout", "json"}, []string{"html", "cell", "build-only"}},
		{"lint", []string{"v", "json", "tools", "module", "kernel"}, []string{"html", "channel", "checks", "mem", "device"}},
		{"key", []string{"cell", "kernel", "config", "artifacts"}, []string{"jobs", "matrix", "module"}},
		{"srcdir", []string{"kernel-src", "artifacts", "cache"}, []string{"config", "module", "json"}},
	} {
		cmd, _ := lookup(tc.cmd)
		fs := cmd.flagSet(newConfig())
		for _, f := range tc.has {
			if fs.Lookup(f) == nil {
				t.Errorf("rig %s has no -%s", tc.cmd, f)
			}
		}
		for _, f := range tc.hasNone {
			if fs.Lookup(f) != nil {
				t.Errorf("rig %s has -%s, which does not apply to it", tc.cmd, f)
			}
		}
	}
}

// rig exec exits as its command did: its code, or 128+N for signal N, as
// the guest's sshd names it.
func TestExecExit(t *testing.T) {
	for _, tc := range []struct {
		x    result.Exec
		want int
	}{
		{result.Exec{Exit: 0}, 0},
		{result.Exec{Exit: 3}, 3},
		{result.Exec{Exit: -1, Signal: "KILL"}, 137},
		{result.Exec{Exit: -1, Signal: "SEGV"}, 139},
		{result.Exec{Exit: -1, Signal: "TERM"}, 143},
		{result.Exec{Exit: -1, Signal: "ABRT"}, 134},
		{result.Exec{Exit: -1, Signal: "SIGINT"}, 130},
		{result.Exec{Exit: -1, Signal: "broken pipe"}, 141},
		{result.Exec{Exit: -1, Signal: "34@openssh.com"}, 162},
		{result.Exec{Exit: -1, Signal: "x@openssh.com"}, 255},
		{result.Exec{Exit: -1, Signal: "NOSUCH"}, 255},
		{result.Exec{Exit: -1}, 255},
	} {
		if got := execExit(&tc.x); got != tc.want {
			t.Errorf("exit %d, signal %q: rig exec exits %d; want %d", tc.x.Exit, tc.x.Signal, got, tc.want)
		}
	}
}

// docs/usage.md is what the commands' definitions say.
func TestUsageDocCurrent(t *testing.T) {
	var b bytes.Buffer
	if code := help([]string{"-markdown"}, &b, &b); code != 0 {
		t.Fatalf("rig help -markdown: exit %d: %s", code, b.String())
	}
	got, err := os.ReadFile("../docs/usage.md")
	if err != nil {
		t.Errorf("%v; generate it with: %s (or go generate ./rig)", err, usageDocCommand)
	} else if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("docs/usage.md is not current; regenerate it with: %s (or go generate ./rig)", usageDocCommand)
	}
	for _, c := range commands() {
		if !strings.Contains(b.String(), "\n### rig "+c.name+"\n") {
			t.Errorf("docs/usage.md has no section for rig %s", c.name)
		}
	}
}

// rig lint -v logs the tools' debug lines; without -v it does not.
func TestLintVerbose(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the kernel source")
	}
	for _, verbose := range []bool{false, true} {
		args := []string{"lint", "-module", "../module", "-tools", "checkpatch"}
		if verbose {
			args = append(args, "-v")
		}
		out, err := exec.Command(rigBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("rig %q: %v\n%s", args, err, out)
		}
		if got := bytes.Contains(out, []byte("lint: tool done")); got != verbose {
			t.Errorf("rig %q: debug lines %v; want %v\n%s", args, got, verbose, out)
		}
	}
}
