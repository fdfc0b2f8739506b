package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Event names, in the order a healthy run reports them.
const (
	EvHello    = "hello"    // the init is up and waits for its Work; no nonce yet
	EvBoot     = "boot"     // the init took the Work; the first event with the nonce
	EvReady    = "ready"    // sshd listens; the rig takes over (SSH channel)
	EvInsmod   = "insmod"   // init_module returned, or timed out
	EvDevice   = "device"   // the device node appeared, or did not
	EvRun      = "run"      // a guest program finished
	EvUnload   = "unload"   // rmmod, after the programs
	EvCoverage = "coverage" // the module's gcov data, after the unload
	EvSettle   = "settle"   // the settle window after the unload ended
	EvShell    = "shell"    // the interactive shell ended (rig shell)
	EvEnd      = "end"      // nothing follows; the guest powers off

	// EvKernel carries kernel log records from /dev/kmsg. It is not a
	// step of the plan: it may come between any two steps, and carries
	// the run's nonce and the next sequence number like every event.
	EvKernel = "kernel"

	// EvProgress carries the output lines a guest program printed since
	// the last one, while it runs: Cmd names the program, Stdout holds
	// the lines. Like EvKernel it is no step of the plan. It tells the
	// rig which case was running when the guest crashed, and which had
	// finished, when the program's own EvRun never comes.
	EvProgress = "progress"

	// EvSections carries the section addresses of the loaded modules
	// (/sys/module/NAME/sections), after insmod, when the rig debugs the
	// guest (Config.Debug). Like EvKernel it is no step of the plan. With
	// Config.Hold the init then waits for the rig's Go.
	EvSections = "sections"
)

// ModuleSections are where the kernel put a loaded module's sections.
type ModuleSections struct {
	// Name is the module's name, as /sys/module shows it.
	Name string `json:"name"`
	// Sections are the sections' addresses by name (".text", ".data",
	// ".bss", ...).
	Sections map[string]uint64 `json:"sections"`
}

// SettleEarlyMS is the settle window that SettleEarly leaves: the work,
// tasklets and softirqs that a module queued just before its unload have
// run well within it.
const SettleEarlyMS = 100

// Settled is the settle event's command when the init says why it kept
// the window it kept: "100ms: nothing of the module's armed (...)".
func Settled(window time.Duration, why string) string {
	return fmt.Sprintf("%v: %s", window, why)
}

// SettledEarly is whether a settle event's command (Settled) says the
// window ended early.
func SettledEarly(cmd string) bool {
	return strings.HasPrefix(cmd, Settled(SettleEarlyMS*time.Millisecond, ""))
}

// Event is one message from the guest init on the results port, or one
// step the rig ran over SSH.
type Event struct {
	// Nonce is the run's nonce, from its Work; empty in Hello.
	Nonce string `json:"nonce,omitempty"`
	// Seq counts the events of a run from 0 (the boot event).
	Seq  int    `json:"seq"`
	Name string `json:"event"`
	// OK is whether the step succeeded.
	OK bool `json:"ok"`
	// Err says what went wrong when OK is false.
	Err string `json:"err,omitempty"`
	// Cmd is the program that ran, for EvRun and EvProgress, as Quote
	// renders its argv.
	Cmd string `json:"cmd,omitempty"`
	// Exit is the program's exit status, or -1 when it did not exit.
	Exit int `json:"exit"`
	// Signal names the signal that killed the program, if one did.
	Signal string `json:"signal,omitempty"`
	// Stdout holds the program's output lines, for EvRun; for EvProgress,
	// the lines printed since the last progress event.
	Stdout []string `json:"stdout,omitempty"`
	// Stderr holds what the program wrote to stderr, for EvRun.
	Stderr string `json:"stderr,omitempty"`
	// Truncated is set when the init cut the program's output at MaxOutput.
	Truncated bool `json:"truncated,omitempty"`
	// MS is how long the step took, in the guest.
	MS int64 `json:"ms"`
	// Files are the files the step brings back, for EvCoverage.
	Files []File `json:"files,omitempty"`
	// Taint is the kernel's taint mask (/proc/sys/kernel/tainted), read
	// just before the event was sent; every event of the init has it.
	Taint uint64 `json:"taint,omitempty"`
	// Records are kernel log records, for EvKernel, rendered as the
	// console shows them ("[    1.234567] text").
	Records []string `json:"records,omitempty"`
	// Lost counts kernel records that the init could not forward, for
	// EvKernel: the log buffer overwrote them, or the forwarding cap was
	// reached.
	Lost int `json:"lost,omitempty"`
	// Modules are the loaded modules' sections, for EvSections.
	Modules []ModuleSections `json:"modules,omitempty"`
}

