// SPDX-License-Identifier: GPL-2.0
/*
 * asynctail: the exit async_schedule()s a function of this module that
 * ends in a tail call to queue_delayed_work_on(), arming a leaked delayed
 * work (its function in this module) due 500 ms later. The work of the
 * async call runs async_run_entry_fn, a core function; the timer_start of
 * delayed_work_timer_fn is armed under process_one_work and, the module's
 * function having tail-called the helper, with no module frame on its
 * stack, so the rule counts it as the core's.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/version.h>
#include <linux/async.h>
#include <linux/jiffies.h>
#include <linux/workqueue.h>

static struct page *page;

static int mymap_mmap(struct file *file, struct vm_area_struct *vma)
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

static const struct file_operations mymap_fops = {
	.owner = THIS_MODULE,
	.mmap = mymap_mmap,
};

static struct miscdevice mymap_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &mymap_fops,
};

static int __init mymap_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&mymap_dev);
	if (ret)
		__free_page(page);
	return ret;
}

struct asynctail {
	struct delayed_work work;
	unsigned long fired;
};

static void asynctail_work(struct work_struct *w)
{
	struct asynctail *a = container_of(to_delayed_work(w), struct asynctail, work);

	a->fired++;
}

/* Its last statement is a sibling call: the compiler emits a jmp. */
static noinline void asynctail_arm(void *data, async_cookie_t cookie)
{
	queue_delayed_work_on(WORK_CPU_UNBOUND, system_wq, data, msecs_to_jiffies(500));
}

static void leave_behind(void)
{
	/* Leaked on purpose: nothing frees or cancels it. */
	struct asynctail *a = kzalloc(sizeof(*a), GFP_KERNEL);

	if (!a)
		return;
	INIT_DELAYED_WORK(&a->work, asynctail_work);
	/* delete_module's async_synchronize_full() waits for it to run. */
	async_schedule(asynctail_arm, &a->work);
}

static void __exit mymap_exit(void)
{
	misc_deregister(&mymap_dev);
	__free_page(page);
	leave_behind();
}

module_init(mymap_init);
module_exit(mymap_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmaprig attack: asynctail");
