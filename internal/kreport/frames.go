package kreport

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	// frameRE is one frame of a stack trace: "func+0x1c/0x30 [mod]",
	// "[<ffffffff8123>] func+0x1c/0x30", or symbolised,
	// "func+0x1c/0x30 mm/slub.c:123" or "func mm/slub.c:123 [inline]".
	// Submatch 1 is "?" for a frame the unwinder is not sure of, 2 the
	// function, 3 and 4 the offset and the size. kmemleak
	// puts its prefix on every line of the reports it prints itself.
	frameRE = regexp.MustCompile(`^(?:kmemleak:)?\s*(?:\[<?[0-9a-fx]+>?\]\s*){0,2}(\?\s+)?([A-Za-z_][A-Za-z0-9_.]*)(?:\+0x([0-9a-f]+)/0x([0-9a-f]+)|\s+\S+\.[chS]:\d+)`)
	// ripRE is where the CPU trapped: x86's "RIP: 0010:func+0x1/0x2" (a
	// user-space RIP has no function), older "RIP: 0010:[<ffff>]
	// [<ffff>] func+0x1/0x2", 32-bit "EIP:", arm64's "pc : func+0x1/0x2",
	// arm's "PC is at func+0x1/0x2", powerpc's "NIP [c000] func+0x1/0x2".
	ripRE = regexp.MustCompile(`^(?:R?IP: (?:[0-9a-f]{4}:)?|EIP: (?:[0-9a-f]{4}:)?|pc : |PC is at |NIP:? +)(?:\[<?[0-9a-f]+>?\]\s*)*` + fn)
	// traceRE starts a stack trace.
	traceRE = regexp.MustCompile(`^(?:kmemleak:)?\s*(?:Call [Tt]race|backtrace)(?: \(crc [0-9a-f]+\))?:`)
	// markerRE are lines inside an x86 stack trace that are not frames:
	// the stack's sections, and the registers of an interrupted context.
	markerRE = regexp.MustCompile(`^\s*(?:</?(?:TASK|IRQ|NMI|SOFTIRQ|EOI|#DF|#MC|#DB|#VC|#BP|ENTRY_TRAMPOLINE|SYSENTER)>|Code: |[A-Z][A-Z0-9]{1,7}: |\.\.\. \d+ more)`)
	// lockAtRE is the function at which lockdep saw a lock: "ffff888004
	// (&m){+.+.}-{3:3}, at: func+0x1/0x2", or print_ip_sym's
	// "[<ffffffffc0001234>] func+0x1/0x2" after "trying to release lock".
	lockAtRE = regexp.MustCompile(`(?:\bat: |^\[<[0-9a-f]+>\] )(?:\[<[0-9a-f]+>\] )?` + fn)
	// lockEndRE ends the part of a lockdep report that describes the lock:
	// what follows are other locks and other tasks' stacks.
	lockEndRE = regexp.MustCompile(`^(?:stack backtrace:|the existing dependency chain|other info that might help|Possible .*locking scenario)`)
	// moduleRE ends a frame in a module: "func+0x1/0x2 [mod]".
	moduleRE = regexp.MustCompile(`/0x[0-9a-f]+ \[[\w-]+\]`)
	// accessRE is the access a KASAN report is about.
	accessRE = regexp.MustCompile(`^(Read|Write) (?:of size \d+ )?at addr`)
)

