package runner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
	"github.com/mmaprig/mmaprig/rig/channel"
	"github.com/mmaprig/mmaprig/rig/progress"
	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// corpusDir is rig/verdict's corpus of recorded runs, each with the
// verdict it must get.
const corpusDir = "../verdict/testdata/corpus"

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func readRecording(t *testing.T, path string) *verdict.Recording {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := verdict.ParseRecording(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rec
}

// replayRun is the real driver loop and engine over a fake QEMU that
// replays a recording.
type replayRun struct {
	f   *fakeVM
	d   *driver
	rec *testRecorder
	log bytes.Buffer
}

func newReplayRun(t *testing.T, rec *verdict.Recording, setup func(*fakeVM, *testRecorder)) *replayRun {
	t.Helper()
	r := &run{opts: Options{ArtifactDir: t.TempDir(), Printer: progress.NewPrinter(io.Discard), Log: quietLog()}, res: &result.Run{}}
	c := newFakeClock()
	rr := &replayRun{f: newFakeVM(rec, c)}
	vr, err := verdict.NewRecorder(&rr.log, rec.Spec)
	if err != nil {
		t.Fatal(err)
	}
	rr.rec = &testRecorder{rec: vr, clock: c, watch: verdict.PortError, seen: make(chan int64, 1)}
	if setup != nil {
		setup(rr.f, rr.rec)
	}
	work := &wire.Work{Nonce: rec.Spec.Nonce, Config: rec.Spec.Config()}
	rr.d = r.newDriver(rec.Spec, rr.rec, work, rr.f, c, c.Now())
	rr.d.hostSteps = rr.f.hostSteps(rr.d)
	rr.f.start("")
	return rr
}

// drive runs the driver to its verdict, and checks that it stopped QEMU.
func (rr *replayRun) drive(t *testing.T) (verdict.Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, took, err := rr.d.drive(ctx)
	if err != nil {
		t.Fatalf("drive: %v", err)
	}
	if !rr.f.stopped.Load() {
		t.Error("the driver did not stop QEMU")
	}
	if rr.f.err != nil {
		t.Errorf("replay: %v", rr.f.err)
	}
	if err := rr.rec.rec.Flush(); err != nil {
		t.Fatal(err)
	}
	return res, took
}

// checkVerdict compares a result with the class, title and step wanted.
func checkVerdict(t *testing.T, got verdict.Result, class verdict.Class, title, step string) {
	t.Helper()
	if got.Class != class || got.Title != title || got.Step != step {
		t.Errorf("verdict %s %q at %q (%s); want %s %q at %q", got.Class, got.Title, got.Step, got.Msg, class, title, step)
	}
}

// Every recording of the corpus, played by a fake QEMU into the real
// driver loop, gets the verdict it states; what the driver recorded on the
// way replays to the same verdict; and a guest that said hello got its
// work.
func TestDriverReplaysCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("the corpus has %d recordings; the driver's test wants at least 10", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".log"), func(t *testing.T) {
			rec := readRecording(t, path)
			rr := newReplayRun(t, rec, nil)
			got, _ := rr.drive(t)
			checkVerdict(t, got, verdict.Class(rec.Headers["CLASS"]), rec.Headers["TITLE"], rec.Headers["STEP"])
			if says, ok := rec.Headers["SAYS"]; ok && !strings.Contains(got.Msg, says) {
				t.Errorf("the message %q does not say %q", got.Msg, says)
			}
			if cases, ok := rec.Headers["CASES"]; ok && verdict.CaseList(got.Cases) != cases {
				t.Errorf("cases %q, want %q", verdict.CaseList(got.Cases), cases)
			}
			again, err := verdict.ParseRecording(&rr.log)
			if err != nil {
				t.Fatalf("the driver's recording: %v", err)
			}
			if r := again.Replay(); r.Class != got.Class || r.Title != got.Title || r.Step != got.Step {
				t.Errorf("the driver's recording replays to %s %q at %q; the driver judged %s %q at %q",
					r.Class, r.Title, r.Step, got.Class, got.Title, got.Step)
			}
			if saidHello(rec) && !gotWork(rr.f.conn.sent()) {
				t.Errorf("the guest said hello, but the driver sent no work (requests %+v)", rr.f.conn.sent())
			}
		})
	}
}

func saidHello(rec *verdict.Recording) bool {
	for _, in := range rec.Inputs {
		if in.Kind == verdict.Port && isHello(in.Text) {
			return true
		}
	}
	return false
}

