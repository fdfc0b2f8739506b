// Command contract checks everything a user of an mmap device relies on,
// inside the guest, and prints the result as KTAP. The rig parses it and
// reports each case by name.
//
// A case that needs an interface the driver does not have (no read() or
// write(), say) is skipped with the reason, not failed, so the checks stay
// useful for other mmap drivers. Absence is judged from the interface's
// first call only (agree.go); any later error is a failure.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmaprig/mmaprig/guest/devnode"
	"github.com/mmaprig/mmaprig/guest/kmod"
	"github.com/mmaprig/mmaprig/internal/kreport"
	"github.com/mmaprig/mmaprig/internal/wire"
)

// unloadTimeout bounds each rmmod of the unload cycles; loadTimeout each
// load of the contract's own.
const (
	unloadTimeout = 10 * time.Second
	loadTimeout   = 10 * time.Second
)

type config struct {
	// device is the device checked; dev is its node.
	device     wire.Device
	dev        string
	module     string
	expect     []byte
	cycles     int
	mappers    int
	iterations int
	page       int
	leakCheck  bool
	params     string
}

type check struct {
	name string
	run  func(*config, *wire.KTAPWriter) (wire.CaseResult, string)
}

// checks run in this order; unload_reload leaves the module loaded.
var checks = []check{
	{"reader_output", readerOutput},
	{"refuses_bad_maps", refusesBadMaps},
	{"shared_coherence", sharedCoherence},
	{"user_kernel_agree", userKernelAgree},
	{"concurrent_mappers", concurrentMappers},
	{"unload_reload", unloadReload},
	{"kernel_clean", kernelClean},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "coherence-peer" {
		os.Exit(coherencePeer(os.Args[2]))
	}
	c, selected, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "contract: %v\n", err)
		os.Exit(2)
	}
	k := wire.NewKTAPWriter(os.Stdout, len(selected))
	failed := false
	for _, ch := range selected {
		k.Start(ch.name)
		start := time.Now()
		r, reason := ch.run(c, k)
		if reason != "" && r != wire.Skip {
			k.Diag("%s: %s", ch.name, reason)
		}
		k.TimedResult(ch.name, r, reason, time.Since(start))
		failed = failed || r == wire.Fail
	}
	if failed {
		os.Exit(1)
	}
}

// parseFlags reads the command line, and returns the checks -run selects.
func parseFlags() (*config, []check, error) {
	c := &config{page: os.Getpagesize()}
	expect := flag.String("expect", wire.FormatBytes(wire.DefaultExpect), "bytes the page starts with")
	dev := flag.String("dev", wire.DefaultDevice, "the device, as -device gives it: a node, or NODE=c:DRIVER:MINOR, made again after each load")
	run := flag.String("run", "", "run only the cases whose names match this `regexp`")
	flag.StringVar(&c.module, "module", wire.ModulePath, "the module's .ko, for the unload cycles")
	flag.StringVar(&c.params, "params", "", "the module's parameters, for its reloads")
	flag.BoolVar(&c.leakCheck, "leak-check", true, "judge free pages across the unload cycles (off where the allocator holds freed memory back, as KASAN does)")
	flag.IntVar(&c.cycles, "cycles", 100, "load/use/unload cycles")
	flag.IntVar(&c.mappers, "mappers", 8, "concurrent mappers")
	flag.IntVar(&c.iterations, "iterations", 200, "iterations per mapper")
	flag.Parse()
	var err error
	if c.expect, err = wire.ParseBytes(*expect); err != nil {
		return nil, nil, fmt.Errorf("bad -expect: %w", err)
	}
	if len(c.expect) > c.page {
		return nil, nil, fmt.Errorf("bad -expect: %d bytes, more than this kernel's page of %d", len(c.expect), c.page)
	}
	if c.device, err = wire.ParseDevice(*dev); err != nil {
		return nil, nil, fmt.Errorf("bad -dev: %w", err)
	}
	c.dev = c.device.Path
	selected, err := selectChecks(*run)
	return c, selected, err
}