func (e Event) String() string {
	if e.Name == EvRun && e.Cmd != "" {
		return fmt.Sprintf("%s %q (seq %d)", e.Name, e.Cmd, e.Seq)
	}
	return fmt.Sprintf("%s (seq %d)", e.Name, e.Seq)
}

// Work is what the rig sends the guest init for one run.
type Work struct {
	// Nonce is fresh for each run; every Event of the run carries it.
	Nonce  string `json:"nonce"`
	Config Config `json:"config"`
	// HostKey and AuthorizedKey are the SSH channel's keys.
	HostKey       []byte `json:"host_key,omitempty"`
	AuthorizedKey []byte `json:"authorized_key,omitempty"`
	// Seed is fresh entropy for the guest's random number generator, so
	// that guests restored from one snapshot do not share their state.
	Seed []byte `json:"seed,omitempty"`
	// Files are the run's files, which the init writes before the run:
	// the modules, at the paths Config.Modules names, and the author's
	// guest tests.
	Files []File `json:"files,omitempty"`
}

// File is a file the init writes before the run, or one it read for the
// rig (EvCoverage).
type File struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
	// Size, in a Work on the port, is the length of the file's data,
	// which follows the work's line raw (MarshalRequest, ReadRequest).
	Size int64  `json:"size,omitempty"`
	Mode uint32 `json:"mode"`
}

// Request is a message from the rig to the guest init.
type Request struct {
	// Work starts a run.
	Work *Work `json:"work,omitempty"`
	// PowerOff asks the init to drain the console and power off.
	PowerOff bool `json:"power_off,omitempty"`
	// Settle tells the init that the rig's steps are done (SSH channel):
	// it runs the settle window, reports it, ends the run and powers off.
	Settle bool `json:"settle,omitempty"`
	// Go lets a guest that holds after EvSections go on (-gdb): the
	// rig sends it once a debugger had its chance.
	Go bool `json:"go,omitempty"`
	// HostMS is the rig's clock, in milliseconds from the run's start,
	// sent every HostTick to a guest whose Config.HostClock is set.
	HostMS int64 `json:"host_ms,omitempty"`
}

// Config is the run configuration: what the init does, and the bounds it
// enforces itself.
type Config struct {
	// Channel is ChannelSerial or ChannelSSH.
	Channel string `json:"channel"`
	// Devices are the run's device nodes, the first the built-in checks'.
	Devices []Device `json:"devices"`
	// Modules are the guest paths of the modules, in load order (see
	// ModulePaths): the last is the module under test, at ModulePath.
	// They are loaded in this order, and unloaded in the reverse.
	Modules []string `json:"modules"`
	// Params are the parameters of the module under test, as for insmod.
	Params string `json:"params,omitempty"`
	// LoadTimeoutMS bounds init_module.
	LoadTimeoutMS int64 `json:"load_timeout_ms"`
	// DeviceTimeoutMS bounds the wait for Devices after the module loaded.
	DeviceTimeoutMS int64 `json:"device_timeout_ms"`
	// Programs run in order after the module loaded.
	Programs []Program `json:"programs"`
	// Unload removes the module after the programs.
	Unload bool `json:"unload"`
	// UnloadTimeoutMS bounds rmmod.
	UnloadTimeoutMS int64 `json:"unload_timeout_ms"`
	// Coverage collects the module's gcov data after the unload.
	Coverage bool `json:"coverage,omitempty"`
	// Settle, when set, is the window after the last step during which
	// the init keeps watching the kernel before it reports EvSettle, so
	// that a timer or work the module left armed fails the run.
	SettleMS *int64 `json:"settle_ms,omitempty"`
	// SettleEarly lets the init end the settle window after SettleEarlyMS
	// when the kernel's event tracing shows that the modules never armed
	// anything to run later and that no task runs their code
	// (guest/armtrace); without tracing it waits out the window.
	SettleEarly bool `json:"settle_early,omitempty"`
	// Debug, when set, names the modules (as /sys/module does, in load
	// order) whose sections the init reports after insmod (EvSections),
	// for a debugger (-gdb, -on-crash pause).
	Debug []string `json:"debug,omitempty"`
	// Hold has the init wait after EvSections for the rig's Go, so that
	// a debugger can set its breakpoints before the next step (-gdb).
	Hold bool `json:"hold,omitempty"`
	// HostClock says that the guest's clock skips its idle time (QEMU's
	// -icount sleep=off), so that it may run behind the host's while the
	// guest works. The rig then sends its own clock (Request.HostMS), and
	// each bound the init enforces ends at whichever clock reaches it
	// first: a step that sleeps is cut at once, in host time, and one
	// that spins is still cut at its bound in the host's time, before the
	// host's own deadline (the bound and its slack) gives up on the guest.
	HostClock bool `json:"host_clock,omitempty"`
	// OnCrash is what a kernel report does to the guest: "" runs on, as
	// always; OnCrashPause has the kernel panic on an oops or a warning,
	// after the whole report is printed, so that QEMU pauses it there.
	OnCrash string `json:"on_crash,omitempty"`
}

