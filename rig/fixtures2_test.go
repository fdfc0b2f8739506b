package main

// More broken modules, for faults the first fixtures do not reach: a module
// that powers the machine off or restarts it inside mmap, one whose mmap
// never returns (a spin with preemption off, an uninterruptible sleep), and
// one whose .fault handler hands each mapping a stale copy of its page. None
// may pass; each must end in a class that names what happened, within its
// deadlines; and runRig checks that no QEMU outlives the rig.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mmaprig/mmaprig/rig/result"
	"github.com/mmaprig/mmaprig/rig/verdict"
)

// mustFail checks that a run failed: a report, a class other than pass,
// that class's exit code, and no PASS verdict on the terminal.
func mustFail(t *testing.T, r rigRun) *result.Run {
	t.Helper()
	rep := r.report(t)
	if rep.Class == verdict.Pass || r.code == 0 {
		t.Fatalf("a broken module passed: class %s, exit %d: %s", rep.Class, r.code, rep.Verdict())
	}
	if r.code != rep.Class.ExitCode() || rep.ExitCode != r.code {
		t.Errorf("class %s, exit %d (report says %d); want exit %d", rep.Class, r.code, rep.ExitCode, rep.Class.ExitCode())
	}
	if strings.Contains(r.out, "\nPASS:") {
		t.Error("the terminal says PASS")
	}
	return rep
}

// A module that powers the guest off, or restarts it, from its mmap ends
// the run in the middle of the reader, with no kernel report. That is the
// module's doing, as a reset is: a module failure (exit 1) that says the
// guest went down during the reader, never a pass and never a lost channel.
func TestFixtures2PowerOff(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	for _, tc := range []struct {
		name   string
		args   []string
		class  verdict.Class
		says   string
		reason string // what the message must name, lower case
	}{
		{"off", nil, verdict.GuestCrash, "", "power"},
		{"restart", []string{"-module-params", "how=restart"}, verdict.GuestCrash, "the guest reset itself", "reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRig(t, append([]string{"-module", fixture("poweroff")}, tc.args...)...)
			rep := mustFail(t, r)
			if rep.Class != tc.class || r.code != verdict.ExitModule {
				t.Errorf("class %s, exit %d: %s; want %s (exit %d): the module took the guest down",
					rep.Class, r.code, rep.Verdict(), tc.class, verdict.ExitModule)
			}
			if !strings.Contains(rep.Verdict(), tc.says) || !strings.Contains(strings.ToLower(rep.Verdict()), tc.reason) {
				t.Errorf("the verdict %q does not say %q and name the %s", rep.Verdict(), tc.says, tc.reason)
			}
			if rep.Step != "run reader" {
				t.Errorf("the verdict is about step %q; want run reader, the program that mapped the device", rep.Step)
			}
			if len(rep.Output) != 0 {
				t.Errorf("the reader printed %q; it never returned from mmap", rep.Output)
			}
		})
	}
}

