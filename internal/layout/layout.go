// Package layout names, once, the stages of a run and the files of its
// artifact directory, for the code that writes them and the code (and the
// tests) that read them.
package layout

// The stages of a run, in the order they run.
const (
	StageSetup     = "setup"
	StageKernel    = "kernel"
	StageModule    = "module"
	StageInitramfs = "initramfs"
	StageTests     = "tests"
	StageBoot      = "boot"
)

// Stages lists the stages in the order a run takes them.
func Stages() []string {
	return []string{StageSetup, StageKernel, StageModule, StageInitramfs, StageTests, StageBoot}
}

// The files of a run's artifact directory.
const (
	ConsoleLog    = "console.log"  // the guest's serial console
	QEMULog       = "qemu.log"     // QEMU's stderr
	QEMUCmdline   = "qemu.cmdline" // QEMU's command line, quoted for a shell
	QEMUArgv      = "qemu.cmdline.json"
	EngineLog     = "engine.log"    // the verdict engine's inputs, replayable
	Dmesg         = "dmesg.txt"     // the kernel's records of the console
	Kmsg          = "kmsg.txt"      // the records the guest forwarded from /dev/kmsg
	KTAP          = "ktap.txt"      // the contract's and guest tests' KTAP
	Report        = "report.txt"    // a kernel report and its decoded stack
	RunSpec       = "run.json"      // the run's plan and work, as sent to the guest
	KernelConfig  = "kernel.config" // the kernel's .config
	KernelLog     = "kernel-build.log"
	ModuleLog     = "module-build.log"
	CoverageDir   = "coverage"  // the gcov build copy and the HTML report
	LCOV          = "lcov.info" // the module's line coverage
	WorkDir       = "work"      // the working files, with -keep
	RestorePrefix = "restore-"  // the logs of a restore that failed
	GDBInit       = "gdbinit"   // gdb's script to attach (-gdb, -on-crash pause)
	GDBSocket     = "gdb.sock"  // QEMU's gdbstub, while the run lasts
)
