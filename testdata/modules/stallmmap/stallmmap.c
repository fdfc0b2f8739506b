// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: its mmap handler does not return.  mode=spin (the default) spins
 * for two minutes with preemption off: with a second CPU to run RCU's
 * grace-period kthread, RCU reports a stall after 21 s; with one CPU, the
 * guest freezes.  mode=poll polls an I/O port as long, as a driver waits on
 * its device, but yields the CPU and gives up when its caller is killed:
 * the guest stays busy, and answers, while each port read costs the
 * emulator far more than an instruction's worth of the guest's clock (see
 * -skip-idle).  mode=sleep
 * sleeps uninterruptibly forever: the guest runs on, but the process that
 * maps the device can never be killed.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/wait.h>

static char *mode = "spin";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "how mmap never returns: spin, poll or sleep");

static DECLARE_WAIT_QUEUE_HEAD(stallmmap_never);

static int stallmmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	u64 end;

	if (!strcmp(mode, "sleep")) {
		wait_event(stallmmap_never, false);
		return -EIO;
	}
	end = ktime_get_mono_fast_ns() + 120 * NSEC_PER_SEC;
	if (!strcmp(mode, "poll")) {
		while (ktime_get_mono_fast_ns() < end) {
			int i;

			if (fatal_signal_pending(current))
				return -EINTR;
			for (i = 0; i < 1000; i++)
				inb(0x80);
			cond_resched();
		}
		return -EIO;
	}
	preempt_disable();
	while (ktime_get_mono_fast_ns() < end)
		cpu_relax();
	preempt_enable();
	return -EIO;
}

static const struct file_operations stallmmap_fops = {
	.owner = THIS_MODULE,
	.mmap = stallmmap_mmap,
};

static struct miscdevice stallmmap_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &stallmmap_fops,
};

module_misc_device(stallmmap_dev);
MODULE_LICENSE("GPL");