// skipRE are frames that are never to blame: the machinery that detects,
// reports or delivers a bug, and the library functions a buggy caller
// hands bad arguments to. The culprit is the first frame after them.
var skipRE = regexp.MustCompile(`^(?:` + strings.Join([]string{
	// Printing the report, and the stall detectors that have it printed.
	`dump_stack\w*`, `__dump_stack`, `show_stack`, `show_trace_log_lvl`, `show_regs`, `__show_regs`,
	`dump_backtrace`, `print_report`, `print_address_description\w*`, `print_error_description`,
	`_?printk`, `vprintk\w*`, `_?dev_(?:printk|emerg|alert|crit|err|warn|notice|info)\w*`,
	`nmi_cpu_backtrace\w*`, `nmi_trigger_cpumask_backtrace`, `arch_trigger_cpumask_backtrace`,
	`trigger_single_cpu_backtrace`, `dump_cpu_task`, `sched_show_task`, `rcu_dump_cpu_stacks`,
	`print_cpu_stall\w*`, `check_cpu_stall`, `rcu_pending`, `rcu_sched_clock_irq`,
	// WARN(), BUG() and panic() themselves, and the trap that runs them.
	`__warn\w*`, `warn_slowpath\w*`, `report_bug`, `__report_bug`, `handle_bug`, `fixup_bug`,
	`panic`, `nmi_panic`, `check_panic_on_warn`, `do_exit`, `make_task_dead`, `rewind_stack\w*`,
	`__stack_chk_fail`, `bug_handler`, `brk_handler`, `call_break_hook`, `do_el1_brk`, `el1_brk\w*`,
	// Exception and interrupt entry: the culprit is the code that was
	// interrupted, not the handler (x86, then arm64).
	`exc_\w+`, `asm_exc_\w+`, `asm_sysvec_\w+`, `sysvec_\w+`, `__sysvec_\w+`, `do_error_trap`, `do_trap`,
	`do_int3\w*`, `die`, `__die\w*`, `oops_end`, `oops_begin`, `page_fault_oops`, `no_context`,
	`kernelmode_fixup_or_oops`, `__bad_area\w*`, `bad_area\w*`, `do_user_addr_fault`,
	`handle_page_fault`, `do_kern_addr_fault`, `spurious_kernel_fault`, `fixup_exception`,
	`do_general_protection`, `invalid_op`, `do_invalid_op`, `do_divide_error`, `irq_exit\w*`,
	`__irq_exit_rcu`, `hrtimer_interrupt`, `__hrtimer_run_queues`, `tick_sched_\w+`,
	`update_process_times`, `watchdog_timer_fn`, `apic_timer_interrupt`, `smp_apic_timer_interrupt`,
	`do_mem_abort`, `el1_abort`, `el1_da`, `el1_ia`, `el1_sync\w*`, `el1h_64_sync\w*`, `el1_undef`,
	`do_el1_undef`, `el1_dbg`, `do_debug_exception`, `__do_kernel_fault`, `die_kernel_fault`,
	`do_page_fault`, `do_translation_fault`, `do_bad_area`, `do_undefinstr`, `do_bug`,
	`el1_interrupt`, `el1h_64_irq\w*`, `gic_handle_irq`, `call_on_irq_stack`, `do_interrupt_handler`,
	// Sanitizer runtimes: they find the bad access; the caller made it.
	`_*kasan_\w+`, `_+asan_\w+`, `check_memory_region\w*`, `_*kfence_\w+`, `_*kmsan_\w+`, `_+msan_\w+`,
	`_*kcsan_\w+`, `_+tsan_\w+`, `_*ubsan_\w+`, `handle_overflow`, `_*kcov_\w+`, `write_comp_data`,
	`end_report`, `start_report`,
	// might_sleep() checks: the sleeping call is where the bug shows, its
	// caller is where it is.
	`__might_sleep`, `___might_sleep`, `__might_resched`, `__might_fault`, `might_fault`,
	`__cant_sleep`, `__cant_migrate`, `__schedule_bug`, `schedule_debug\w*`, `check_preemption_disabled`,
	`debug_smp_processor_id`, `__this_cpu_preempt_check`,
	// Sleeping and scheduling: a task that blocks or sleeps in the wrong
	// place is to blame, not the scheduler.
	`__schedule`, `schedule`, `schedule_timeout\w*`, `schedule_preempt_disabled`, `preempt_schedule\w*`,
	`io_schedule\w*`, `__cond_resched\w*`, `_cond_resched`, `msleep\w*`, `ssleep`, `usleep_range\w*`,
	`schedule_hrtimeout\w*`, `__wait_for_common`, `wait_for_completion\w*`, `do_wait_for_common`,
	// Busy-waiting: a stall or lockup report finds the CPU in these, but
	// their caller chose to spin.
	`(?:__)?udelay`, `(?:__)?ndelay`, `(?:__)?mdelay`, `__const_udelay`, `__delay`, `delay_tsc`, `delay_loop`,
	`delay_halt\w*`, `cpu_relax`,
	// Clock reads: a loop that spins to a deadline is caught reading the
	// clock (ktime_get() and friends, the clocksources under them).
	`ktime_get\w*`, `ktime_read_raw_clock`, `__ktime_get\w*`, `jiffies_read`, `read_tsc`,
	`(?:native_)?sched_clock\w*`, `local_clock\w*`, `get_jiffies_64`, `rdtsc\w*`, `native_read_tsc`,
	`arch_counter_\w+`, `arch_timer_read_\w+`, `clocksource_\w+`, `timekeeping_\w+`,
	// Locking primitives: the caller took the lock.
	`(?:__)?mutex_(?:lock|unlock|trylock)\w*`, `mutex_remove_waiter`, `__ww_mutex_\w+`, `ww_mutex_\w+`,
	`_raw_(?:spin|read|write)_\w+`, `__raw_(?:spin|read|write)_\w+`, `do_raw_(?:spin|read|write)_\w+`,
	`(?:spin|read|write)_(?:un)?lock\w*`, `queued_(?:spin|read|write)_lock\w*`,
	`(?:native|__pv)_queued_spin_lock_slowpath`, `osq_(?:un)?lock`, `spin_bug`, `spin_dump`,
	`rwlock_bug`, `debug_spin_\w+`, `down`, `down_\w+`, `__down\w*`, `up`, `up_\w+`, `__up\w*`,
	`rwsem_\w+`, `__rwsem_\w+`, `percpu_(?:down|up)_\w+`, `__percpu_(?:down|up)_\w+`,
	`rt_mutex_\w+`, `__rt_mutex_\w+`, `rt_spin_\w+`,
	// Lockdep itself.
	`lock_(?:acquire|release|acquired|contended|sync|is_held\w*)`, `__lock_\w+`, `lockdep_\w+`,
	`__lockdep_\w+`, `debug_locks_off`, `print_(?:circular|usage|lock|unlock|bad|irq|held)\w*`,
	`check_(?:prev_add|prevs_add|noncircular|irq_usage|deadlock|wait_context|usage\w*|flags|chain_key|irq_inversion)`,
	`validate_chain`, `mark_lock\w*`, `mark_usage`, `mark_held_locks`, `valid_state`, `__bfs\w*`,
	`bfs`, `register_lock_class`, `look_up_lock_class`, `hlock_\w+`, `debug_check_no_locks_\w+`,
	`trace_(?:hard|soft)irqs_\w+`, `lockdep_hardirqs_\w+`,
	// The allocator: a caller that allocates, frees or leaks is to blame.
	`(?:__)?kmalloc\w*`, `kmalloc_\w+`, `kzalloc\w*`, `kcalloc\w*`, `krealloc\w*`, `(?:__)?kfree\w*`, `kvfree\w*`,
	`kvmalloc\w*`, `kvzalloc`, `kmem_cache_\w+`, `__kmem_cache_\w+`, `slab_\w+`, `__slab_\w+`,
	`___slab_alloc`, `(?:__)?vmalloc\w*`, `vzalloc\w*`, `(?:__)?vfree\w*`, `vunmap`, `__vunmap`,
	`(?:__)?alloc_pages\w*`, `alloc_page\w*`, `(?:__)?get_free_pages`, `get_zeroed_page`, `(?:__)?free_pages\w*`,
	`free_page\w*`, `__free_page`, `free_unref_page\w*`, `kmemleak_\w+`, `create_object`,
	`__create_object`, `kmemdup\w*`, `kstrdup\w*`, `kstrndup`, `memdup_user\w*`, `kasprintf`,
	`kvasprintf\w*`, `devm_k\w*alloc\w*`, `(?:__)?kmem_cache_free\w*`, `kfree_sensitive`,
	`memcg_slab_post_alloc_hook`, `__memcg_slab_post_alloc_hook`, `trace_kmalloc\w*`,
	// Reference counting of pages: the caller dropped a reference too many.
	`put_page\w*`, `__put_page`, `(?:__)?folio_put\w*`, `page_ref_\w+`, `folio_ref_\w+`,
	// String and user-copy helpers: the caller passed them bad memory.
	`(?:__)?mem(?:cpy|set|move|cmp|chr|scan)\w*`, `(?:__)?str(?:n?cpy|lcpy|scpy|n?cat|n?cmp|n?len|n?chr|r?chr|str|nstr|dup)\w*`,
	`(?:__)?copy_(?:to|from)_user\w*`, `_copy_(?:to|from)_user`, `raw_copy_\w+`, `copy_user_\w+`,
	`rep_movs_alternative`, `clear_user\w*`, `__clear_user`, `(?:__)?(?:put|get)_user\w*`,
	`strncpy_from_user`, `usercopy_\w+`, `__check_object_size`, `check_object_size`,
	`check_heap_object`, `__check_heap_object`,
	// Debug checks and their helpers: list_debug, refcount, debugobjects.
	`__list_\w+_valid\w*`, `__list_del_entry`, `__list_del_entry_valid_or_report`, `list_del\w*`,
	`list_add\w*`, `refcount_warn_saturate`, `__refcount_\w+`, `refcount_(?:inc|dec|add|sub)\w*`,
	`debug_object\w*`, `__debug_object\w*`, `debug_print_object`,
	// Retpoline and return thunks, and stack unwinding.
	`__x86_indirect_\w+`, `__x86_return_thunk`, `unwind_\w+`, `__unwind_\w+`, `arch_stack_walk`,
	`stack_trace_save\w*`, `save_stack\w*`,
}, "|") + `)$`)