func gotWork(reqs []wire.Request) bool {
	for _, r := range reqs {
		if r.Work != nil {
			return true
		}
	}
	return false
}

// cutAfter keeps a recording's inputs up to the first whose text holds
// mark, and adds more.
func cutAfter(t *testing.T, rec *verdict.Recording, mark string, more ...verdict.Input) *verdict.Recording {
	t.Helper()
	for i, in := range rec.Inputs {
		if strings.Contains(in.Text, mark) {
			out := *rec
			out.Inputs = append(append([]verdict.Input(nil), rec.Inputs[:i+1]...), more...)
			for j := range more {
				out.Inputs[i+1+j].At += in.At
			}
			return &out
		}
	}
	t.Fatalf("no input holds %q", mark)
	return nil
}

// QEMU and its guest failing in ways a recording of a run cannot show:
// the loop still ends, at the engine's deadline when nothing else ends
// it, with the class the engine gives, and QEMU is stopped.
func TestDriverFaults(t *testing.T) {
	const hello, boot, insmod = `"event":"hello"`, `"event":"boot"`, `"event":"insmod"`
	for _, tc := range []struct {
		name string
		// cut and more make the recording from real-pass-reader: its
		// inputs up to the one with cut, then more.
		cut   string
		more  []verdict.Input
		setup func(*fakeVM, *testRecorder)
		class verdict.Class
		title string
		step  string
		// atLeast is when the verdict may come at the earliest.
		atLeast time.Duration
	}{{
		name:  "QEMU stops answering before the init reports",
		cut:   `Linux version`,
		class: verdict.Boot, title: "the guest init did not report", step: "boot", atLeast: time.Minute,
	}, {
		name:  "QEMU stops answering QMP and never exits, after insmod",
		cut:   insmod,
		class: verdict.Channel, title: "step device never arrived", step: "device", atLeast: wire.DeviceTimeout + slack,
	}, {
		// The exit counts once the streams had a second to end.
		name: "QEMU dies after insmod, and its console, port and QMP never end",
		cut:  insmod, more: []verdict.Input{{At: 10 * time.Millisecond, Kind: verdict.Exit, Text: "signal: killed"}},
		setup: func(f *fakeVM, _ *testRecorder) { f.noExit = true },
		class: verdict.Infra, title: "QEMU exited", step: "device", atLeast: drainGrace,
	}, {
		name: "the results port breaks after the boot event",
		cut:  boot, more: []verdict.Input{{At: 10 * time.Millisecond, Kind: verdict.PortError, Text: "read unix port.sock: connection reset by peer"}},
		class: verdict.Channel, title: "the results port broke", step: "insmod", atLeast: verdict.SettleGrace,
	}, {
		name: "the results port ends after insmod, and QEMU runs on",
		cut:  insmod,
		setup: func(f *fakeVM, _ *testRecorder) {
			f.after = func(_ *player, in verdict.Input) error {
				if strings.Contains(in.Text, insmod) {
					f.conn.end(io.EOF)
				}
				return nil
			}
		},
		class: verdict.Channel, title: "step device never arrived", step: "device", atLeast: wire.DeviceTimeout + slack,
	}, {
		name: "the guest's end of the port is gone when the work is sent",
		cut:  hello,
		setup: func(f *fakeVM, rec *testRecorder) {
			f.conn.breakWrites(errors.New("write unix port.sock: broken pipe"))
			f.after = func(p *player, in verdict.Input) error {
				if !strings.Contains(in.Text, hello) {
					return nil
				}
				// The driver's send fails on its own goroutine: wait for
				// the loop's turn after it took the failure.
				<-f.conn.failed
				t, err := p.turnAfter(<-rec.seen)
				p.cur = &t
				return err
			}
		},
		class: verdict.Channel, title: "the results port broke", step: "boot", atLeast: verdict.SettleGrace,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rec := cutAfter(t, readRecording(t, filepath.Join(corpusDir, "real-pass-reader.log")), tc.cut, tc.more...)
			rr := newReplayRun(t, rec, tc.setup)
			got, took := rr.drive(t)
			checkVerdict(t, got, tc.class, tc.title, tc.step)
			if took < tc.atLeast {
				t.Errorf("the verdict came after %v; the engine's deadline is %v at the earliest", took, tc.atLeast)
			}
		})
	}
}

