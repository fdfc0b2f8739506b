// SPDX-License-Identifier: GPL-2.0
/*
 * timerswap: the exit arms a leaked timer_list with a core function
 * (kfree), which the trace's filter drops, then writes this module's
 * function into timer->function while the timer waits in the wheel. 500 ms
 * after the unload call_timer_fn calls it in freed module text.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/version.h>
#include <linux/jiffies.h>
#include <linux/timer.h>

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

struct timerswap {
	struct timer_list timer;
	unsigned long fired;
};

static void timerswap_fn(struct timer_list *t)
{
	struct timerswap *s = from_timer(s, t, timer);

	s->fired++;
}

static void leave_behind(void)
{
	/* Leaked on purpose: nothing frees or deletes it. */
	struct timerswap *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return;
	/*
	 * Armed with a core function (the trace's filter drops it), then
	 * given this module's function while it waits in the wheel.
	 */
	timer_setup(&s->timer, (void (*)(struct timer_list *))(void *)kfree, 0);
	mod_timer(&s->timer, jiffies + msecs_to_jiffies(500));
	WRITE_ONCE(s->timer.function, timerswap_fn);
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
MODULE_DESCRIPTION("mmaprig attack: timerswap");
