// Package wire is the contract between the rig on the host and the programs
// in the guest: the results port and its messages, the run configuration,
// the guest commands and their arguments, the expected bytes, and KTAP.
// Both sides import it; it imports neither.
//
// The guest init and the rig talk over a named virtio-serial port, which
// only the init opens (a port has one opener at a time) and the kernel
// never writes to. Each message is one line of JSON. The guest says Hello
// when it is up, the rig answers with the Work of one run, and from then on
// every Event carries the run's nonce and a sequence number, so an event
// that was forged, replayed from another run, or lost is noticed.
package wire

import (
	"path"
	"time"
)

// PortName is the name of the results port (virtserialport name=...). The
// guest finds its device under /sys/class/virtio-ports by this name.
const PortName = "org.mmaprig.results"

// Paths in the guest.
const (
	// Dir holds the run's files, written by the init from the Work.
	Dir = "/mmaprig"
	// ModulePath is the module under test.
	ModulePath = Dir + "/module.ko"
	// DepsDir holds the modules the module under test needs loaded
	// first, when the build makes several.
	DepsDir = Dir + "/deps"
	// TestsDir holds the author's guest tests.
	TestsDir = Dir + "/tests"
	// PriorNodesPath lists, one a line, the run's device nodes that
	// existed when the init took the Work, before any insmod: the device
	// step fails on them on either channel.
	PriorNodesPath = Dir + "/prior-nodes"
	// HostKeyPath and AuthorizedKeyPath are the guest sshd's keys, fresh
	// for each run (SSH channel only).
	HostKeyPath       = Dir + "/ssh_host_ed25519_key"
	AuthorizedKeyPath = Dir + "/authorized_key"
	// BootModulesDir holds, in a kernel that has the rig's devices as
	// modules (a distribution's), those modules and what they need. Its
	// BootModulesOrder file names them one a line, in load order. The
	// init loads them before it looks for the results port.
	BootModulesDir   = "/lib/mmaprig-boot"
	BootModulesOrder = BootModulesDir + "/order"
)

// Channels: who runs the steps in the guest.
const (
	// ChannelSerial: the init runs every step and reports each one on the
	// results port.
	ChannelSerial = "serial"
	// ChannelSSH: the init starts sshd, and the rig runs the steps over SSH.
	ChannelSSH = "ssh"
)

// Guest network for the SSH channel: QEMU's user network defaults.
const (
	GuestAddr = "10.0.2.15/24"
	SSHPort   = 22
)

// Guest commands, as the u-root busybox names them.
const (
	CmdInit     = "init"
	CmdReader   = "reader"
	CmdContract = "contract"
	CmdModctl   = "modctl"
	CmdSSHD     = "sshd"
)

// GcovDir is where the kernel shows gcov data (CONFIG_GCOV_KERNEL).
const GcovDir = "/sys/kernel/debug/gcov"

// Guest-side bounds the rig does not take from flags.
const (
	// DeviceTimeout bounds the wait for the device nodes after insmod;
	// devtmpfs creates a misc device's before misc_register returns, and
	// a char driver's major is in /proc/devices once register_chrdev
	// returns.
	DeviceTimeout = 2 * time.Second
	// UnloadTimeout bounds rmmod after the checks.
	UnloadTimeout = 10 * time.Second
	// HostTick is how often the rig sends its clock (Request.HostMS) to a
	// guest that follows it: the host's bounds end at most a tick late.
	HostTick = 250 * time.Millisecond
	// SSHDStartTimeout bounds the guest's start of its network and sshd
	// (SSH channel); SSHDialTimeout the host's dial after that.
	SSHDStartTimeout = 10 * time.Second
	SSHDialTimeout   = 15 * time.Second
)

// MaxLine bounds one message on the results port.
const MaxLine = 16 << 20

// MaxWork bounds the files of one Work (the modules and the guest tests),
// which follow its line raw on the results port.
const MaxWork = 128 << 20

// MaxOutput bounds what the init keeps of a program's stdout or stderr.
const MaxOutput = 1 << 20

// The environment every guest program gets.
const (
	// EnvDevice is the run's first device node, the built-in checks'.
	EnvDevice = "MMAPRIG_DEVICE"
	// EnvDevices are all of the run's device nodes, in -device's order,
	// separated as in PATH (filepath.SplitList splits them).
	EnvDevices = "MMAPRIG_DEVICES"
	// EnvModule is the module's .ko in the guest.
	EnvModule = "MMAPRIG_MODULE"
	// EnvParams are the module's parameters.
	EnvParams = "MMAPRIG_MODULE_PARAMS"
)

// ModulePaths are the guest paths of the modules a build made, given in
// load order by their file names: the last, the module under test, at
// ModulePath; the others, which it needs, under DepsDir by their names.
func ModulePaths(files []string) []string {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = path.Join(DepsDir, path.Base(f))
	}
	if len(paths) > 0 {
		paths[len(paths)-1] = ModulePath
	}
	return paths
}
