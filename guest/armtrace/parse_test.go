package armtrace

import (
	"strings"
	"testing"
)

var text = textRange{0xffffffff81000000, 0xffffffff82000000}

// A trace as tracefs prints it with sym-addr set, after the module is
// gone: its functions show as addresses.
const quietTrace = `# tracer: nop
#
# entries-in-buffer/entries-written: 2/2   #P:1
#
      kworker/0:1-23      [000] d..1.    12.345678: timer_start: timer=ffff888003e1c0a8 function=delayed_work_timer_fn expires=4294938000 [timeout=250] cpu=0 idx=84 flags=D|I
      kworker/0:1-23      [000] d..1.    12.345690: <stack trace>
 => __queue_delayed_work <ffffffff810a1234>
 => queue_delayed_work_on <ffffffff810a1300>
 => vmstat_update <ffffffff81150000>
 => process_one_work <ffffffff810a2000>
`

// A process's exit frees an epoll file with kfree_rcu, which arms the
// kfree_rcu batch monitor, a delayed work of the core's, from a system
// call.
const kvfreeTrace = `     reader-90 [000] d.... 3.1: timer_start: timer=(____ptrval____) function=delayed_work_timer_fn expires=1 [timeout=5] cpu=0 idx=1 flags=D|I
     reader-90 [000] d.... 3.1: <stack trace>
 => trace_event_raw_event_timer_start <ffffffff8109d4b1>
 => enqueue_timer <ffffffff8109d397>
 => __mod_timer <ffffffff8109e481>
 => queue_delayed_work_on <ffffffff810574c1>
 => kvfree_call_rcu <ffffffff810a0000>
 => ep_eventpoll_release <ffffffff81200000>
 => __fput <ffffffff81210000>
 => do_syscall_64 <ffffffff8137b4b8>
 => entry_SYSCALL_64_after_hwframe <ffffffff814000af>
`

func TestParseQuiet(t *testing.T) {
	for _, trace := range []string{quietTrace, kvfreeTrace} {
		var r Report
		if err := parseTrace(strings.NewReader(trace), text, &r); err != nil {
			t.Fatal(err)
		}
		if !r.Quiet() || r.Events != 1 {
			t.Errorf("got %+v, want quiet with 1 event: a core delayed work armed by the core", r)
		}
	}
}

func TestParseQuietVmstat(t *testing.T) {
	var r Report
	if err := parseTrace(strings.NewReader(quietTrace), text, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Quiet() || r.Events != 1 {
		t.Errorf("got %+v, want quiet with 1 event: a core delayed work armed from core code", r)
	}
}

func TestParseOwned(t *testing.T) {
	for _, tc := range []struct {
		name, trace, want string
	}{
		{"a timer of the module's", `  insmod-80 [000] d..1. 1.0: timer_start: timer=ffff888003e1c0a8 function=0xffffffffc0002010 expires=1 [timeout=250] cpu=0 idx=84 flags=`,
			"timer_start of 0xffffffffc0002010"},
		{"an hrtimer", `  insmod-80 [000] d..1. 1.0: hrtimer_start: hrtimer=ffff888003e1c0a8 function=leftover_fire [leftover] expires=1 softexpires=1 mode=REL`,
			"hrtimer_start of leftover_fire"},
		{"work", `  insmod-80 [000] d..1. 1.0: workqueue_queue_work: work struct=ffff888003e1c0a8 function=0xffffffffc0002010 workqueue=events req_cpu=1 cpu=0`,
			"workqueue_queue_work of 0xffffffffc0002010"},
		{"an RCU callback", `  insmod-80 [000] d..1. 1.0: rcu_callback: rcu_preempt rhp=ffff888003e1c0a8 func=0xffffffffc0002010 3`,
			"rcu_callback of 0xffffffffc0002010"},
		{"a delayed work armed from the module", quietTrace + `  insmod-80 [000] d..1. 1.0: timer_start: timer=ffff888003e1c0a8 function=delayed_work_timer_fn expires=1 [timeout=250] cpu=0 idx=84 flags=D|I
  insmod-80 [000] d..1. 1.0: <stack trace>
 => __queue_delayed_work <ffffffff810a1234>
 => 0xffffffffc0002044 <ffffffffc0002044>
 => do_one_initcall <ffffffff81001000>
`, "timer_start of delayed_work_timer_fn armed from 0xffffffffc0002044"},
		{"a delayed work armed in a system call, by a tail call", `            init-29      [000] d....     1.950658: timer_start: timer=(____ptrval____) function=delayed_work_timer_fn expires=4294892949 [timeout=250] cpu=0 idx=115 flags=I
            init-29      [000] d....     1.952095: <stack trace>
 => trace_event_raw_event_timer_start <ffffffff8109d4b1>
 => enqueue_timer <ffffffff8109d397>
 => __mod_timer <ffffffff8109e481>
 => queue_delayed_work_on <ffffffff810574c1>
 => __x64_sys_delete_module <ffffffff8109a008>
 => do_syscall_64 <ffffffff8137b4b8>
 => entry_SYSCALL_64_after_hwframe <ffffffff814000af>
`, "timer_start of delayed_work_timer_fn armed outside a timer, work or RCU callback (enqueue_timer < __mod_timer < queue_delayed_work_on < __x64_sys_delete_module < do_syscall_64 < entry_SYSCALL_64_after_hwframe)"},
		{"a lost event", "CPU:0 [LOST 12 EVENTS]\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Report
			if err := parseTrace(strings.NewReader(tc.trace), text, &r); err != nil {
				t.Fatal(err)
			}
			if r.Quiet() {
				t.Fatalf("quiet: %+v", r)
			}
			if tc.want != "" && (len(r.Owned) != 1 || !strings.HasPrefix(r.Owned[0], tc.want)) {
				t.Errorf("owned %q, want one, starting %q", r.Owned, tc.want)
			}
		})
	}
}

func TestModuleFrame(t *testing.T) {
	for stack, want := range map[string]string{
		"[<0>] worker_thread+0xbb/0x3c0\n[<0>] kthread+0xd8/0x100\n":                              "",
		"[<0>] schedule_timeout+0x88/0x100\n[<0>] 0xffffffffc0002044\n[<0>] kthread+0xd8/0x100\n": "0xffffffffc0002044",
		"[<0>] msleep+0x2d/0x40\n[<0>] leftover_thread+0x20/0x40 [leftover]\n":                    "leftover_thread+0x20/0x40 [leftover]",
	} {
		if got := moduleFrame(stack); got != want {
			t.Errorf("moduleFrame(%q) = %q, want %q", stack, got, want)
		}
	}
}
