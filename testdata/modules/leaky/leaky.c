// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct mymap, except that every load takes one more page
 * that it never frees: a leak of a page per load/unload cycle.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static struct page *page;

static int leaky_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations leaky_fops = {
	.owner = THIS_MODULE,
	.mmap = leaky_mmap,
};

static struct miscdevice leaky_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &leaky_fops,
};

static int __init leaky_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	/* The leak: a page of state that the exit path forgets. */
	if (!alloc_page(GFP_KERNEL))
		pr_warn("leaky: no page to leak\n");
	ret = misc_register(&leaky_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit leaky_exit(void)
{
	misc_deregister(&leaky_dev);
	__free_page(page);
}

module_init(leaky_init);
module_exit(leaky_exit);
MODULE_LICENSE("GPL");