// The SSH driver's commands are modctl's: every host step but the shell
// and the end is a command modctl reads back as the same, and a program
// gets the run's environment. Several modules load in order, the
// parameters going to the module under test, and unload in reverse.
func TestSSHStepsAreModctlCommands(t *testing.T) {
	for _, tc := range []struct {
		modules      []string
		load, unload []string
	}{
		{nil, []string{wire.ModulePath}, []string{wire.ModulePath}},
		{wire.ModulePaths([]string{"a.ko", "b.ko", "c.ko"}),
			[]string{"/mmaprig/deps/a.ko", "/mmaprig/deps/b.ko", wire.ModulePath},
			[]string{wire.ModulePath, "/mmaprig/deps/b.ko", "/mmaprig/deps/a.ko"}},
	} {
		rec := readRecording(t, filepath.Join(corpusDir, "pass-ssh.log"))
		rec.Spec.Coverage, rec.Spec.Modules, rec.Spec.Params = true, tc.modules, "x=1"
		d := (&run{opts: Options{Log: quietLog()}}).newDriver(rec.Spec, nil, nil, nil, wallClock{}, time.Now())
		n := 0
		for _, st := range rec.Spec.Plan() {
			if st.Source != verdict.Host || st.Event == wire.EvEnd {
				continue
			}
			cmds, env, ok := d.modctl(st)
			if !ok {
				t.Errorf("step %s has no modctl command", st)
				continue
			}
			n++
			var paths []string
			for _, m := range cmds {
				if got, err := wire.ParseModctl(m.Args()[1:]); err != nil || !reflect.DeepEqual(got, m) {
					t.Errorf("step %s: modctl reads %q as %+v, %v; want %+v", st, m.Args(), got, err, m)
				}
				paths = append(paths, m.Path)
			}
			switch st.Event {
			case wire.EvRun:
				if !slices.Contains(env, wire.EnvDevice+"="+rec.Spec.Devices[0].Path) {
					t.Errorf("step %s runs without the device in its environment: %q", st, env)
				}
			case wire.EvInsmod:
				if !slices.Equal(paths, tc.load) || cmds[len(cmds)-1].Params != "x=1" || len(cmds) > 1 && cmds[0].Params != "" {
					t.Errorf("loads %+v; want %q, the parameters for the last", cmds, tc.load)
				}
			case wire.EvUnload:
				if !slices.Equal(paths, tc.unload) {
					t.Errorf("unloads %q; want %q", paths, tc.unload)
				}
			}
		}
		if n != 6 {
			t.Errorf("%d host steps have a modctl command; want 6 (insmod, device, two programs, unload, coverage)", n)
		}
	}
}

// Each contract case reaches Options.CaseDone once, as its result line
// comes (in a progress event, or in the run event of a guest that sends
// none), in order, as the verdict has it; a case a crash cut short never
// does.
func TestDriverCaseDone(t *testing.T) {
	for _, name := range []string{"ktap-case-failed", "real-exitoops", "real-contract-progress"} {
		t.Run(name, func(t *testing.T) {
			rec := readRecording(t, filepath.Join(corpusDir, name+".log"))
			rr := newReplayRun(t, rec, nil)
			var done []wire.Case
			rr.d.r.opts.CaseDone = func(c wire.Case) { done = append(done, c) }
			got, _ := rr.drive(t)
			var want []wire.Case
			for _, c := range got.Cases {
				if c.Result != wire.Crashed {
					want = append(want, c)
				}
			}
			if len(want) == 0 || verdict.CaseList(done) != verdict.CaseList(want) {
				t.Errorf("CaseDone heard %q; the verdict has %q", verdict.CaseList(done), verdict.CaseList(want))
			}
		})
	}
}

// A port reset is the port breaking, but for a guest that got the host's
// clock ticks: QEMU, closing with a tick unread, resets the port, and that
// says nothing of the run.
func TestPortResetAfterTicks(t *testing.T) {
	for _, tc := range []struct {
		ticking bool
		err     error
		broke   bool
	}{
		{false, syscall.ECONNRESET, true},
		{true, syscall.ECONNRESET, false},
		{true, syscall.EPIPE, true},
	} {
		c := newFakeConn()
		p := channel.OpenPort(c)
		c.end(&net.OpError{Op: "read", Net: "unix", Err: tc.err})
		for closed := false; !closed; {
			<-p.Lines().Notify()
			_, closed = p.Lines().Take()
		}
		d := &driver{r: &run{opts: Options{Log: quietLog()}}, port: p, ticking: tc.ticking}
		if err := d.portErr(); (err != nil) != tc.broke {
			t.Errorf("ticking %v, %v: port error %v; want broken %v", tc.ticking, tc.err, err, tc.broke)
		}
	}
}
