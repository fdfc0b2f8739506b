package kreport

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRecords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []Record
	}{
		{"[    1.234567] BUG: x", []Record{{"BUG: x", true}}},
		{"abc[    1.000000] BUG: y", []Record{{"abc", false}, {"BUG: y", true}}},
		{"BUG: no timestamp", []Record{{"BUG: no timestamp", true}}},
		{"", []Record{{"", true}}},
		{"[    1.000000] first[    1.000001] second\r", []Record{{"first", true}, {"second", true}}},
		{"0[    2.5] \t call+0x1/0x2", []Record{{"0", false}, {"\t call+0x1/0x2", true}}},
		{"  [    1.0] lead", []Record{{"lead", true}}},
		{"[    1.000000][    T1] caller id", []Record{{"caller id", true}}},
		{"<4>[    1.000000] syslog level", []Record{{"syslog level", true}}},
		{"[ 1.0]", []Record{{"", true}}},
		{"[ 1.5]x", []Record{{"x", true}}},
		{"[1.]x [.5] [ T1] [] [", []Record{{"[1.]x [.5] [ T1] [] [", true}}},
		{"a<4>[ 2.0] b", []Record{{"a", false}, {"b", true}}},
		{"<>[ 2.0] b", []Record{{"<>", false}, {"b", true}}},
	} {
		if got := Records(tc.line); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Records(%q) = %+v; want %+v", tc.line, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		line, title, kind string
		panic             bool
	}{
		// The headers rig/console recognised.
		{"[    1.034710] BUG: kernel NULL pointer dereference, address: 0000000000000000",
			"BUG: kernel NULL pointer dereference", "BUG", false},
		{"[    2.1] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
			"BUG: sleeping function called from invalid context", "BUG", false},
		{"[    2.2] [ BUG: Invalid wait context ]", "BUG: Invalid wait context", "lockdep", false},
		{"[    3.0] WARNING: CPU: 0 PID: 1 at mm/page_alloc.c:5525 __alloc_pages+0x1f/0x30",
			"WARNING at mm/page_alloc.c:NUM", "WARNING", false},
		{"[    3.0] WARNING: CPU: 1 PID: 77 at /tmp/m/mymap.c:12 mymap_open+0x1f/0x30 [mymap]",
			"WARNING in mymap_open", "WARNING", false},
		{"[    3.0] WARNING: possible circular locking dependency detected",
			"WARNING: possible circular locking dependency detected", "lockdep", false},
		{"[    4.0] BUG: KASAN: slab-out-of-bounds in mymap_mmap+0x2a/0x50 [mymap]",
			"KASAN: slab-out-of-bounds in mymap_mmap", "KASAN", false},
		{"[    4.0] UBSAN: array-index-out-of-bounds in drivers/x.c:12:3",
			"UBSAN: array-index-out-of-bounds in drivers/x.c:NUM", "UBSAN", false},
		{"[    5.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP",
			"general protection fault", "GPF", false},
		{"[    5.0] kernel BUG at mm/mmap.c:123!", "kernel BUG at mm/mmap.c:NUM!", "BUG", false},
		{"[    5.1] Oops: 0002 [#1] PREEMPT SMP NOPTI", "Oops", "Oops", false},
		{"[    6.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100",
			"Kernel panic - not syncing: Attempted to kill init!", "panic", true},
		{"[  246.0] INFO: task insmod:71 blocked for more than 122 seconds.",
			"INFO: task hung", "hung task", false},
		{"[   30.0] rcu: INFO: rcu_preempt self-detected stall on CPU",
			"INFO: rcu detected stall", "RCU stall", false},
		{"[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:70]",
			"BUG: soft lockup", "soft lockup", false},
		{"[    1.0] KFENCE: not a header at the start", "", "", false},
		{"[    1.0] BUG: KFENCE: use-after-free read in test_uaf+0xb3/0x143",
			"KFENCE: use-after-free read in test_uaf", "KFENCE", false},
		{"[    1.0] BUG: KMSAN: uninit-value in foo_read+0x1/0x2", "KMSAN: uninit-value in foo_read", "KMSAN", false},
		{"[    1.0] BUG: KCSAN: data-race in foo_inc / foo_read", "KCSAN: data-race in foo_inc / foo_read", "KCSAN", false},
		{"[    1.0] list_del corruption, ffff888003a1b2c0->next is LIST_POISON1 (dead000000000100)",
			"BUG: corrupted list", "corruption", false},
		{"[    1.0] list_add corruption. next->prev should be prev (ffff8880), but was ffff8881. (next=ffff8882).",
			"BUG: corrupted list", "corruption", false},
		{"[    1.0] unreferenced object 0xffff888003f6b400 (size 64):", "memory leak", "memory leak", false},
		{"[    1.0] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
			"kmemleak: suspected memory leaks", "memory leak", false},
		// Lockdep reports an unbalanced unlock; it is a bug, not noise.
		{"[    1.0] WARNING: bad unlock balance detected!", "WARNING: bad unlock balance", "lockdep", false},
		{"[    1.0] BUG: scheduling while atomic: reader/73/0x00000200", "BUG: scheduling while atomic", "BUG", false},
		{"[    1.0] BUG: unable to handle page fault for address: ffffc90000015004",
			"BUG: unable to handle page fault", "BUG", false},
		{"[    1.0] Oops: general protection fault, probably for non-canonical address 0xdffffc0000000003: 0000 [#1] PREEMPT SMP KASAN NOPTI",
			"general protection fault", "GPF", false},
		{"[    1.0] Oops: invalid opcode: 0000 [#1] PREEMPT SMP", "invalid opcode", "Oops", false},
		{"[    1.0] divide error: 0000 [#1] PREEMPT SMP", "divide error", "Oops", false},
		{"[    1.0] Kernel panic - not syncing: panicmmap: device state lost after 3 maps",
			"Kernel panic - not syncing: panicmmap: device state lost after NUM maps", "panic", true},
		{"[    1.0] Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: foo_ioctl+0x1/0x2 [foo]",
			"Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in foo_ioctl", "panic", true},
		{"[    1.0] kernel BUG at /root/.cache/mmaprig/module/abc.tmp-1/bugon.c:12!",
			"kernel BUG at bugon.c:NUM!", "BUG", false},
		{"[    1.0] WARNING: CPU: 0 PID: 1 at lib/refcount.c:28 refcount_warn_saturate+0x1/0x2",
			"WARNING: refcount bug", "WARNING", false},
		{"[    2.2] ODEBUG: free active (active state 0) object type: timer_list hint: leftover_timer_fn+0x0/0x10 [leftover]",
			"ODEBUG: free active timer_list in leftover_timer_fn", "ODEBUG", false},
		{"[    2.2] ODEBUG: free active (active state 0) object: ffff888003c4e000 object type: work_struct hint: 0xffffffffa0000000",
			"ODEBUG: free active work_struct", "ODEBUG", false},
		{"[    2.2] ODEBUG: object 00000000a1b2c3d4 is on stack 00000000e5f6a7b8, but NOT annotated.",
			"ODEBUG: object ADDR is on stack ADDR, but NOT annotated.", "ODEBUG", false},
		{"[    1.0] BUG kmalloc-64 (Tainted: G    B      O): Object already free",
			"BUG: Object already free", "BUG", false},
		// arm64.
		{"Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
			"BUG: kernel NULL pointer dereference", "BUG", false},
		{"[   1.0] Unable to handle kernel paging request at virtual address ffff800008f3d000",
			"BUG: unable to handle page fault", "BUG", false},
		{"[   1.0] Unable to handle kernel execute from non-executable memory at virtual address ffff0000",
			"BUG: unable to handle kernel execute from non-executable memory", "BUG", false},
		{"[   1.0] Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP",
			"Internal error: Oops - BUG", "Oops", false},
		{"[    1.0] watchdog: Watchdog detected hard LOCKUP on cpu 1", "watchdog: hard LOCKUP", "hard lockup", false},
		{"[    1.0] BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!", "BUG: workqueue lockup", "BUG", false},
		{"[    1.0] BUG: Bad page state in process reader  pfn:0a1b2", "BUG: Bad page state", "BUG", false},
		{"[    1.0] BUG: using smp_processor_id() in preemptible [00000000] code: reader/31",
			"BUG: using smp_processor_id() in preemptible code", "BUG", false},
		{"[    1.0] BUG: spinlock bad magic on CPU#0, reader/31", "BUG: spinlock bad magic", "BUG", false},
		{"[    1.0] WARNING: at kernel/foo.c:12 foo_bar()", "WARNING in foo_bar", "WARNING", false},
		{"[    1.0] INFO: trying to register non-static key.", "INFO: trying to register non-static key", "lockdep", false},
		{"[    1.0] WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage", "lockdep", false},
		{"[    1.0] WARNING: lock held when returning to user space!", "WARNING: lock held when returning to user space", "lockdep", false},
		{"[    1.0] WARNING: reader/31 still has locks held!", "WARNING: still has locks held", "lockdep", false},
		{"[    1.0] BUG: MAX_LOCKDEP_KEYS too low!", "BUG: MAX_LOCKDEP_KEYS too low!", "lockdep", false},
		{"[    1.0] [ INFO: possible recursive locking detected ]", "WARNING: possible recursive locking detected", "lockdep", false},
		{"[    1.0] WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected",
			"WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", "lockdep", false},
		{"[    1.0] kernel BUG at lib/list_debug.c:56!", "BUG: corrupted list", "corruption", false},
		{"[    1.0] PANIC: double fault, error_code: 0x0", "PANIC: double fault", "Oops", false},
		{"[    1.0] stack segment: 0000 [#1] PREEMPT SMP KASAN", "stack segment fault", "Oops", false},
		{"[    1.0] Internal error: Oops: 96000045 [#1] SMP", "Internal error: Oops", "Oops", false},
		{"[    1.0] BUG: TASK stack guard page was hit at (____ptrval____) (stack is (____ptrval____)..(____ptrval____))",
			"BUG: stack guard page was hit", "BUG", false},
		{"[    1.0] BUG: KASAN: double-free in kfree+0x8f/0x100", "KASAN: double-free", "KASAN", false},
		{"[    1.0] BUG: Dentry ffff888004a1b2c0{i=2,n=x} still in use (1) [unmount of tmpfs tmpfs]",
			"BUG: Dentry ADDR{i=NUM,n=x} still in use (NUM) [unmount of tmpfs tmpfs]", "BUG", false},
		// A user-space write before the record does not hide it.
		{"reader: 0 1 2[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008",
			"BUG: kernel NULL pointer dereference", "BUG", false},
	} {
		h, ok := Match(tc.line)
		if tc.kind == "" {
			if ok {
				t.Errorf("Match(%q) = %+v; want no report", tc.line, h)
			}
			continue
		}
		want := Header{Kind: tc.kind, Title: tc.title, Panic: tc.panic}
		if !ok || h != want {
			t.Errorf("Match(%q) = %+v, %v; want %+v", tc.line, h, ok, want)
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
		"[    0.25] Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!",
		"[    0.00] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!",
		"[    1.0] mymod: saw BUG: in data",
		"[    1.0] mymod: WARNING: CPU: 0 PID: 1 at fake.c:1 fake+0x1/0x2",
		"[    1.0]  BUG: indented, so part of something else",
		"[    1.0] INFO: lockdep is turned off.",
		"[    1.0] INFO: NMI handler (perf_event_nmi_handler) took too long to run: 1.234 msecs",
		"[    1.0] rcu: RCU CPU stall warnings timeout set to 3 (rcu_cpu_stall_timeout).",
		"[    1.0] kmemleak: Kernel memory leak detector initialized (mem pool available: 15791)",
		"[    1.0] ------------[ cut here ]------------",
		"[    1.0] ---[ end trace 0000000000000000 ]---",
		"[    1.0] DEBUG: BUG: not at the start",
		"[    1.0] ODEBUG: Out of memory. ODEBUG disabled",
		"WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
		"user text BUG: x[    1.0] ok",
		"BUG: in user text[    1.0] ok",
		"@mmaprig@ run {\"ok\":true}",
		"0", "9", "",
	} {
		if h, ok := Match(line); ok {
			t.Errorf("Match(%q) = %+v; want no report", line, h)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"kernel BUG at mm/slub.c:123!":                       "kernel BUG at mm/slub.c:NUM!",
		"kernel BUG at /root/x/y.tmp-12/bugon.c:9!":          "kernel BUG at bugon.c:NUM!",
		"UBSAN: shift-out-of-bounds in lib/foo.c:12:34":      "UBSAN: shift-out-of-bounds in lib/foo.c:NUM",
		"BUG: key ffff888003a1b2c0 has not been registered!": "BUG: key ADDR has not been registered!",
		"Kernel panic - not syncing: code 0x0000000b":        "Kernel panic - not syncing: code ADDR",
		"stuck in foo+0x1c/0x30 [mod]  now":                  "stuck in foo now",
		"kmalloc-64 on x86_64":                               "kmalloc-NUM on x86_64",
		"WARNING at ":                                        "WARNING",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestSkipped(t *testing.T) {
	r := &rule{}
	for _, f := range []string{
		"dump_stack_lvl", "__might_resched", "__might_sleep", "mutex_lock_nested", "__mutex_lock",
		"_raw_spin_lock", "__warn", "report_bug", "handle_bug", "exc_invalid_op", "asm_exc_page_fault",
		"kasan_report", "__asan_load8", "__asan_store4_noabort", "__kasan_check_read", "print_report",
		"lock_acquire", "lockdep_hardirqs_on_prepare", "__schedule", "schedule", "kfree", "__kmem_cache_free",
		"kmalloc_trace", "memcpy", "__list_del_entry_valid", "refcount_warn_saturate", "el1h_64_sync_handler",
		"do_mem_abort", "sysvec_apic_timer_interrupt", "__x86_return_thunk", "msleep", "__const_udelay",
	} {
		if !r.skipped(f) {
			t.Errorf("%s is not skipped", f)
		}
	}
	for _, f := range []string{
		"mymap_mmap", "nullmmap_mmap", "shutdown_device", "download_fw", "do_mmap", "mmap_region",
		"vfs_write", "update_stats", "printk_caller_id_fixup", "kernel_init", "debugfs_create_file",
	} {
		if r.skipped(f) {
			t.Errorf("%s is skipped", f)
		}
	}
	if got := funcName("foo.isra.0"); got != "foo" {
		t.Errorf("funcName(foo.isra.0) = %q", got)
	}
}

// TestParseInterleaved checks reports that user-space output breaks up.
func TestParseInterleaved(t *testing.T) {
	console := strings.Split(strings.TrimSpace(`
[    1.000000] Run /init as init process
@mmaprig@ boot {"ok":true}
0[    1.100000] BUG: kernel NULL pointer dereference, address: 0000000000000000
1
[    1.100100] #PF: supervisor write access in kernel mode
2[    1.100200] RIP: 0010:broken_mmap+0x5/0x10 [broken]
[    1.100300] Call Trace:
3
[    1.100400]  <TASK>
[    1.100500]  mmap_region+0x1f/0x30
[    1.100600]  </TASK>
[    1.100700] ---[ end trace 0000000000000000 ]---`), "\n")
	rep, ok := Parse(console)
	want := Report{
		Header: Header{Kind: "BUG", Title: "BUG: kernel NULL pointer dereference"},
		Title:  "BUG: kernel NULL pointer dereference in broken_mmap",
		Frame:  "broken_mmap",
		Text:   "BUG: kernel NULL pointer dereference, address: 0000000000000000",
		Stack:  []string{"mmap_region+0x1f/0x30"},
		Trap:   "RIP: 0010:broken_mmap+0x5/0x10 [broken]",
		Start:  2,
	}
	if !ok || !reflect.DeepEqual(rep, want) {
		t.Errorf("Parse = %+v, %v; want %+v", rep, ok, want)
	}
}

// A report's trap is its first RIP:/pc: line in the kernel: x86's
// (printed again after the end marker), arm64's; a KASAN report of a bad access has none, its GPF has one.
func TestParseTrap(t *testing.T) {
	for file, want := range map[string]string{
		"x86-null-mmap.txt":      "RIP: 0010:nullmmap_mmap+0x0/0x11 [nullmmap]",
		"arm64-null-mmap.txt":    "pc : nullmmap_mmap+0x8/0x14 [nullmmap]",
		"dbg-gpf-kasan-null.txt": "RIP: 0010:nullmmap_mmap+0x0/0x29 [nullmmap]",
		"dbg-kasan-slab-oob.txt": "",
	} {
		f := readCorpus(t, filepath.Join("testdata", "reports", file))
		rep, ok := Parse(f.console)
		if !ok || rep.Trap != want {
			t.Errorf("%s: trap %q (%v); want %q", file, rep.Trap, ok, want)
		}
	}
}

func TestParseNothing(t *testing.T) {
	for _, console := range [][]string{nil, {""}, {"[    1.0] Linux version 6.1"}} {
		if rep, ok := Parse(console); ok {
			t.Errorf("Parse(%q) = %+v", console, rep)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	lines := make([]string, 0, 2000)
	for i := 0; i < 2000; i++ {
		lines = append(lines, "[    1.000000] virtio-mmio: Registering device virtio-mmio.0 at 0xfeb00000-0xfeb001ff, IRQ 12.")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Parse(lines)
	}
}
