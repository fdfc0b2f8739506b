package kreport

import (
	"regexp"
	"strings"
)

// source is a place in a report where the guilty frame may be named.
type source int

const (
	// fromHeader is the function the header line names: "WARNING: ... at
	// file.c:12 func+0x1/0x2", "BUG: KASAN: ... in func+0x1/0x2".
	fromHeader source = iota
	// fromLock is the function at which lockdep saw the lock it complains
	// about: "x/12 is trying to acquire lock:\n ... at: func+0x1/0x2".
	fromLock
	// fromRIP is the first "RIP: 0010:func+0x1/0x2" (x86) or
	// "pc : func+0x1/0x2" (arm64): where the CPU trapped.
	fromRIP
	// fromStall is the first RIP: printed inside a stack trace: the code a
	// timer interrupt found running, in stall reports.
	fromStall
	// fromTrace is the first stack trace ("Call Trace:", "backtrace:").
	fromTrace
)

// Where to look for the guilty frame, by kind of report, in order.
var (
	// Faults: the trapping instruction, then its callers.
	oopsSources = []source{fromHeader, fromRIP, fromTrace}
	// Sanitizers and debug checks: the header names the faulting access;
	// there is no RIP: line, and the trace starts in the checker.
	traceSources = []source{fromHeader, fromTrace}
	// Lockdep: the lock it complains about, then the stack of the task.
	lockSources = []source{fromLock, fromTrace}
	// Stalls and lockups: the interrupted code, not the interrupt.
	stallSources = []source{fromStall, fromRIP, fromTrace}
)

// rule recognises one kind of report header, and says how to title it.
type rule struct {
	kind string
	// re matches the header at the start of a kernel record. A submatch
	// named func is a function the header names.
	re *regexp.Regexp
	// title is the title when no frame is found; ${name} expands re's
	// submatches. It is normalised.
	title string
	// named is the title when a frame is found: {frame} is the frame and
	// {access} " Read" or " Write" from a KASAN report. "" means
	// title + " in {frame}"; "-" means the title never names a frame (the
	// report's Frame is still set).
	named string
	// sources say where the guilty frame may be found; nil means nowhere.
	sources []source
	// skip matches more frames to skip for this kind of report.
	skip  *regexp.Regexp
	panic bool
	// follow is true for headers that continue the report before them
	// ("Oops: ..." after "BUG: unable to handle page fault", "Kernel
	// panic" after a WARNING with panic_on_warn), so they do not end it.
	follow bool
}

// fn matches a symbolised function, "func+0x1c/0x30", capturing its name.
const fn = `(?P<func>[A-Za-z_][A-Za-z0-9_.]*)\+0x[0-9a-f]+/0x[0-9a-f]+`

// anchor compiles a regexp that matches at the start of a text only.
func anchor(s string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + s + `)`) }

// ignored are records that match a rule but are not reports.
var ignored = []*regexp.Regexp{
	// sshd's warning about a missing moduli file (a user-space message
	// that kernels without PRINTK_TIME cannot tell from printk).
	anchor(`WARNING: /etc/ssh/moduli does not exist`),
	// A harmless notice printed at boot on some machines.
	anchor(`WARNING: workqueue cpumask: online intersect > possible intersect`),
	// debugobjects turning itself off for want of memory: the guest ran
	// short, which is no report of a bug (the settle window still runs).
	anchor(`ODEBUG: Out of memory\. ODEBUG disabled`),
}

