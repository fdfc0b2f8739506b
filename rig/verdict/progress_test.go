package verdict

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mmaprig/mmaprig/internal/wire"
)

// progress names the case that runs from the lines so far, for KTAP and
// for Go tests, subtests and parallel tests included.
func TestProgressFollows(t *testing.T) {
	contract := Program{Program: wire.Program{Argv: []string{"contract"}}, Check: CheckKTAP}
	gotest := Program{Program: wire.Program{Argv: []string{"/mmaprig/tests/guesttest.test", "-test.v"}}, Check: CheckGoTest, Name: "guesttest"}
	for _, tc := range []struct {
		name   string
		prog   Program
		lines  []string
		during string
	}{
		{"nothing yet", contract, []string{"KTAP version 1", "1..7"}, ""},
		{"a case started", contract, []string{"KTAP version 1", "1..7", "# case start reader_output"}, "contract case reader_output"},
		{"a case ended", contract, []string{"# case start reader_output", "# time: 1ms", "ok 1 reader_output"}, ""},
		{"a case failed", contract, []string{"# case start a", "not ok 1 a"}, ""},
		{"the next started", contract, []string{"# case start a", "ok 1 a", "# case start unload_reload", "# rmmod with a live mapping"}, "contract case unload_reload"},
		{"a start line elsewhere is no start", contract, []string{"## case start x", "x # case start y"}, ""},
		{"a Go test runs", gotest, []string{"=== RUN   TestWrite"}, "guesttest TestWrite"},
		{"a Go test ended", gotest, []string{"=== RUN   TestWrite", "--- PASS: TestWrite (0.01s)"}, ""},
		{"a subtest runs", gotest, []string{"=== RUN   TestWrite", "=== RUN   TestWrite/big"}, "guesttest TestWrite/big"},
		{"its parent runs on", gotest, []string{"=== RUN   TestWrite", "=== RUN   TestWrite/big", "    --- PASS: TestWrite/big (0.00s)"}, "guesttest TestWrite"},
		{"a parallel test resumes", gotest, []string{"=== RUN   TestA", "=== PAUSE TestA", "=== RUN   TestB", "--- PASS: TestB (0.00s)", "=== CONT  TestA"}, "guesttest TestA"},
		{"KTAP lines in a Go test", gotest, []string{"# case start x"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProgress(tc.prog)
			p.add(tc.lines)
			if got := p.during(); got != tc.during {
				t.Errorf("during() = %q, want %q", got, tc.during)
			}
		})
	}
	var none *progress
	if none.during() != "" {
		t.Error("no program: during() is not empty")
	}
}

// progress keeps no more than a program's output cap.
func TestProgressCap(t *testing.T) {
	p := newProgress(Program{Program: wire.Program{Argv: []string{"x"}}, Check: CheckKTAP})
	line := strings.Repeat("y", 1023)
	for range 2 * wire.MaxOutput / 1024 {
		p.add([]string{line})
	}
	if len(p.lines) != wire.MaxOutput/1024 {
		t.Errorf("kept %d lines of 1 KiB, want %d", len(p.lines), wire.MaxOutput/1024)
	}
}

// run feeds an engine a serial run of the test spec up to its contract,
// then the inputs that follow, and returns the verdict.
type runInput struct {
	kind Kind
	ev   wire.Event
	text string
}

func feedRun(t *testing.T, channel string, after ...runInput) Result {
	t.Helper()
	return feedSpec(t, testSpec(channel), after...)
}

