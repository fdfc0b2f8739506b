package main

// BenchmarkPhases: where the time of a warm run and of a rig watch cycle
// goes, phase by phase, beside the boot floor, all interleaved in one
// window (medians of 5). make bench runs it with the rest.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/arch"
	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/kernel"
	"github.com/mmaprig/mmaprig/rig/result"
)

// phases is one run's time, phase by phase, in the order they happen.
type phases struct {
	names []string
	d     map[string]time.Duration
}

func (p *phases) add(name string, d time.Duration) {
	if p.d == nil {
		p.d = map[string]time.Duration{}
	}
	if _, ok := p.d[name]; !ok {
		p.names = append(p.names, name)
	}
	p.d[name] += d
}

// medianPhases is each phase's median over runs, in the first run's order.
func medianPhases(runs []phases) phases {
	var out phases
	for _, name := range runs[0].names {
		var ds []time.Duration
		for _, r := range runs {
			ds = append(ds, r.d[name])
		}
		out.add(name, median(ds))
	}
	return out
}

// engineLineRE is a line of engine.log: the time since the rig started
// QEMU's clock, and what came.
var engineLineRE = regexp.MustCompile(`^\+(\d+\.\d+) (\S+) ?(.*)$`)

// runPhases splits a warm run into phases: the rig's own work before the
// guest runs (the module stage, the restore, the rest), then from
// engine.log the guest's steps as the host saw them arrive: the work's
// transfer (QEMU resumed to the init's boot event), insmod and the device,
// each program, each contract case (from the host's arrival times of its
// start and result lines: a guest that skips its idle time reports its
// own clock, not the host's), the unload,
// the settle window and the power-off; and what the rig does after QEMU
// exits.
func runPhases(b *testing.B, run timed) phases {
	b.Helper()
	var p phases
	rep := run.rep
	p.add("module stage (build or cache)", stage(rep, "module"))
	if rep.Boot != nil {
		p.add("restore (checksum, QEMU -incoming)", rep.Boot.Took.D())
	}
	times, cases, err := engineTimes(filepath.Join(rep.ArtifactDir, "engine.log"))
	if err != nil {
		b.Fatal(err)
	}
	at := func(name string) time.Duration { return times[name] }
	p.add("transfer: resume to the init's boot event", at("boot")-at("RESUME"))
	p.add("insmod and device node", at("device")-at("boot"))
	p.add("programs: reader", at("run#1")-at("device"))
	if _, ok := times["run#2"]; ok {
		p.add("programs: contract (all cases)", at("run#2")-at("run#1"))
		for _, c := range rep.Cases {
			p.add("    case "+c.Name, cases[c.Name])
		}
	}
	last := at("run#1")
	if t, ok := times["run#2"]; ok {
		last = t
	}
	p.add("unload", at("unload")-last)
	p.add("settle window and final checks", at("settle")-at("unload"))
	p.add("end and power-off (to QEMU's exit)", at("exit")-at("settle"))
	guest := at("exit") - at("RESUME")
	p.add("rig's own work outside the guest (start-up, stages, exit)", run.wall-guest-stage(rep, "module")-restoreTook(rep))
	p.add("whole run (wall)", run.wall)
	return p
}

func restoreTook(rep result.Run) time.Duration {
	if rep.Boot == nil {
		return 0
	}
	return rep.Boot.Took.D()
}

// engineTimes reads when each thing of interest arrived in an engine.log:
// QMP's RESUME, each port event by name (run#1, run#2 for the programs),
// and QEMU's exit; and how long each KTAP case took, from the arrival of
// its "# case start" line to that of its result line.
func engineTimes(path string) (map[string]time.Duration, map[string]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	times, cases := map[string]time.Duration{}, map[string]time.Duration{}
	started := map[string]time.Duration{}
	runs := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := engineLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s, _ := strconv.ParseFloat(m[1], 64)
		t := secs(s)
		switch {
		case m[2] == "qmp" && strings.HasPrefix(m[3], "RESUME"):
			times["RESUME"] = t
		case m[2] == "exit":
			times["exit"] = t
		case m[2] == "port":
			name := portEvent(m[3], t, started, cases)
			if name == "run" {
				runs++
				name = fmt.Sprintf("run#%d", runs)
			}
			if _, ok := times[name]; name != "" && !ok {
				times[name] = t
			}
		}
	}
	return times, cases, sc.Err()
}