// rules are the report headers. The first that matches wins, so specific
// forms come before general ones.
var rules = []*rule{
	// Sanitizers. "Read of size 8" on a later line gives {access}.
	{kind: "KASAN", re: anchor(`BUG: KASAN: (?P<what>double-free or invalid-free|double-free|invalid-free) in ` + fn),
		title: "KASAN: ${what}", sources: traceSources},
	{kind: "KASAN", re: anchor(`BUG: KASAN: (?P<what>[a-z-]+) in ` + fn),
		title: "KASAN: ${what}", named: "KASAN: ${what}{access} in {frame}", sources: traceSources},
	{kind: "KASAN", re: anchor(`BUG: KASAN: (?P<what>[a-z-]+)`),
		title: "KASAN: ${what}", named: "KASAN: ${what}{access} in {frame}", sources: traceSources},
	{kind: "KFENCE", re: anchor(`BUG: KFENCE: (?P<what>[a-z- ]+?) in ` + fn),
		title: "KFENCE: ${what}", sources: traceSources},
	{kind: "KFENCE", re: anchor(`BUG: KFENCE: (?P<what>[a-z- ]+)`),
		title: "KFENCE: ${what}", sources: traceSources},
	{kind: "KMSAN", re: anchor(`BUG: KMSAN: (?P<what>[a-z-]+)(?: in ` + fn + `)?`),
		title: "KMSAN: ${what}", sources: traceSources},
	// KCSAN names both racing functions: "data-race in foo / bar".
	{kind: "KCSAN", re: anchor(`BUG: KCSAN: (?P<what>[a-z-]+ in (?P<func>[A-Za-z_][A-Za-z0-9_.]*).*)`),
		title: "KCSAN: ${what}", named: "-", sources: traceSources},
	{kind: "KCSAN", re: anchor(`BUG: KCSAN: (?P<what>.+)`),
		title: "KCSAN: ${what}", named: "-"},
	{kind: "UBSAN", re: anchor(`UBSAN: (?P<what>[A-Za-z -]+?) in (?P<src>\S+)`),
		title: "UBSAN: ${what} in ${src}", named: "UBSAN: ${what} in {frame}", sources: traceSources},
	{kind: "UBSAN", re: anchor(`UBSAN: (?P<what>.+)`),
		title: "UBSAN: ${what}", sources: traceSources},

	// Lockdep. The lock it complains about names the culprit; the titles
	// are syzkaller's, so that a search on syzbot finds the same bugs.
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|INFO): possible circular locking dependency detected`),
		title: "WARNING: possible circular locking dependency detected", named: "possible deadlock in {frame}", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|INFO): possible recursive locking detected`),
		title: "WARNING: possible recursive locking detected", named: "possible deadlock in {frame}", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|INFO): possible irq lock inversion dependency detected`),
		title: "WARNING: possible irq lock inversion dependency detected", named: "possible deadlock in {frame}", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|INFO): (?P<a>[A-Z]+)-safe -> (?P<b>[A-Z]+)-unsafe lock order detected`),
		title: "WARNING: ${a}-safe -> ${b}-unsafe lock order detected", named: "possible deadlock in {frame}", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|INFO): inconsistent lock state`),
		title: "WARNING: inconsistent lock state", named: "inconsistent lock state in {frame}", sources: lockSources},
	{kind: "lockdep", re: anchor(`\[ BUG: Invalid wait context \]`),
		title: "BUG: Invalid wait context", sources: lockSources},
	// Unlocking a lock that is not held is a real bug, not noise: lockdep
	// prints the unlocker and turns itself off.
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|BUG): bad unlock balance detected!`),
		title: "WARNING: bad unlock balance", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:\[ )?(?:WARNING|BUG): held lock freed!`),
		title: "WARNING: held lock freed", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:WARNING|BUG): lock held when returning to user space!`),
		title: "WARNING: lock held when returning to user space", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:WARNING|BUG): \S+/\d+ still has locks held!`),
		title: "WARNING: still has locks held", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:WARNING|BUG): Nested lock was not taken`),
		title: "WARNING: Nested lock was not taken", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:WARNING|BUG): bad contention detected!`),
		title: "WARNING: bad contention", sources: lockSources},
	{kind: "lockdep", re: anchor(`(?:WARNING|INFO): suspicious RCU usage`),
		title: "WARNING: suspicious RCU usage", sources: traceSources,
		skip: anchor(`(?:__)?rcu_|rcu_read_lock_held|rcu_dereference`)},
	{kind: "lockdep", re: anchor(`INFO: trying to register non-static key`),
		title: "INFO: trying to register non-static key", sources: traceSources,
		skip: anchor(`register_lock_class|__lock_acquire|lock_acquire|assign_lock_key|look_up_lock_class`)},
	// lockdep ran out of room and turned itself off.
	{kind: "lockdep", re: anchor(`BUG: (?P<what>MAX_[A-Z_]+ too low!)`),
		title: "BUG: ${what}"},
	{kind: "lockdep", re: anchor(`WARNING: CPU: \d+ PID: \d+ at (?P<src>\S*kernel/locking/\S+) ` + fn),
		title: "WARNING: locking bug", sources: oopsSources},

	// Faults.
	{kind: "BUG", re: anchor(`BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference)`),
		title: "BUG: kernel NULL pointer dereference", sources: oopsSources},
	{kind: "BUG", re: anchor(`BUG: (?:unable to handle page fault|unable to handle kernel paging request)`),
		title: "BUG: unable to handle page fault", sources: oopsSources},
	// The kernel prints this header in two pieces; the second can be lost.
	{kind: "BUG", re: anchor(`BUG: unable to handle kernel`),
		title: "BUG: unable to handle kernel", sources: oopsSources},
	{kind: "BUG", re: anchor(`BUG: (?:\w+ )?stack guard page was hit`),
		title: "BUG: stack guard page was hit", sources: oopsSources},
	// arm64 and other architectures.
	{kind: "BUG", re: anchor(`Unable to handle kernel NULL pointer dereference`),
		title: "BUG: kernel NULL pointer dereference", sources: oopsSources},
	{kind: "BUG", re: anchor(`Unable to handle kernel paging request`),
		title: "BUG: unable to handle page fault", sources: oopsSources},
	{kind: "BUG", re: anchor(`Unable to handle kernel (?P<what>.+?)(?: at virtual address.*)?$`),
		title: "BUG: unable to handle kernel ${what}", sources: oopsSources},
	// x86 die() headers; 6.11 and later put "Oops: " in front of them.
	{kind: "GPF", re: anchor(`(?:Oops: )?general protection fault`),
		title: "general protection fault", sources: oopsSources},
	{kind: "Oops", re: anchor(`(?:Oops: )?divide error: `),
		title: "divide error", sources: oopsSources},
	{kind: "Oops", re: anchor(`(?:Oops: )?stack segment: `),
		title: "stack segment fault", sources: oopsSources},
	{kind: "Oops", re: anchor(`(?:PANIC: )?double fault`),
		title: "PANIC: double fault", sources: oopsSources},
	{kind: "Oops", re: anchor(`(?:Oops: )?invalid opcode: `),
		title: "invalid opcode", sources: oopsSources, follow: true},
	{kind: "Oops", re: anchor(`(?:Oops: )?kernel stack overflow`),
		title: "kernel stack overflow", sources: oopsSources, follow: true},
	{kind: "Oops", re: anchor(`Internal error: (?P<what>.*?): [0-9a-f]+ \[#\d+\]`),
		title: "Internal error: ${what}", sources: oopsSources, follow: true},
	{kind: "Oops", re: anchor(`Oops(?:: | - )`),
		title: "Oops", sources: oopsSources, follow: true},

	// BUG_ON and data corruption checks.
	{kind: "corruption", re: anchor(`(?:list_add|list_del|list_add double add)(?: corruption|:)`),
		title: "BUG: corrupted list", sources: traceSources, skip: listSkip},
	{kind: "corruption", re: anchor(`kernel BUG at (?P<src>\S*lib/list_debug\.c)`),
		title: "BUG: corrupted list", sources: oopsSources, skip: listSkip, follow: true},
	{kind: "corruption", re: anchor(`WARNING: CPU: \d+ PID: \d+ at (?P<src>\S*lib/list_debug\.c)`),
		title: "BUG: corrupted list", sources: oopsSources, skip: listSkip, follow: true},
	{kind: "BUG", re: anchor(`kernel BUG at (?P<src>\S*mm/usercopy\.c)`),
		title: "BUG: bad usercopy", sources: oopsSources},
	{kind: "BUG", re: anchor(`kernel BUG at (?P<src>[^\s!]+)`),
		title: "kernel BUG at ${src}!", named: "-", sources: oopsSources},

	// debugobjects: a timer, work or other object still active when the
	// memory holding it was freed (a module's memory at unload, a kfree),
	// or used in the wrong state. The hint is the object's function (the
	// timer's or work's callback), when it still has a symbol.
	{kind: "ODEBUG", re: anchor(`ODEBUG: (?P<what>\w+ \w+) \(active state \d+\)(?: object: \S+)? object type: (?P<type>\S+) hint: (?:` + fn + `)?`),
		title: "ODEBUG: ${what} ${type}", named: "ODEBUG: ${what} ${type} in {frame}", sources: []source{fromHeader}},
	{kind: "ODEBUG", re: anchor(`ODEBUG: (?P<what>.+?)(?: \(|$)`),
		title: "ODEBUG: ${what}"},

	// Sleeping and scheduling in the wrong context.
	{kind: "BUG", re: anchor(`BUG: sleeping function called from invalid context`),
		title: "BUG: sleeping function called from invalid context", sources: traceSources},
	{kind: "BUG", re: anchor(`BUG: scheduling while atomic`),
		title: "BUG: scheduling while atomic", sources: traceSources},
	{kind: "BUG", re: anchor(`BUG: using (?P<what>\S+\(\)) in preemptible`),
		title: "BUG: using ${what} in preemptible code", sources: traceSources},
	{kind: "BUG", re: anchor(`BUG: spinlock (?P<what>lockup suspected|already unlocked|recursion|bad magic|wrong owner|wrong CPU)`),
		title: "BUG: spinlock ${what}", sources: traceSources},

	// Memory state checks.
	{kind: "BUG", re: anchor(`BUG: Bad page (?P<what>state|map)`),
		title: "BUG: Bad page ${what}", sources: traceSources,
		skip: anchor(`bad_page|free_page_is_bad|free_pages_prepare|free_tail_page\w*|print_bad_pte`)},
	{kind: "BUG", re: anchor(`BUG: (?P<what>Bad rss-counter state|non-zero nr_\w+ on freeing mm)`),
		title: "BUG: ${what}"},
	{kind: "BUG", re: anchor(`BUG: workqueue lockup`),
		title: "BUG: workqueue lockup"},
	{kind: "memory leak", re: anchor(`BUG: memory leak`),
		title: "memory leak", sources: []source{fromTrace}},
	{kind: "memory leak", re: anchor(`(?:kmemleak: )?unreferenced object 0x[0-9a-f]+ \(size \d+\)`),
		title: "memory leak", sources: []source{fromTrace}},
	{kind: "memory leak", re: anchor(`kmemleak: \d+ new suspected memory leaks`),
		title: "kmemleak: suspected memory leaks"},
	// SLUB's own consistency checks (slub_debug).
	{kind: "BUG", re: anchor(`BUG [\w-]+ \([^)]*\): (?P<what>.+)`),
		title: "BUG: ${what}", sources: traceSources},

	// Stalls, lockups and hangs.
	{kind: "soft lockup", re: anchor(`(?:(?:NMI )?watchdog: )?BUG: soft lockup`),
		title: "BUG: soft lockup", sources: stallSources},
	{kind: "hard lockup", re: anchor(`(?:NMI )?watchdog: Watchdog detected hard LOCKUP`),
		title: "watchdog: hard LOCKUP", sources: stallSources},
	{kind: "RCU stall", re: anchor(`(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?`),
		title: "INFO: rcu detected stall", sources: stallSources},
	{kind: "hung task", re: anchor(`INFO: task \S.*:\d+ blocked for more than \d+ seconds`),
		title: "INFO: task hung", sources: []source{fromTrace}, skip: hangSkip},

	// Panics. Their text names the cause; only the stack protector's
	// names a function.
	{kind: "panic", re: anchor(`Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: ` + fn),
		title: "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted", sources: []source{fromHeader},
		panic: true, follow: true},
	{kind: "panic", re: anchor(`Kernel panic - not syncing: Attempted to kill init!`),
		title: "Kernel panic - not syncing: Attempted to kill init!", named: "-", panic: true, follow: true},
	{kind: "panic", re: anchor(`Kernel panic - not syncing: (?P<what>.*)`),
		title: "Kernel panic - not syncing: ${what}", named: "-", sources: []source{fromTrace},
		panic: true, follow: true},

	// WARNINGs, most specific first.
	{kind: "WARNING", re: anchor(`WARNING: CPU: \d+ PID: \d+ at (?P<src>\S+) (?P<func>refcount_\w+)`),
		title: "WARNING: refcount bug", sources: oopsSources, skip: anchor(`refcount_`)},
	{kind: "WARNING", re: anchor(`WARNING: CPU: \d+ PID: \d+ at (?P<src>\S*mm/usercopy\.c)`),
		title: "WARNING: bad usercopy", sources: oopsSources},
	{kind: "WARNING", re: anchor(`WARNING: CPU: \d+ PID: \d+ at (?P<src>\S*lib/kobject\.c)`),
		title: "WARNING: kobject bug", sources: oopsSources, skip: anchor(`kobject_`)},
	{kind: "WARNING", re: anchor(`WARNING: CPU: \d+ PID: \d+ at (?:(?P<src>\S+:\d+) )?` + fn),
		title: "WARNING at ${src}", named: "WARNING in {frame}", sources: oopsSources},
	{kind: "WARNING", re: anchor(`WARNING: at (?P<src>\S+) (?P<func>\w+)\(\)`),
		title: "WARNING at ${src}", named: "WARNING in {frame}", sources: oopsSources},
	// The unwinder's complaints come with another report.
	{kind: "WARNING", re: anchor(`WARNING: kernel stack (?:regs|frame pointer) at`),
		title: "WARNING: kernel stack regs has bad value"},

	// Anything else that starts like a report: the header is the title.
	{kind: "BUG", re: anchor(`BUG: (?P<what>.+)`), title: "BUG: ${what}", sources: oopsSources},
	{kind: "WARNING", re: anchor(`WARNING: (?P<what>.+)`), title: "WARNING: ${what}", sources: oopsSources},
}

