// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct mymap whose exit path, after 200 ms, prints a kernel
 * WARNING.  The unload itself succeeds, and the end of the run follows at
 * once, so the report reaches the console about when the last events reach
 * the results port: the rig must read the console until QEMU exits.
 */
#include <linux/bug.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static struct page *page;

static int exitwarn_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations exitwarn_fops = {
	.owner = THIS_MODULE,
	.mmap = exitwarn_mmap,
};

static struct miscdevice exitwarn_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &exitwarn_fops,
};

static int __init exitwarn_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&exitwarn_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static noinline void exitwarn_release_all(void)
{
	msleep(200);
	WARN(1, "exitwarn: the exit path found a leaked reference\n");
}

static void __exit exitwarn_exit(void)
{
	misc_deregister(&exitwarn_dev);
	exitwarn_release_all();
	__free_page(page);
}

module_init(exitwarn_init);
module_exit(exitwarn_exit);
MODULE_LICENSE("GPL");