// A module whose mmap never returns must fail within the reader's deadline
// (-check-timeout, plus the host's 5 s), whether the guest freezes or runs
// on, and the rig must stop its QEMU.
func TestFixtures2StallMmap(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	mod := []string{"-module", fixture("stallmmap")}

	t.Run("spin on one CPU", func(t *testing.T) {
		// The only CPU spins with preemption off: the guest is frozen, so
		// only the host's deadline (3 s + 5 s) can end the run.
		r := runRig(t, append(mod, "-check-timeout", "3s")...)
		rep := mustFail(t, r)
		switch rep.Class {
		case verdict.Channel:
			if !strings.Contains(rep.Verdict(), "step run reader") || !strings.Contains(rep.Verdict(), "did not arrive within 8s") {
				t.Errorf("the verdict %q does not name the reader and its deadline", rep.Verdict())
			}
		case verdict.GuestCrash:
			if !strings.Contains(rep.Verdict(), "stall") {
				t.Errorf("the verdict %q does not name the stall", rep.Verdict())
			}
		default:
			t.Errorf("class %s: %s; want channel (the guest froze) or guest-crash (a stall report)", rep.Class, rep.Verdict())
		}
	})

	t.Run("spin on two CPUs", func(t *testing.T) {
		// With a second CPU, RCU may report the spinning one after
		// CONFIG_RCU_CPU_STALL_TIMEOUT (21 s of jiffies, which lag wall
		// time under TCG); or the other CPU soon waits on the spinning
		// one too, and the guest freezes; or, on a loaded host whose
		// jiffies lag further, the init on the other CPU reports at the
		// reader's deadline that SIGKILL could not end it. Any way, the
		// run fails within the reader's deadline, naming the reader, and
		// a stall report names the module. A cold boot: no snapshot is
		// saved for this machine.
		r := runRig(t, append(mod, "-smp", "2", "-boot", "cold", "-check-timeout", "40s")...)
		rep := mustFail(t, r)
		switch rep.Class {
		case verdict.Channel:
			if !strings.Contains(rep.Verdict(), "step run reader") {
				t.Errorf("the verdict %q does not name the reader", rep.Verdict())
			}
		case verdict.Contract:
			if rep.Step != "run reader" || !strings.Contains(rep.Verdict(), "stuck in the kernel") {
				t.Errorf("step %q: %q; want the reader, stuck in the kernel", rep.Step, rep.Verdict())
			}
		case verdict.GuestCrash:
			if rep.Step != "run reader" {
				t.Errorf("the verdict is about step %q; want run reader", rep.Step)
			}
			// The RIP may be in the clock read the loop polls
			// (jiffies_read, read_tsc, ktime_get): never to blame, so
			// the title names the module's function below it.
			if !strings.Contains(rep.Title, "stallmmap_mmap") {
				t.Errorf("title %q does not name the module's function stallmmap_mmap", rep.Title)
			}
		default:
			t.Errorf("class %s: %s; want guest-crash (a stall report), channel (the guest froze) or contract (the reader stuck in the kernel)", rep.Class, rep.Verdict())
		}
	})

	t.Run("poll", func(t *testing.T) {
		// With -skip-idle, the reader polls an I/O port in mmap, as a
		// driver waits on its device, yielding, and dies when killed.
		// The guest stays busy,
		// and each port read costs the emulator far more host time than
		// the 8 ns the guest's clock counts for it, so that clock, which
		// skips the idle time, falls far behind the host's (without the
		// host's clock the guest did not reach its 20 s bound within the
		// host's 25 s). The reader's bound still ends at 20 s of the
		// host's time, by its clock's ticks, and the guest reports it: a
		// program that did not finish, not a guest that stopped answering.
		r := runRig(t, append(mod, "-skip-idle", "-module-params", "mode=poll", "-check-timeout", "20s")...)
		rep := wantVerdict(t, r, verdict.Contract, "reader did not finish within 20s")
		if !rep.IdleSkipped {
			t.Error("the run did not skip the guest's idle time; this case is about a guest that does")
		}
	})

	t.Run("sleep", func(t *testing.T) {
		// The reader sleeps uninterruptibly in mmap: the guest and its init
		// run on, but SIGKILL cannot end the reader. The guest's own
		// deadline (3 s) passed, and that is what the verdict must say: a
		// program that did not finish, the module's fault (exit 1), not a
		// guest that stopped answering.
		r := runRig(t, append(mod, "-module-params", "mode=sleep", "-check-timeout", "3s")...)
		rep := mustFail(t, r)
		if r.code != verdict.ExitModule || (rep.Class != verdict.Contract && rep.Class != verdict.GuestCrash) {
			t.Errorf("class %s, exit %d: %s; want contract or guest-crash (exit 1): the guest answers, its reader is stuck in the module",
				rep.Class, r.code, rep.Verdict())
		}
		if !strings.Contains(rep.Verdict(), "reader") || !strings.Contains(rep.Verdict(), "uninterruptible") {
			t.Errorf("the verdict %q does not name the reader stuck in an uninterruptible sleep", rep.Verdict())
		}
		// This restored guest ran for several seconds: its clock stayed
		// sane (under TCG the watchdog used to call the TSC unstable a few
		// seconds into a run).
		con, _ := os.ReadFile(filepath.Join(r.artifacts, "console.log"))
		for _, bad := range []string{"unstable", "skew", "watchdog", "hung_task"} {
			if strings.Contains(string(con), bad) {
				t.Errorf("the guest's console says %q:\n%s", bad, con)
			}
		}
	})
}

// A .fault handler that gives each mapping its own copy of the page: the
// ten bytes are right, so the reader alone passes, but the contract sees
// that writes through one mapping reach no other mapping and not read().
func TestFixtures2StaleFault(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: boots VMs")
	}
	r := runRig(t, "-module", fixture("stalefault"))
	rep := wantVerdict(t, r, verdict.Contract, "contract case(s) failed: shared_coherence")
	if !slices.Equal(rep.Output, tenBytes) {
		t.Errorf("the reader printed %q, want the ten bytes 0..9", rep.Output)
	}
	want := map[string]string{
		"reader_output": "pass", "refuses_bad_maps": "pass",
		"shared_coherence": "fail", "user_kernel_agree": "fail",
		"concurrent_mappers": "pass", "unload_reload": "pass", "kernel_clean": "pass",
	}
	var names []string
	for _, c := range rep.Cases {
		names = append(names, c.Name)
		if w, ok := want[c.Name]; ok && c.Result != w {
			t.Errorf("contract case %s: %s %s; want %s", c.Name, c.Result, c.Reason, w)
		}
	}
	if !slices.Equal(names, contractCases) {
		t.Errorf("contract cases %q, want %q", names, contractCases)
	}

	// The reader alone cannot tell a stale copy from the page: only the
	// contract catches this driver.
	wantVerdict(t, runRig(t, "-module", fixture("stalefault"), "-checks", "reader"), verdict.Pass, "")
}