// feedSpec is feedRun with a spec whose first program is the reader.
func feedSpec(t *testing.T, spec Spec, after ...runInput) Result {
	t.Helper()
	channel := spec.Channel
	e := New(spec)
	at := time.Duration(0)
	src := Port
	if channel == wire.ChannelSSH {
		src = SSH
	}
	seq := 0
	send := func(kind Kind, ev wire.Event) {
		at += 10 * time.Millisecond
		if kind == Port && ev.Name != wire.EvHello {
			ev.Nonce, ev.Seq = "n", seq
			seq++
		}
		b, _ := json.Marshal(ev)
		e.Feed(Input{At: at, Kind: kind, Text: string(b)})
	}
	send(Port, wire.Event{Name: wire.EvHello, OK: true})
	send(Port, wire.Event{Name: wire.EvBoot, OK: true})
	if channel == wire.ChannelSSH {
		send(Port, wire.Event{Name: wire.EvReady, OK: true})
	}
	send(src, wire.Event{Name: wire.EvInsmod, OK: true})
	send(src, wire.Event{Name: wire.EvDevice, OK: true})
	send(src, wire.Event{Name: wire.EvRun, OK: true, Cmd: spec.Programs[0].Cmd(), Stdout: wire.ReaderLines(wire.DefaultExpect)})
	for _, in := range after {
		if in.kind == Console || in.kind == Tick {
			at += 10 * time.Millisecond
			e.Feed(Input{At: at, Kind: in.kind, Text: in.text})
			continue
		}
		kind := in.kind
		if kind == "" {
			kind = src
		}
		send(kind, in.ev)
	}
	st := e.Feed(Input{At: at + time.Minute, Kind: Tick})
	if !st.Done {
		t.Fatal("no verdict a minute after the last input")
	}
	return e.Result()
}

// oops is a kernel report as /dev/kmsg forwards it.
var oops = []string{
	"[    5.100000] BUG: kernel NULL pointer dereference, address: 0000000000000000",
	"[    5.100001] #PF: supervisor write access in kernel mode",
	"[    5.100002] Oops: 0002 [#1] SMP",
	"[    5.100003] RIP: 0010:exitoops_exit+0x5/0x10 [exitoops]",
	"[    5.100004] Call Trace:",
	"[    5.100005]  <TASK>",
	"[    5.100006]  __do_sys_delete_module+0x1/0x2",
	"[    5.100007]  </TASK>",
}

func progressEv(lines ...string) runInput {
	return runInput{ev: wire.Event{Name: wire.EvProgress, OK: true, Exit: -1, Cmd: "contract", Stdout: lines}}
}

var casesBefore = []string{"KTAP version 1", "1..3", "# case start reader_output", "ok 1 reader_output",
	"# case start refuses_bad_maps", "# time: 2ms", "ok 2 refuses_bad_maps # SKIP no reason", "# case start unload_reload"}

// A crash in the middle of a program names the case that ran, keeps the
// cases before it with their results, and lists the interrupted one as
// crashed: whether the program's own event comes after the crash or
// never, whether the case itself ends after it or not, on either channel.
func TestCrashNamesTheCase(t *testing.T) {
	kernel := runInput{kind: Port, ev: wire.Event{Name: wire.EvKernel, OK: true, Exit: -1, Records: oops}}
	runAfter := runInput{ev: wire.Event{Name: wire.EvRun, Cmd: "contract", Exit: -1, Signal: "killed", Err: "contract was killed by killed",
		Stdout: casesBefore}}
	for _, tc := range []struct {
		name    string
		channel string
		inputs  []runInput
	}{
		{"the program never reports", wire.ChannelSerial, []runInput{progressEv(casesBefore[:4]...), progressEv(casesBefore[4:]...), kernel}},
		{"the program reports after the crash", wire.ChannelSerial, []runInput{progressEv(casesBefore...), kernel, runAfter}},
		// A guest that skips its idle time reaches the case's own rmmod
		// timeout at once: the case ends, failed, after the report.
		{"the case fails after the crash", wire.ChannelSerial, []runInput{progressEv(casesBefore...), kernel,
			progressEv("# unload_reload: rmmod: module exit did not return within 10s", "# time: 10.01s", "not ok 3 unload_reload")}},
		{"the console's report overtakes the line that started the case", wire.ChannelSerial, []runInput{progressEv(casesBefore[:7]...),
			{kind: Console, text: oops[0]}, {kind: Console, text: oops[3]}, progressEv(casesBefore[7:]...), kernel}},
		{"over SSH, the console's report", wire.ChannelSSH, []runInput{progressEv(casesBefore...),
			{kind: Console, text: oops[0]}, {kind: Console, text: oops[3]}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := feedRun(t, tc.channel, tc.inputs...)
			if r.Class != GuestCrash || !strings.Contains(r.Msg, "(during contract case unload_reload)") || r.Step != "run contract" {
				t.Errorf("verdict %s %q at %q; want guest-crash during contract case unload_reload, at run contract", r.Class, r.Msg, r.Step)
			}
			var got []string
			for _, c := range r.Cases {
				got = append(got, fmt.Sprintf("%s/%s %s", c.Suite, c.Name, c.Result))
			}
			want := []string{"contract/reader_output pass", "contract/refuses_bad_maps skip", "contract/unload_reload crashed"}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("cases %q, want %q", got, want)
			}
			if len(r.Cases) == 0 {
				t.Fatal("no cases")
			}
			if c := r.Cases[len(r.Cases)-1]; !strings.Contains(c.Reason, "BUG: kernel NULL pointer dereference") || c.Number != 3 {
				t.Errorf("the crashed case: %+v", c)
			}
		})
	}
}

