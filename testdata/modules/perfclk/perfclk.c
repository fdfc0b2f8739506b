// SPDX-License-Identifier: GPL-2.0
/*
 * perfclk: the exit creates a kernel perf counter (cpu-clock, one sample
 * every 500 ms) whose overflow handler is in this module, and never
 * releases it. The counter's hrtimer runs perf_swevent_hrtimer, a core
 * function, so hrtimer_start is filtered out; 500 ms after the unload the
 * hrtimer calls the handler in freed module text.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/version.h>
#include <linux/perf_event.h>

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

static unsigned long overflows;

static void perfclk_overflow(struct perf_event *event, struct perf_sample_data *data,
			     struct pt_regs *regs)
{
	overflows++;
}

static void leave_behind(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.size = sizeof(attr),
		.sample_period = 500 * NSEC_PER_MSEC,
	};
	struct perf_event *ev;

	/* Leaked on purpose: nothing releases it. */
	ev = perf_event_create_kernel_counter(&attr, 0, NULL, perfclk_overflow, NULL);
	if (IS_ERR(ev))
		pr_err("perfclk: perf_event_create_kernel_counter: %ld\n", PTR_ERR(ev));
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
MODULE_DESCRIPTION("mmaprig attack: perfclk");