// funcName cleans a symbol: compilers add suffixes (".isra.0",
// ".constprop.0", ".part.0", ".cold") that change between builds.
func funcName(s string) string {
	name, _, _ := strings.Cut(s, ".")
	return name
}

// skipped reports whether frame is never to blame in r's reports.
func (r *rule) skipped(frame string) bool {
	return skipRE.MatchString(frame) || r.skip != nil && r.skip.MatchString(frame)
}

// guilty returns the function to blame in a report's body (its records'
// texts, the header's first), or "".
func (r *rule) guilty(m match, body []string) string {
	for _, src := range r.sources {
		for _, f := range candidates(src, m, body) {
			if f = funcName(f); f != "" && !r.skipped(f) {
				return f
			}
		}
	}
	return ""
}

// candidates returns the frames that src names in body, best first.
func candidates(src source, m match, body []string) []string {
	switch src {
	case fromHeader:
		return []string{m.group("func")}
	case fromLock:
		return lockFrames(body)
	case fromRIP:
		for _, line := range body {
			if f := ripFunc(line); f != "" {
				return []string{f}
			}
		}
	case fromStall:
		return stallFrames(body)
	case fromTrace:
		return traceFrames(body)
	}
	return nil
}

// ripFunc returns the function of a RIP:/pc: line, or "".
func ripFunc(line string) string {
	if m := ripRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
		return m[1]
	}
	return ""
}