// A crash between cases, or in a step that runs no program, names only
// the step; output from a program that does not run breaks the channel.
func TestProgressElsewhere(t *testing.T) {
	kernel := runInput{kind: Port, ev: wire.Event{Name: wire.EvKernel, OK: true, Exit: -1, Records: oops}}
	r := feedRun(t, wire.ChannelSerial, progressEv("KTAP version 1", "1..3", "# case start a", "ok 1 a"), kernel)
	if r.Class != GuestCrash || !strings.Contains(r.Msg, "(during run contract)") || len(r.Cases) != 1 || r.Cases[0].Result != wire.Pass {
		t.Errorf("between cases: %s %q, cases %+v", r.Class, r.Msg, r.Cases)
	}
	wrong := runInput{ev: wire.Event{Name: wire.EvProgress, OK: true, Exit: -1, Cmd: "reader", Stdout: []string{"0"}}}
	r = feedRun(t, wire.ChannelSerial, wrong)
	if r.Class != Channel || r.Title != "output from no running program" {
		t.Errorf("output of a program that does not run: %s %q", r.Class, r.Title)
	}
	r = feedRun(t, wire.ChannelSSH, runInput{kind: Port, ev: wire.Event{Name: wire.EvProgress, OK: true, Exit: -1, Cmd: "contract"}})
	if r.Class != Channel || !strings.Contains(r.Msg, "the guest sent the output") {
		t.Errorf("the guest's output of a program the host runs: %s %q", r.Class, r.Msg)
	}
}

// A guest that freezes in a case fails it, with the verdict as the reason.
func TestFrozenCaseFails(t *testing.T) {
	r := feedRun(t, wire.ChannelSerial, progressEv(casesBefore...))
	if r.Class != Channel {
		t.Fatalf("verdict %s %q, want channel", r.Class, r.Msg)
	}
	if len(r.Cases) != 3 {
		t.Fatalf("cases %+v, want 3", r.Cases)
	}
	last := r.Cases[len(r.Cases)-1]
	if last.Name != "unload_reload" || last.Result != wire.Fail || !strings.HasPrefix(last.Reason, neverEnded+": step run contract did not arrive") {
		t.Errorf("cases %+v", r.Cases)
	}
}

// A kernel report during a Go guest test names the test; the tests that
// ended keep their results, and the one that ran is crashed.
func TestCrashNamesTheGoTest(t *testing.T) {
	spec := testSpec(wire.ChannelSerial)
	gt := Program{Program: wire.Program{Argv: []string{"/mmaprig/tests/guesttest.test", "-test.v"}, TimeoutMS: 30000}, Check: CheckGoTest, Name: "guesttest"}
	spec.Programs = []Program{spec.Programs[0], gt}
	progress := runInput{ev: wire.Event{Name: wire.EvProgress, OK: true, Exit: -1, Cmd: gt.Cmd(),
		Stdout: []string{"=== RUN   TestOK", "--- PASS: TestOK (0.01s)", "=== RUN   TestWrite"}}}
	divide := []string{"[    3.000000] divide error: 0000 [#1] SMP", "[    3.000001] RIP: 0010:pages_write+0x5/0x10 [pages]"}
	r := feedSpec(t, spec, progress, runInput{kind: Port, ev: wire.Event{Name: wire.EvKernel, OK: true, Exit: -1, Records: divide}})
	if r.Class != GuestCrash || !strings.HasSuffix(r.Msg, "(during guesttest TestWrite)") {
		t.Errorf("verdict %s %q; want guest-crash during guesttest TestWrite", r.Class, r.Msg)
	}
	if got := CaseList(r.Cases); got != "TestOK pass, TestWrite crashed" {
		t.Errorf("cases %q", got)
	}
}