// portEvent is a port line's event name ("" for the ones of no interest),
// and times the cases whose start and result lines a progress event brings.
func portEvent(line string, t time.Duration, started, cases map[string]time.Duration) string {
	ev, err := wire.DecodeEvent([]byte(line))
	if err != nil || ev.Name == wire.EvKernel {
		return ""
	}
	if ev.Name != wire.EvProgress {
		return ev.Name
	}
	for _, l := range ev.Stdout {
		if name, ok := strings.CutPrefix(l, "# case start "); ok {
			started[name] = t
		} else if c, ok := wire.ResultLine(l); ok {
			cases[c.Name] = t - started[c.Name]
		}
	}
	return ""
}

// phaseTable prints phases as rows, with the share of the floor.
func phaseTable(b *testing.B, t benchTable, title string, p phases, fl time.Duration) {
	b.Helper()
	fmt.Fprintf(t.w, "  %s\n", title)
	for _, name := range p.names {
		d := p.d[name]
		if fl == 0 {
			fmt.Fprintf(t.w, "    %-60s %9.3fs\n", name, d.Seconds())
			continue
		}
		fmt.Fprintf(t.w, "    %-60s %9.3fs  %5.2fx floor\n", name, d.Seconds(), d.Seconds()/fl.Seconds())
	}
}

// BenchmarkPhases prints the phase tables: the floor, a warm default run
// (the whole contract and the settled end) and a warm -checks reader run,
// interleaved, medians of 5; then the module build, phase by phase, by
// make and by the replay of kbuild's commands; then rig watch from a save
// that breaks the bytes to its FAIL line, and from the fixing save to PASS.
func BenchmarkPhases(b *testing.B) {
	if b.N > 1 {
		b.Skip("run with -benchtime 1x: each part boots VMs")
	}
	t := benchTable{w: os.Stdout}
	fmt.Fprintf(t.w, "mmaprig phases (TCG, 2 cores; medians of 5, interleaved with the floor); load: %s\n", loadAvg())
	benchRig(b, rigBin) // warm the caches and the snapshots, untimed
	benchRig(b, rigBin, "-skip-idle")
	benchRig(b, rigBin, settleEarly...)
	fl := phaseRuns(b, t)
	moduleBuildPhases(b, t, benchKdir(b))
	watchCycleRows(b, t, fl)
	watchCycleRows(b, t, fl, "-skip-idle")
	watchCycleRows(b, t, fl, settleEarly...)
}

// settleEarly are the flags of the early settled end: the tracing kernel
// (built once, about 13 minutes on 2 cores), and the settle window ended
// when its trace shows nothing of the module's left.
var settleEarly = []string{"-config", "tracing", "-settle-early"}

// phaseRuns times the floor, and the default run and -checks reader each
// as they are, with -skip-idle and with the early settled end, in turn,
// five times, and prints their medians; it returns the floor.
func phaseRuns(b *testing.B, t benchTable) time.Duration {
	b.Helper()
	kinds := []struct {
		name, short, target string
		args                []string
	}{
		{"warm default verdict (whole contract, settled end)", "default", "target <= 1.0x", nil},
		{"  default, -skip-idle", "default -skip-idle", "", []string{"-skip-idle"}},
		{"  default, -config tracing -settle-early", "default settle-early", "", settleEarly},
		{"warm -checks reader", "reader", "target <= 0.35x", []string{"-checks", "reader"}},
		{"  reader, -skip-idle", "reader -skip-idle", "", []string{"-checks", "reader", "-skip-idle"}},
		{"  reader, -config tracing -settle-early", "reader settle-early", "", append([]string{"-checks", "reader"}, settleEarly...)},
	}
	var floors, icountFloors []time.Duration
	walls, runs := make([][]time.Duration, len(kinds)), make([][]phases, len(kinds))
	initrd := floorInitramfs(b)
	for range 5 {
		for i, k := range kinds {
			d := benchRig(b, rigBin, k.args...)
			walls[i], runs[i] = append(walls[i], d.wall), append(runs[i], runPhases(b, d))
			if i == 0 {
				floors = append(floors, floorWith(b, d.rep.ArtifactDir, initrd, false))
			}
			if i == 1 && d.rep.IdleSkipped {
				icountFloors = append(icountFloors, floorWith(b, d.rep.ArtifactDir, initrd, true))
			}
		}
	}
	fl := median(floors)
	t.row(b, "floor: same kernel and machine, static init that powers off", fl, "")
	if len(icountFloors) > 0 {
		t.row(b, "  the same floor under -skip-idle's -icount (not the target's)", median(icountFloors), "")
	}
	for i, k := range kinds {
		t.row(b, k.name+", wall", median(walls[i]), "")
		t.ratio(b, "    "+k.short+" to the floor", median(walls[i]).Seconds()/fl.Seconds(), k.target)
	}
	for i, k := range kinds {
		phaseTable(b, t, k.short+" run, phase by phase (median of each):", medianPhases(runs[i]), fl)
	}
	budgetRows(b, t, fl, medianPhases(runs[0]))
	return fl
}