// traceFrames returns the frames of the first stack trace in body that has
// any. The frames the unwinder is sure of come first, and alone if there
// are any; "? func+0x1/0x2" frames are guesses. But a kernel built without
// frame pointers or ORC (tinyconfig picks UNWINDER_GUESS) marks every frame
// with "?": then the guesses are all there is, and they are ranked.
func traceFrames(body []string) []string {
	for i := 0; i < len(body); i++ {
		if !traceRE.MatchString(body[i]) {
			continue
		}
		sure, guessed, end := readTrace(body, i+1)
		if len(sure) > 0 {
			return sure
		}
		if len(guessed) > 0 {
			return rank(guessed)
		}
		i = end - 1
	}
	return nil
}

// stackLines returns the frame lines of the first stack trace in body that
// has any, as printed, without the trace's section markers.
func stackLines(body []string) []string {
	for i := 0; i < len(body); i++ {
		if !traceRE.MatchString(body[i]) {
			continue
		}
		var lines []string
		for _, l := range body[i+1:] {
			if frameRE.MatchString(l) {
				lines = append(lines, strings.TrimSpace(l))
			} else if !markerRE.MatchString(l) {
				break
			}
		}
		if len(lines) > 0 {
			return lines
		}
	}
	return nil
}

// trapLine returns the first RIP:/pc: line of body that names a kernel
// function, trimmed, or "".
func trapLine(body []string) string {
	for _, line := range body {
		if ripFunc(line) != "" {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// frame is a frame of a stack trace that the unwinder guessed.
type frame struct {
	name string
	// module is true for a function in a module: "func+0x1/0x2 [mod]".
	module bool
	// past is true when the address is just past the function's end
	// ("func+0x4a/0x4a"): the start of the next function, so most likely
	// a function pointer left on the stack, not a return address.
	past bool
}

// rank orders guessed frames and returns their names. A guess can be a
// stale return address or a function pointer left on the stack, so first
// come the frames of modules, which are what a driver rig tests, then
// return addresses inside their function, then the rest.
func rank(frames []frame) []string {
	slices.SortStableFunc(frames, func(a, b frame) int { return a.rank() - b.rank() })
	names := make([]string, len(frames))
	for i, f := range frames {
		names[i] = f.name
	}
	return names
}

func (f frame) rank() int {
	switch {
	case f.module:
		return 0
	case !f.past:
		return 1
	}
	return 2
}

// readTrace reads the frames of the trace that starts at body[i], up to the
// first line that belongs to no trace, end; sure are the frames the
// unwinder is sure of, guessed the others.
func readTrace(body []string, i int) (sure []string, guessed []frame, end int) {
	for ; i < len(body); i++ {
		line := body[i]
		if m := frameRE.FindStringSubmatch(line); m != nil {
			if m[1] == "" {
				sure = append(sure, m[2])
			} else {
				guessed = append(guessed, frame{
					name:   m[2],
					module: moduleRE.MatchString(line),
					past:   m[3] != "" && m[3] == m[4],
				})
			}
			continue
		}
		if !markerRE.MatchString(line) {
			break
		}
	}
	return sure, guessed, i
}

// stallFrames returns, for a stall, the RIP: lines printed inside stack
// traces: the code that a timer or NMI interrupted. Then, for traces
// without registers, the frames after the interrupt's stack ("</IRQ>").
// A self-detected RCU stall names its CPU; that CPU's frames come first,
// since the report also dumps the grace-period kthread and the other
// CPUs, which may be waiting on it (stop_machine, an IPI).
func stallFrames(body []string) []string {
	all := stallTraceFrames(body, -1)
	if self := stallingCPU(body); self >= 0 {
		return append(stallTraceFrames(body, self), all...)
	}
	return all
}

var (
	// stallCPURE is a self-detected stall's CPU line: "rcu: \t1-...!: (5116 ticks this GP)".
	stallCPURE = regexp.MustCompile(`^(?:rcu:)?\s*(\d+)-\.\.\.`)
	// cpuDumpRE starts one CPU's dump: "CPU: 1 PID: 31 Comm: ...",
	// "NMI backtrace for cpu 1".
	cpuDumpRE = regexp.MustCompile(`^(?:CPU: (\d+) PID: |NMI backtrace for cpu (\d+)\b)`)
)

// stallingCPU is the CPU a self-detected RCU stall names, or -1.
func stallingCPU(body []string) int {
	if len(body) < 2 || !strings.Contains(body[0], "self-detected stall") {
		return -1
	}
	m := stallCPURE.FindStringSubmatch(body[1])
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// stallTraceFrames is stallFrames over every CPU's dumps, for cpu -1; or
// over the dumps of CPU cpu alone, whose RIP: lines count wherever they
// stand (an NMI'd CPU's registers come before its trace), and whose
// frames count outside the interrupt's stack.
func stallTraceFrames(body []string, cpu int) []string {
	var rips, after []string
	one := cpu >= 0
	inTrace, inIRQ, afterIRQ, mine := false, false, false, !one
	for _, line := range body {
		if m := cpuDumpRE.FindStringSubmatch(line); m != nil && one {
			n, _ := strconv.Atoi(m[1] + m[2])
			mine, inTrace, inIRQ, afterIRQ = n == cpu, false, false, false
		}
		t := strings.TrimSpace(line)
		switch {
		case !mine:
		case traceRE.MatchString(line):
			inTrace = true
		case t == "<IRQ>":
			inIRQ = true
		case t == "</IRQ>":
			inIRQ, afterIRQ = false, true
		case inTrace || one:
			if f := ripFunc(line); f != "" {
				rips = append(rips, f)
			} else if m := frameRE.FindStringSubmatch(line); m != nil && m[1] == "" && inTrace && (afterIRQ || one && !inIRQ) {
				after = append(after, m[2])
			}
		}
	}
	return append(rips, after...)
}

// lockFrames returns the functions at which lockdep saw the locks it
// complains about, from the part of the report before the other locks and
// the stacks.
func lockFrames(body []string) []string {
	var frames []string
	for _, line := range body[1:] {
		if lockEndRE.MatchString(strings.TrimSpace(line)) {
			break
		}
		if m := lockAtRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			frames = append(frames, m[1])
		}
	}
	return frames
}

// access returns "Read" or "Write" for a KASAN report, or "".
func access(body []string) string {
	for _, line := range body {
		if m := accessRE.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	}
	return ""
}