// listSkip skips the list debugging helpers in list corruption reports.
var listSkip = anchor(`__list_|list_(?:add|del)`)

// hangSkip skips the frames a task blocks in, which say nothing about why
// it blocked.
var hangSkip = regexp.MustCompile(`sched|_lock|_slowlock|^down|^__down|completion|^kthread|wait|synchronize|context_switch|__switch_to|msleep|sleep`)

// match is a header found in a record.
type match struct {
	rule *rule
	text string // the record
	sub  []int  // rule.re's submatch indexes in text
}

// starts are how the headers in rules start. Most console lines start
// with none of them, which saves trying each rule on them.
var starts = []string{
	"[ ", "BUG", "WARNING", "INFO", "UBSAN", "Unable", "Oops", "general", "divide", "stack",
	"PANIC", "double", "invalid", "kernel", "Kernel", "Internal", "list_", "unreferenced",
	"kmemleak", "watchdog", "NMI", "rcu", "ODEBUG",
}

// mayStart reports whether text starts like a header in rules.
func mayStart(text string) bool {
	for _, p := range starts {
		if strings.HasPrefix(text, p) {
			return true
		}
	}
	return false
}

// matchHeader finds the rule that a kernel record's text starts a report
// for.
func matchHeader(text string) (match, bool) {
	if !mayStart(text) {
		return match{}, false
	}
	for _, ig := range ignored {
		if ig.MatchString(text) {
			return match{}, false
		}
	}
	for _, r := range rules {
		if sub := r.re.FindStringSubmatchIndex(text); sub != nil {
			return match{rule: r, text: text, sub: sub}, true
		}
	}
	return match{}, false
}

// group returns the submatch named name, or "".
func (m match) group(name string) string {
	i := m.rule.re.SubexpIndex(name)
	if i < 0 || m.sub[2*i] < 0 {
		return ""
	}
	return m.text[m.sub[2*i]:m.sub[2*i+1]]
}

// header returns the Header with the provisional title: the header's own
// function, if it names one that is not skipped.
func (m match) header() Header {
	frame := ""
	if f := funcName(m.group("func")); f != "" && !m.rule.skipped(f) {
		frame = f
	}
	return Header{Kind: m.rule.kind, Title: m.title(frame, ""), Panic: m.rule.panic}
}

// title expands the rule's title for frame and access ("Read", "Write"
// or "").
func (m match) title(frame, access string) string {
	r := m.rule
	tmpl := r.named
	switch {
	case frame == "" || tmpl == "-":
		tmpl = r.title
	case tmpl == "":
		tmpl = r.title + " in {frame}"
	}
	s := normalize(string(r.re.ExpandString(nil, tmpl, m.text, m.sub)))
	if access != "" {
		access = " " + access
	}
	return strings.NewReplacer("{frame}", frame, "{access}", access).Replace(s)
}
