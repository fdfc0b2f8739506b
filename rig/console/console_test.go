package console

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		line, title, kind string
		panic             bool
	}{
		{"[    1.034710] BUG: kernel NULL pointer dereference, address: 0000000000000000",
			"BUG: kernel NULL pointer dereference, address: 0000000000000000", "BUG", false},
		{"[    2.1] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
			"BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580", "BUG", false},
		{"[    2.2] [ BUG: Invalid wait context ]", "[ BUG: Invalid wait context ]", "BUG", false},
		{"[    3.0] WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 __alloc_pages+0x1f/0x30",
			"WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 __alloc_pages+0x1f/0x30", "WARNING", false},
		{"[    3.0] WARNING: possible circular locking dependency detected",
			"WARNING: possible circular locking dependency detected", "lockdep", false},
		{"[    4.0] BUG: KASAN: slab-out-of-bounds in mymap_mmap+0x2a/0x50 [mymap]",
			"KASAN: slab-out-of-bounds in mymap_mmap+0x2a/0x50 [mymap]", "KASAN", false},
		{"[    4.0] UBSAN: array-index-out-of-bounds in drivers/x.c:12:3",
			"UBSAN: array-index-out-of-bounds in drivers/x.c:12:3", "UBSAN", false},
		{"[    5.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP",
			"general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP", "GPF", false},
		{"[    5.0] kernel BUG at mm/mmap.c:123!", "kernel BUG at mm/mmap.c:123!", "BUG", false},
		{"[    5.1] Oops: 0002 [#1] PREEMPT SMP NOPTI", "Oops: 0002 [#1] PREEMPT SMP NOPTI", "Oops", false},
		{"[    6.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100",
			"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100", "panic", true},
		{"[  246.0] INFO: task insmod:71 blocked for more than 122 seconds.",
			"INFO: task insmod:71 blocked for more than 122 seconds.", "hung task", false},
		{"[   30.0] rcu: INFO: rcu_preempt self-detected stall on CPU",
			"rcu: INFO: rcu_preempt self-detected stall on CPU", "RCU stall", false},
		{"[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:70]",
			"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:70]", "soft lockup", false},
	} {
		c, ok := Match(tc.line)
		if !ok {
			t.Errorf("Match(%q) found nothing", tc.line)
			continue
		}
		if c.Title != tc.title || c.Kind != tc.kind || c.Panic != tc.panic {
			t.Errorf("Match(%q) = %+v; want title %q kind %q panic %v", tc.line, c, tc.title, tc.kind, tc.panic)
		}
	}
}

func TestNoMatch(t *testing.T) {
	for _, line := range []string{
		"[    0.70] mymap: loading out-of-tree module taints kernel.",
		"[    0.54] Run /init as init process",
		"[    0.13] ACPI: Added _OSI(Module Device)",
		"[    0.20] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'",
		"[    0.25] Spectre V2 : Mitigation: Retpolines",
		"0", "9",
	} {
		if c, ok := Match(line); ok {
			t.Errorf("Match(%q) = %+v; want no report", line, c)
		}
	}
}

func TestLog(t *testing.T) {
	l := NewLog()
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		l.Add(s)
	}
	select {
	case <-l.Notify():
	default:
		t.Fatal("Add did not notify")
	}
	if got := strings.Join(l.Since(3), ","); got != "d,e" {
		t.Errorf("Since(3) = %q", got)
	}
	if got := l.Excerpt(3, 1, 2); got != "b\nc\nd" {
		t.Errorf("Excerpt(3, 1, 2) = %q", got)
	}
	if got := l.Tail(2); got != "d\ne" {
		t.Errorf("Tail(2) = %q", got)
	}
}
