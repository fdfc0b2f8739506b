// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct mymap whose release schedules delayed work that
 * prints a kernel WARNING 200 ms after the last close, after the last
 * program has reported.  The exit path waits for the work before it
 * cancels it, as a driver that drains its queue would.
 */
#include <linux/bug.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/workqueue.h>

static struct page *page;

static void latework_fn(struct work_struct *work)
{
	WARN(1, "latework: state checked after the last close\n");
}

static DECLARE_DELAYED_WORK(latework, latework_fn);

static int latework_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	return vm_insert_page(vma, vma->vm_start, page);
}

static int latework_release(struct inode *inode, struct file *file)
{
	mod_delayed_work(system_wq, &latework, msecs_to_jiffies(200));
	return 0;
}

static const struct file_operations latework_fops = {
	.owner = THIS_MODULE,
	.mmap = latework_mmap,
	.release = latework_release,
};

static struct miscdevice latework_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &latework_fops,
};

static int __init latework_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&latework_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit latework_exit(void)
{
	misc_deregister(&latework_dev);
	msleep(400);
	cancel_delayed_work_sync(&latework);
	__free_page(page);
}

module_init(latework_init);
module_exit(latework_exit);
MODULE_LICENSE("GPL");