// selectChecks are the checks whose names run matches, or all of them.
func selectChecks(run string) ([]check, error) {
	if _, err := regexp.Compile(run); err != nil {
		return nil, fmt.Errorf("bad -run: %w", err)
	}
	// go test -run's top level selects tests; the cases have no subtests.
	re, err := regexp.Compile(wire.RunTopLevel(run))
	if err != nil {
		return nil, fmt.Errorf("bad -run: %w", err)
	}
	var out []check
	for _, ch := range checks {
		if re.MatchString(ch.name) {
			out = append(out, ch)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-run %q matches no case; the cases are %s", run, strings.Join(wire.ContractCases, ", "))
	}
	return out, nil
}

// load loads the module again, and makes its device's node again if the
// rig made it (a char driver's), since the major may have changed.
func (c *config) load() error {
	if err := kmod.Load(c.module, c.params, loadTimeout, nil); err != nil {
		return err
	}
	return devnode.Ready([]wire.Device{c.device}, nil, wire.DeviceTimeout)
}

func fail(format string, args ...any) (wire.CaseResult, string) {
	return wire.Fail, fmt.Sprintf(format, args...)
}

func mapDev(c *config, length, prot, flags int, off int64) (*os.File, []byte, error) {
	f, err := os.OpenFile(c.dev, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	p, err := unix.Mmap(int(f.Fd()), off, length, prot, flags)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, p, nil
}

const rw = unix.PROT_READ | unix.PROT_WRITE

// 1. The reader prints exactly what the seed's program prints.
func readerOutput(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	argv := wire.ReaderArgv(c.dev, len(c.expect))
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return fail("reader: %v", err)
	}
	want := strings.Join(wire.ReaderLines(c.expect), "\n") + "\n"
	if string(out) != want {
		return fail("reader printed %q, want %q", out, want)
	}
	return wire.Pass, ""
}

// 2. Two pages, an offset, MAP_PRIVATE, and growing with mremap are refused.
func refusesBadMaps(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	// Every length here is in this kernel's pages, 4K to 64K: the report
	// says which, since a driver may assume 4096.
	k.Diag("page size: %d bytes", c.page)
	var bad []string
	for _, tc := range []struct {
		what   string
		length int
		flags  int
		off    int64
	}{
		{"2 pages", 2 * c.page, unix.MAP_SHARED, 0},
		{"offset 1 page", c.page, unix.MAP_SHARED, int64(c.page)},
		{"MAP_PRIVATE", c.page, unix.MAP_PRIVATE, 0},
	} {
		f, p, err := mapDev(c, tc.length, rw, tc.flags, tc.off)
		switch {
		case err == nil:
			unix.Munmap(p)
			f.Close()
			bad = append(bad, tc.what+" was mapped")
		case !errors.Is(err, unix.EINVAL):
			bad = append(bad, fmt.Sprintf("%s failed with %v, want EINVAL", tc.what, err))
		default:
			k.Diag("%s: refused with EINVAL", tc.what)
		}
	}
	f, p, err := mapDev(c, c.page, rw, unix.MAP_SHARED, 0)
	if err != nil {
		return fail("map one page: %v", err)
	}
	defer f.Close()
	q, err := unix.Mremap(p, 2*c.page, unix.MREMAP_MAYMOVE)
	if err == nil {
		unix.Munmap(q)
		bad = append(bad, "mremap grew the mapping to 2 pages")
	} else {
		unix.Munmap(p)
		k.Diag("mremap to 2 pages: refused with %v", err)
	}
	if bad != nil {
		return fail("%s", strings.Join(bad, "; "))
	}
	return wire.Pass, ""
}

// 3. Two processes' mappings see each other's writes at once.
func sharedCoherence(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	f, p, err := mapDev(c, c.page, rw, unix.MAP_SHARED, 0)
	if err != nil {
		return fail("map: %v", err)
	}
	defer f.Close()
	defer unix.Munmap(p)
	const off = 100
	saved := [2]byte{p[off], p[off+1]}
	defer func() { p[off], p[off+1] = saved[0], saved[1] }()

	self, _ := os.Executable()
	cmd := exec.Command(self, "coherence-peer", c.dev)
	// In u-root's busybox, argv[0] picks the command.
	cmd.Args[0] = wire.CmdContract
	stdin, _ := cmd.StdinPipe()
	var out bytes.Buffer
	pipe, _ := cmd.StdoutPipe()
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fail("start the peer: %v", err)
	}
	defer cmd.Wait()
	stdout := bufio.NewReader(pipe)
	// The peer writes 0xA5 at off and says "w".
	if line, err := stdout.ReadString('\n'); err != nil || line != "w\n" {
		stdin.Close()
		return fail("the peer did not write: %q %v %s", line, err, out.String())
	}
	if p[off] != 0xA5 {
		stdin.Close()
		return fail("the peer wrote 0xa5 at %d; this mapping sees %#x", off, p[off])
	}
	p[off+1] = 0x5A
	stdin.Write([]byte("r\n"))
	line, _ := stdout.ReadString('\n')
	stdin.Close()
	if line != "ok\n" {
		return fail("this process wrote 0x5a at %d; the peer saw otherwise (%q) %s", off+1, line, out.String())
	}
	return wire.Pass, ""
}