// OnCrashPause is Config.OnCrash for -on-crash pause.
const OnCrashPause = "pause"

// Program is one guest program of a run.
type Program struct {
	Argv []string `json:"argv"`
	// Env is added to the program's environment, as KEY=value.
	Env []string `json:"env,omitempty"`
	// TimeoutMS bounds it; the init kills it after that.
	TimeoutMS int64 `json:"timeout_ms"`
}

// Cmd is the program's command line, as Event.Cmd carries it.
func (p Program) Cmd() string { return Quote(p.Argv...) }

// Marshal renders a message as one line, with its newline.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// MarshalRequest renders a request for the port: one line, and after a
// Work's line the data of its files, raw and in order, each one its Size
// long. In base64 inside the JSON, the guest's decoder took a fifth of a
// second for a 180 KB module under TCG; raw bytes cost it a copy.
func MarshalRequest(req Request) ([]byte, error) {
	if req.Work == nil || len(req.Work.Files) == 0 {
		return Marshal(req)
	}
	files := req.Work.Files
	w := *req.Work
	w.Files = make([]File, len(files))
	total := 0
	for i, f := range files {
		w.Files[i] = File{Path: f.Path, Size: int64(len(f.Data)), Mode: f.Mode}
		total += len(f.Data)
	}
	req.Work = &w
	line, err := Marshal(req)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(line)+total)
	out = append(out, line...)
	for _, f := range files {
		out = append(out, f.Data...)
	}
	return out, nil
}

// ReadRequest reads one request that MarshalRequest rendered: its line,
// and a Work's files' data after it. The files may come to MaxWork at
// most.
func ReadRequest(r *bufio.Reader) (Request, error) {
	line, err := ReadLine(r)
	if err != nil {
		return Request{}, err
	}
	req, err := DecodeRequest(line)
	if err != nil || req.Work == nil {
		return req, err
	}
	var total int64
	for i := range req.Work.Files {
		f := &req.Work.Files[i]
		if f.Size < 0 || f.Size > MaxWork-total || f.Data != nil {
			return Request{}, fmt.Errorf("not a request: file %s: its data must follow the line, %d bytes in all at most", f.Path, MaxWork)
		}
		total += f.Size
		f.Data = make([]byte, f.Size)
		if _, err := io.ReadFull(r, f.Data); err != nil {
			return Request{}, fmt.Errorf("read file %s of the work: %w", f.Path, err)
		}
	}
	return req, nil
}

// ErrLineTooLong means a message passed MaxLine.
var ErrLineTooLong = errors.New("message longer than the limit")

// ReadLine reads one message line, without its newline, from r. A line
// longer than MaxLine is an error, not a silent cut.
func ReadLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("%w (%d bytes)", ErrLineTooLong, MaxLine)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, fmt.Errorf("%w: a message was cut off after %d bytes", io.ErrUnexpectedEOF, len(line))
		default:
			return nil, err
		}
	}
}

// DecodeEvent decodes one event line strictly: unknown fields are errors.
func DecodeEvent(line []byte) (Event, error) {
	var ev Event
	if err := decodeStrict(line, &ev); err != nil {
		return Event{}, fmt.Errorf("not an event: %w", err)
	}
	return ev, nil
}

// DecodeRequest decodes one request line strictly, as DecodeEvent does:
// a rig and a guest init built from different trees disagree loudly.
func DecodeRequest(line []byte) (Request, error) {
	var req Request
	if err := decodeStrict(line, &req); err != nil {
		return Request{}, fmt.Errorf("not a request: %w", err)
	}
	if w := req.Work; w != nil && len(w.Config.Modules) == 0 {
		return Request{}, errors.New("not a request: its work names no module to load")
	}
	return req, nil
}

// decodeStrict decodes one JSON object into v: unknown fields and
// trailing data are errors.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