// budgetRows prints what the 1.0x target leaves the default run's
// contract and settle window, once its other phases are paid for, beside
// what they took: the gap that the phase table alone does not add up.
func budgetRows(b *testing.B, t benchTable, fl time.Duration, p phases) {
	b.Helper()
	const contract, settle = "programs: contract (all cases)", "settle window and final checks"
	busy := p.d[contract] + p.d[settle]
	t.row(b, "default at 1.0x: left for the contract and the settle window", fl-(p.d["whole run (wall)"]-busy), "")
	t.row(b, "  the contract and the settle window took", busy, "")
}

// loadAvg is the host's load, for the table's header: the machine may be
// shared.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// timedLines runs a command and records when each line of its output
// came, relative to the start.
type timedLine struct {
	at   time.Duration
	text string
}

func runTimed(b *testing.B, dir string, name string, args ...string) ([]timedLine, time.Duration) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	var lines []timedLine
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		lines = append(lines, timedLine{time.Since(start), sc.Text()})
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%s %v: %v\n%v", name, args, err, lines)
	}
	return lines, time.Since(start)
}

// kbuildPhases splits a kbuild log, timed line by line, at its quiet
// lines ("  CC [M]  x.o"): before the first is make's start-up; each
// quiet line's phase lasts until the next; the last until the command
// ended.
func kbuildPhases(lines []timedLine, total time.Duration) phases {
	var p phases
	name, since := "make's start-up (to the first command)", time.Duration(0)
	for _, l := range lines {
		f := strings.Fields(l.text)
		if len(f) < 2 || !strings.HasPrefix(l.text, "  ") || strings.ToUpper(f[0]) != f[0] {
			continue
		}
		p.add(name, l.at-since)
		name, since = kbuildPhaseName(f), l.at
	}
	p.add(name, total-since)
	p.add("whole build", total)
	return p
}

// kbuildPhaseName names a quiet line's phase: "CC [M] mymap.o".
func kbuildPhaseName(f []string) string {
	target := filepath.Base(f[len(f)-1])
	switch {
	case f[0] == "CC" && strings.HasSuffix(target, ".mod.o"):
		return ".mod.o and link: CC " + target
	case f[0] == "LD":
		return ".mod.o and link: LD " + target
	case f[0] == "MODPOST":
		return "modpost"
	}
	return "compile " + target
}

