// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct mymap whose exit leaves a timer or a delayed work
 * armed, the classic missing del_timer_sync()/cancel_delayed_work_sync().
 * Its callback lies in the module's text, so it runs after the module is
 * freed and the kernel oopses, delay_ms after the unload.
 *
 *   what=timer|work     a timer_list, or a delayed_work on system_wq
 *   where=static|heap   in the module's own memory (freed at unload, so
 *                       debugobjects reports it then), or in a kmalloc'd
 *                       struct that the exit leaks (only its firing shows)
 *   delay_ms=N          when it fires, counted from the exit
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/version.h>
#include <linux/workqueue.h>

static char *what = "timer";
module_param(what, charp, 0444);
MODULE_PARM_DESC(what, "what the exit leaves armed: timer or work");

static char *where = "static";
module_param(where, charp, 0444);
MODULE_PARM_DESC(where, "where it lives: static (module memory) or heap (leaked)");

static unsigned int delay_ms = 200;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, "when it fires after the exit, in milliseconds");

struct leftover {
	struct timer_list timer;
	struct delayed_work work;
	unsigned long fired;
};

static struct leftover static_left;
static struct page *page;

static void leftover_timer_fn(struct timer_list *t)
{
	struct leftover *l = from_timer(l, t, timer);

	l->fired++;
}

static void leftover_work_fn(struct work_struct *w)
{
	struct leftover *l = container_of(to_delayed_work(w), struct leftover, work);

	l->fired++;
}

static int leftover_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTEXPAND);
#else
	vma->vm_flags |= VM_DONTEXPAND;
#endif
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations leftover_fops = {
	.owner = THIS_MODULE,
	.mmap = leftover_mmap,
};

static struct miscdevice leftover_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &leftover_fops,
};

static int __init leftover_init(void)
{
	u8 *data;
	int i, ret;

	if (strcmp(what, "timer") && strcmp(what, "work"))
		return -EINVAL;
	if (strcmp(where, "static") && strcmp(where, "heap"))
		return -EINVAL;
	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&leftover_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit leftover_exit(void)
{
	struct leftover *l = &static_left;
	unsigned long delay = msecs_to_jiffies(delay_ms);

	misc_deregister(&leftover_dev);
	__free_page(page);
	if (!strcmp(where, "heap")) {
		/* Leaked on purpose: nothing frees it, so only its firing shows. */
		l = kzalloc(sizeof(*l), GFP_KERNEL);
		if (!l)
			return;
	}
	if (!strcmp(what, "timer")) {
		timer_setup(&l->timer, leftover_timer_fn, 0);
		mod_timer(&l->timer, jiffies + delay);
	} else {
		INIT_DELAYED_WORK(&l->work, leftover_work_fn);
		schedule_delayed_work(&l->work, delay);
	}
}

module_init(leftover_init);
module_exit(leftover_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmaprig fixture: a timer or work left armed at unload");
