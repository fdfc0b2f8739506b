// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: the page holds 9..0, and a thread floods the console with
 * printk from load to unload, so that kernel text lands in the middle of
 * every line the guest writes.  The wrong bytes must fail the run every
 * time, however the console is cut.
 */
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static struct page *page;
static struct task_struct *flooder;

static int floodwrong_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations floodwrong_fops = {
	.owner = THIS_MODULE,
	.mmap = floodwrong_mmap,
};

static struct miscdevice floodwrong_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &floodwrong_fops,
};

static int flood(void *unused)
{
	unsigned long n = 0;

	while (!kthread_should_stop()) {
		/* Half lines, whole lines, and marker-like text. */
		pr_cont("flood %lu ", n);
		pr_info("flood %lu @mmaprig@ end {\"ok\":true} ok 1 reader_output\n", n);
		pr_info("{\"seq\":%lu,\"event\":\"end\",\"ok\":true}\n", n++);
		/* As fast as the console takes it, yielding to the checks. */
		cond_resched();
	}
	return 0;
}

static int __init floodwrong_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = 9 - i;
	flooder = kthread_run(flood, NULL, "floodwrong");
	if (IS_ERR(flooder)) {
		__free_page(page);
		return PTR_ERR(flooder);
	}
	ret = misc_register(&floodwrong_dev);
	if (ret) {
		kthread_stop(flooder);
		__free_page(page);
	}
	return ret;
}

static void __exit floodwrong_exit(void)
{
	misc_deregister(&floodwrong_dev);
	kthread_stop(flooder);
	__free_page(page);
}

module_init(floodwrong_init);
module_exit(floodwrong_exit);
MODULE_LICENSE("GPL");