// floorWith boots the floor: the kept run's machine line, with initrd,
// and with the line's -icount only if icount.
func floorWith(b *testing.B, art, initrd string, icount bool) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join(art, "qemu.cmdline.json"))
	if err != nil {
		b.Fatal(err)
	}
	var argv []string
	if err := json.Unmarshal(raw, &argv); err != nil {
		b.Fatal(err)
	}
	// A boot that hangs (seen once, on a machine loaded 18 deep: the
	// guest spun after "smpboot: Total of 1 processors activated") is
	// killed after a minute and tried again.
	for try := 0; ; try++ {
		args := floorArgs(argv, initrd, icount)
		args = append(args, "-serial", "file:"+filepath.Join(b.TempDir(), "floor-console.log"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		out, err := exec.CommandContext(ctx, argv[0], args...).CombinedOutput()
		d := time.Since(start)
		hung := ctx.Err() != nil
		cancel()
		switch {
		case hung && try < 2:
			fmt.Fprintf(os.Stdout, "  (a floor boot hung for a minute; trying again)\n")
		case err != nil:
			b.Fatalf("floor QEMU: %v\n%s", err, out)
		default:
			return d
		}
	}
}

// floorArgs is the rig's QEMU command line without the rig's QMP, pause,
// console, results port and restore (-incoming), with the floor's
// initramfs: a cold boot. Without -icount unless icount: the floor is
// the fastest boot of the kernel, and a guest that skips its idle time
// runs its busy boot more slowly under -icount.
func floorArgs(argv []string, initrd string, icount bool) []string {
	var args []string
	for i := 1; i < len(argv); i++ {
		switch a := argv[i]; {
		case a == "-S":
			continue
		case a == "-qmp" || a == "-chardev" || a == "-serial" || a == "-incoming":
			i++
			continue
		case a == "-device" && strings.HasPrefix(argv[i+1], "virt"):
			i++
			continue
		case a == "-initrd":
			args = append(args, "-initrd", initrd)
			i++
			continue
		case a == "-icount" && !icount:
			i++
			continue
		}
		args = append(args, argv[i])
	}
	return args
}

// stampWriter records when each line written to it came.
type stampWriter struct {
	mu      sync.Mutex
	start   time.Time
	partial string
	lines   []timedLine
}

func (w *stampWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.partial + string(p)
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok {
			break
		}
		w.lines, s = append(w.lines, timedLine{time.Since(w.start), line}), rest
	}
	w.partial = s
	return len(p), nil
}

// moduleBuildPhases times module/'s build phase by phase, five times,
// interleaved: make from scratch, make with nothing to do (its start-up
// alone), make after a one-line edit of mymap.c, and the rig's replay of
// kbuild's commands after the same edit (rig watch's kept directory).
func moduleBuildPhases(b *testing.B, t benchTable, kdir string) {
	b.Helper()
	var scratch, noop, edit, replay []phases
	for i := range 5 {
		dir := filepath.Join(b.TempDir(), "module")
		copyDir(b, "../module", dir)
		args := []string{"-C", kdir, "M=" + dir, "W=1", "CFLAGS_MODULE=-g", "modules"}
		scratch = append(scratch, kbuildPhases(runTimed(b, dir, "make", args...)))
		noop = append(noop, kbuildPhases(runTimed(b, dir, "make", args...)))
		appendComment(b, filepath.Join(dir, "mymap.c"), i)
		edit = append(edit, kbuildPhases(runTimed(b, dir, "make", args...)))
		replay = append(replay, replayPhases(b, kdir, i))
	}
	fmt.Fprintf(t.w, "  module build of module/ (mymap.c), phase by phase, median of 5; load: %s\n", loadAvg())
	phaseTable(b, t, "make, from scratch:", medianPhases(scratch), 0)
	phaseTable(b, t, "make, nothing to do (make's start-up alone):", medianPhases(noop), 0)
	phaseTable(b, t, "make, after a one-line edit of mymap.c:", medianPhases(edit), 0)
	phaseTable(b, t, "replay of kbuild's commands (rig watch), after the same edit:", medianPhases(replay), 0)
}

func appendComment(b *testing.B, path string, i int) {
	b.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(f, "/* bench edit %d %d */\n", i, time.Now().UnixNano())
	f.Close()
}

