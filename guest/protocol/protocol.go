// Package protocol is the contract between the rig on the host and the
// programs in the guest: where the per-run files are, and the marker lines
// the guest prints on the serial console.
//
// A marker is one line: Prefix, an event name, a space, and a JSON object.
// Everything else on the console is kernel or program output.
package protocol

import (
	"encoding/json"
	"strings"
)

// Paths of the per-run files that the rig puts in the overlay archive.
const (
	Dir        = "/mmaprig"
	ConfigPath = Dir + "/run.json"
	ModulePath = Dir + "/module.ko"
	// HostKeyPath and AuthorizedKeyPath are the guest sshd's keys, made
	// fresh for each run.
	HostKeyPath       = Dir + "/ssh_host_ed25519_key"
	AuthorizedKeyPath = Dir + "/authorized_key"
)

// Channels: how the rig talks to the guest.
const (
	// ChannelSerial: the init runs the programs and reports on the console.
	ChannelSerial = "serial"
	// ChannelSSH: the init starts sshd and the rig runs the programs.
	ChannelSSH = "ssh"
)

// Guest network for the SSH channel: QEMU's user network defaults.
const (
	GuestAddr = "10.0.2.15/24"
	SSHPort   = 22
)

// Prefix starts every marker line.
const Prefix = "@mmaprig@ "

// Event names, in the order a healthy run prints them.
const (
	EvBoot   = "boot"   // the init started
	EvInsmod = "insmod" // finit_module returned, or timed out
	EvDevice = "device" // the device node appeared, or did not
	EvRun    = "run"    // a guest program finished
	EvUnload = "unload" // rmmod, after the programs
	EvReady  = "ready"  // sshd listens; the rig takes over (SSH channel)
	EvEnd    = "end"    // nothing follows; the guest powers off
)

// Config is the run configuration that the guest init reads from ConfigPath.
type Config struct {
	// Channel is ChannelSerial or ChannelSSH.
	Channel string `json:"channel"`
	// Device is the node the module must create, such as /dev/mymap.
	Device string `json:"device"`
	// Params are the module parameters, as for insmod.
	Params string `json:"params,omitempty"`
	// LoadTimeoutMS bounds finit_module.
	LoadTimeoutMS int64 `json:"load_timeout_ms"`
	// DeviceTimeoutMS bounds the wait for Device after the module loaded.
	DeviceTimeoutMS int64 `json:"device_timeout_ms"`
	// RunTimeoutMS bounds each program.
	RunTimeoutMS int64 `json:"run_timeout_ms"`
	// Programs run in order after the module loaded; each is an argv.
	Programs [][]string `json:"programs"`
	// Unload removes the module after the programs.
	Unload bool `json:"unload"`
}

// Event is the payload of a marker line.
type Event struct {
	Name string `json:"-"`
	// OK is whether the step succeeded.
	OK bool `json:"ok"`
	// Err says what went wrong when OK is false.
	Err string `json:"err,omitempty"`
	// Cmd is the program that ran, for EvRun.
	Cmd string `json:"cmd,omitempty"`
	// Exit is the program's exit status, or -1 when it did not exit.
	Exit int `json:"exit"`
	// Stdout holds the program's output lines, for EvRun.
	Stdout []string `json:"stdout,omitempty"`
	// Stderr holds what the program wrote to stderr, for EvRun.
	Stderr string `json:"stderr,omitempty"`
	// MS is how long the step took.
	MS int64 `json:"ms"`
}

// Format renders e as one marker line, without the trailing newline.
func Format(e Event) string {
	b, err := json.Marshal(e)
	if err != nil {
		// Event holds only strings and numbers; Marshal cannot fail.
		panic(err)
	}
	return Prefix + e.Name + " " + string(b)
}

// Parse reads a marker from a console line. Kernel output may precede the
// marker on the same line, since printk does not wait for line ends, so the
// prefix is searched for anywhere. It reports false for any other line and
// for a marker that does not decode.
func Parse(line string) (Event, bool) {
	i := strings.Index(line, Prefix)
	if i < 0 {
		return Event{}, false
	}
	name, payload, ok := strings.Cut(strings.TrimRight(line[i+len(Prefix):], "\r\n"), " ")
	if !ok || name == "" {
		return Event{}, false
	}
	var e Event
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		return Event{}, false
	}
	e.Name = name
	return e, true
}

// Lines splits a program's output into lines, without the final newline.
func Lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