// coherencePeer is the second process of sharedCoherence.
func coherencePeer(dev string) int {
	c := &config{dev: dev, page: os.Getpagesize()}
	f, p, err := mapDev(c, c.page, rw, unix.MAP_SHARED, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer: map: %v\n", err)
		return 1
	}
	defer f.Close()
	p[100] = 0xA5
	os.Stdout.Write([]byte("w\n"))
	buf := make([]byte, 2)
	os.Stdin.Read(buf)
	if p[101] == 0x5A {
		os.Stdout.Write([]byte("ok\n"))
	} else {
		fmt.Fprintf(os.Stdout, "%02x\n", p[101])
	}
	return 0
}

// 4. What user space writes through the mapping, the kernel reads back
// with read(), and what write() stores, the mapping shows (agree.go).
func userKernelAgree(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	f, p, err := mapDev(c, c.page, rw, unix.MAP_SHARED, 0)
	if err != nil {
		return fail("map: %v", err)
	}
	defer f.Close()
	defer unix.Munmap(p)
	a := &agreement{page: p, open: func() (devFile, error) { return os.OpenFile(c.dev, os.O_RDWR, 0) }}
	return a.check()
}

// 5. N mappers in parallel, M map/read/unmap rounds each, without an error.
func concurrentMappers(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	var wg sync.WaitGroup
	errs := make(chan error, c.mappers)
	start := time.Now()
	for i := 0; i < c.mappers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < c.iterations; j++ {
				f, p, err := mapDev(c, c.page, rw, unix.MAP_SHARED, 0)
				if err != nil {
					errs <- fmt.Errorf("mapper %d round %d: %w", i, j, err)
					return
				}
				ok := bytes.Equal(p[:len(c.expect)], c.expect)
				if !ok {
					// Each mapper stops at its first error, so errs,
					// with room for one per mapper, never fills.
					errs <- fmt.Errorf("mapper %d round %d: the page starts % x", i, j, p[:len(c.expect)])
				}
				unix.Munmap(p)
				f.Close()
				if !ok {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err, ok := <-errs; ok {
		return fail("%v", err)
	}
	k.Diag("%d mappers x %d rounds in %v", c.mappers, c.iterations, time.Since(start).Round(time.Millisecond))
	return wire.Pass, ""
}

// 6. rmmod under a live mapping fails "in use"; after munmap and close it
// succeeds; load/use/unload cycles leak no memory. Leaves it loaded.
func unloadReload(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	name, err := kmod.Name(c.module)
	if err != nil {
		return fail("%v", err)
	}
	if err := unloadPinned(c, k, name); err != nil {
		return fail("%v", err)
	}
	// Each unload waits for an RCU grace period, which under emulation
	// takes several timer ticks; expedited grace periods keep the cycles'
	// semantics and cost a fraction of it.
	defer expediteRCU()()
	lost, err := leakCycles(c, name)
	if err != nil {
		c.load()
		return fail("%v", err)
	}
	if err := c.load(); err != nil {
		return fail("reload: %v", err)
	}
	k.Diag("%d load/map/unload cycles in two halves: pages lost %+d, %+d", c.cycles, lost[0], lost[1])
	if !c.leakCheck {
		k.Diag("free pages not judged: the rig says this kernel's allocator holds freed memory back (KASAN's quarantine)")
		return wire.Pass, ""
	}
	if min(lost[0], lost[1]) >= int64(c.cycles)/4 {
		return fail("%d cycles lost %d pages (%d, then %d): the module leaks memory", c.cycles, lost[0]+lost[1], lost[0], lost[1])
	}
	return wire.Pass, ""
}

// unloadPinned checks that a live mapping, without its file, pins the
// module: rmmod fails, and succeeds once the mapping is gone. It leaves
// the module unloaded.
func unloadPinned(c *config, k *wire.KTAPWriter, name string) error {
	f, p, err := mapDev(c, c.page, unix.PROT_READ, unix.MAP_SHARED, 0)
	if err != nil {
		return fmt.Errorf("map: %w", err)
	}
	f.Close() // the mapping alone must pin the module
	err = kmod.Unload(name, unloadTimeout, nil)
	if err == nil {
		unix.Munmap(p)
		c.load()
		return fmt.Errorf("rmmod %s succeeded while a mapping was live", name)
	}
	k.Diag("rmmod with a live mapping: %v (in use, refcnt %s)", err, refcnt(name))
	unix.Munmap(p)
	if err := kmod.Unload(name, unloadTimeout, nil); err != nil {
		return fmt.Errorf("rmmod after munmap and close: %w", err)
	}
	return nil
}

// leakCycles loads, maps, checks and unloads the module c.cycles times,
// after a warm-up, and returns the pages each half of the cycles lost.
// Two halves: a leak of a page a cycle loses half a page a cycle in each,
// while noise (a cache that grows once) shows in one at most.
func leakCycles(c *config, name string) ([2]int64, error) {
	var lost [2]int64
	// Warm up, so caches the first loads fill do not count as a leak.
	for i := 0; i < 5; i++ {
		if err := reloadCycle(c, name); err != nil {
			return lost, fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	for half := range lost {
		before := available()
		for i := 0; i < c.cycles/2; i++ {
			if err := reloadCycle(c, name); err != nil {
				return lost, fmt.Errorf("cycle %d: %w", half*c.cycles/2+i, err)
			}
		}
		lost[half] = before - available()
	}
	return lost, nil
}

// reloadCycle loads the module, maps its page and checks it, and unloads
// it.
func reloadCycle(c *config, name string) error {
	if err := c.load(); err != nil {
		return err
	}
	f, p, err := mapDev(c, c.page, unix.PROT_READ, unix.MAP_SHARED, 0)
	if err != nil {
		return err
	}
	if !bytes.Equal(p[:len(c.expect)], c.expect) {
		err = fmt.Errorf("the page starts % x after a reload", p[:len(c.expect)])
	}
	unix.Munmap(p)
	f.Close()
	if uerr := kmod.Unload(name, unloadTimeout, nil); uerr != nil {
		return uerr
	}
	return err
}

// expediteRCU asks the kernel for expedited RCU grace periods, and
// returns what puts the old setting back. Without the knob it does
// nothing.
func expediteRCU() func() {
	const knob = "/sys/kernel/rcu_expedited"
	old, err := os.ReadFile(knob)
	if err != nil || os.WriteFile(knob, []byte("1"), 0o644) != nil {
		return func() {}
	}
	return func() { os.WriteFile(knob, old, 0o644) }
}

func refcnt(name string) string {
	b, err := os.ReadFile("/sys/module/" + name + "/refcnt")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// available counts the pages the rest of the system could have: free in
// the buddy allocator, on the per-CPU lists (which nr_free_pages leaves
// out), and this process's own resident pages, which it may take or give
// back between two counts.
func available() int64 {
	return vmstat("nr_free_pages") + pcpPages() + ownPages()
}

func vmstat(name string) int64 {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// pcpPages sums the per-CPU page lists' counts in /proc/zoneinfo.
func pcpPages() int64 {
	b, err := os.ReadFile("/proc/zoneinfo")
	if err != nil {
		return 0
	}
	var n int64
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "count:"); ok {
			c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			n += c
		}
	}
	return n
}

// ownPages is this process's resident set, in pages.
func ownPages() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n
}

// Taint bits that a test module sets by itself: out-of-tree (O), unsigned (E).
const allowedTaint = 1<<12 | 1<<13

// 7. The kernel is not tainted by a warning or a bug, and its log has no
// report.
func kernelClean(c *config, k *wire.KTAPWriter) (wire.CaseResult, string) {
	b, err := os.ReadFile("/proc/sys/kernel/tainted")
	if err != nil {
		return fail("read tainted: %v", err)
	}
	t, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fail("read tainted: %v", err)
	}
	if t&^allowedTaint != 0 {
		return fail("the kernel is tainted: %d (see Documentation/admin-guide/tainted-kernels.rst)", t)
	}
	recs, err := kmsg()
	if err != nil {
		return fail("read /dev/kmsg: %v", err)
	}
	for _, r := range recs {
		if h, ok := kreport.Match(r); ok {
			return fail("the kernel log has a report: %s", h.Title)
		}
	}
	k.Diag("tainted=%d, %d log records, no report", t, len(recs))
	return wire.Pass, ""
}

// kmsg reads the kernel log records present now. It uses raw syscalls:
// an *os.File would park a non-blocking read in the poller instead of
// returning EAGAIN at the end of the log.
func kmsg() ([]string, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return out, nil
			}
			if errors.Is(err, unix.EPIPE) {
				continue // overwritten records
			}
			return out, err
		}
		rec := string(buf[:n])
		if _, msg, ok := strings.Cut(rec, ";"); ok {
			rec = msg
		}
		out = append(out, strings.TrimRight(rec, "\n"))
	}
}