// replayPhases builds a fresh copy of module/ in a kept directory (make,
// untimed), edits mymap.c, and times the replay that rebuilds it.
func replayPhases(b *testing.B, kdir string, i int) phases {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "module")
	copyDir(b, "../module", dir)
	spec := kernel.ModuleSpec{Dir: dir, Mode: kernel.BuildKbuild, Work: b.TempDir()}
	ctx := context.Background()
	if _, err := kernel.BuildModule(ctx, arch.Host(), kdir, spec, filepath.Join(b.TempDir(), "out"), io.Discard); err != nil {
		b.Fatal(err)
	}
	appendComment(b, filepath.Join(dir, "mymap.c"), i)
	w := &stampWriter{start: time.Now()}
	if _, err := kernel.BuildModule(ctx, arch.Host(), kdir, spec, filepath.Join(b.TempDir(), "out"), w); err != nil {
		b.Fatal(err)
	}
	total := time.Since(w.start)
	if len(w.lines) == 0 || !strings.Contains(w.lines[0].text, "replayed") {
		b.Fatalf("the edit was not replayed: %v", w.lines)
	}
	p := kbuildPhases(w.lines, total)
	p.names[0] = "the rig's checks before the replay (hashes, .cmd files, deps)"
	p.d[p.names[0]] = p.d["make's start-up (to the first command)"]
	delete(p.d, "make's start-up (to the first command)")
	return p
}

// watchCycleRows starts rig watch on a copy of module/ and times, five
// times in turn, a save that breaks the bytes (new content) to its FAIL
// line, and the fixing save (new content too) to its PASS line; and to
// the first case line each prints before its verdict.
func watchCycleRows(b *testing.B, t benchTable, fl time.Duration, args ...string) {
	b.Helper()
	mod := filepath.Join(b.TempDir(), "module")
	copyDir(b, "../module", mod)
	src := filepath.Join(mod, "mymap.c")
	orig, err := os.ReadFile(src)
	if err != nil || !strings.Contains(string(orig), "data[i] = i;") {
		b.Fatalf("mymap.c no longer fills its page with data[i] = i: %v", err)
	}
	w := startWatch(b, mod, args...)
	w.await("watching")
	var fails, passes, firstFail []time.Duration
	for i := range 5 {
		broken := strings.Replace(string(orig), "data[i] = i;", "data[i] = i + 1;", 1)
		start := w.save(src, fmt.Sprintf("%s/* break %d %d */\n", broken, i, time.Now().UnixNano()))
		firstFail = append(firstFail, w.await("    FAIL ")-start)
		fails = append(fails, w.await("mymap.c  FAIL")-start)
		start = w.save(src, fmt.Sprintf("%s/* fix %d %d */\n", orig, i, time.Now().UnixNano()))
		passes = append(passes, w.await("mymap.c  PASS")-start)
	}
	fmt.Fprintf(t.w, "  rig watch %s, median of 5 in turn; load: %s\n", strings.Join(args, " "), loadAvg())
	t.row(b, "save that breaks the bytes -> first failing case shown", median(firstFail), "")
	t.row(b, "save that breaks the bytes -> FAIL line", median(fails), "target <= 2.0s")
	t.row(b, "fixing save -> PASS line", median(passes), "target <= 2.0s")
	if fl > 0 {
		t.ratio(b, "  PASS to the floor", median(passes).Seconds()/fl.Seconds(), "")
	}
}

// watchProc is a running rig watch and the lines it prints, each with
// when it came.
type watchProc struct {
	b     *testing.B
	lines chan timedLine
	start time.Time
}

func startWatch(b *testing.B, mod string, args ...string) *watchProc {
	b.Helper()
	argv := append([]string{"watch", "-module", mod, "-artifacts", filepath.Join(b.TempDir(), "runs", "x")}, args...)
	cmd := exec.Command(rigBin, argv...)
	pr, pw, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pw.Close()
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	w := &watchProc{b: b, lines: make(chan timedLine, 1000), start: time.Now()}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			w.lines <- timedLine{time.Since(w.start), sc.Text()}
		}
		close(w.lines)
	}()
	return w
}

// save writes the file whole, as an editor saves, and returns when.
func (w *watchProc) save(path, content string) time.Duration {
	at := time.Since(w.start)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		w.b.Fatal(err)
	}
	return at
}

// await waits for a line with what in it, and returns when it came; it
// gives up after five minutes.
func (w *watchProc) await(what string) time.Duration {
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				w.b.Fatalf("rig watch ended before %q", what)
			}
			if strings.Contains(l.text, what) {
				return l.at
			}
		case <-deadline:
			w.b.Fatalf("rig watch printed no %q in five minutes", what)
		}
	}
}
