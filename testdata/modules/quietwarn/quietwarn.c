// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct mymap that WARNs in its mmap (at=mmap) or in its exit
 * (at=exit). With lower=1 its init first lowers the console's loglevel to
 * KERN_EMERG, so that the console no longer shows warnings: the rig must
 * catch the WARN from the kernel's log and taint flags, not the console.
 */
#include <linux/bug.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/string.h>
#include <linux/version.h>

static char *at = "mmap";
module_param(at, charp, 0444);
MODULE_PARM_DESC(at, "where it WARNs: mmap or exit");

static bool lower;
module_param(lower, bool, 0444);
MODULE_PARM_DESC(lower, "lower console_loglevel to KERN_EMERG at init");

static struct page *page;

static int quietwarn_mmap(struct file *file, struct vm_area_struct *vma)
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
	WARN_ON(!strcmp(at, "mmap"));
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations quietwarn_fops = {
	.owner = THIS_MODULE,
	.mmap = quietwarn_mmap,
};

static struct miscdevice quietwarn_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &quietwarn_fops,
};

static int __init quietwarn_init(void)
{
	u8 *data;
	int i, ret;

	if (lower)
		console_loglevel = CONSOLE_LOGLEVEL_SILENT + 1;
	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&quietwarn_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit quietwarn_exit(void)
{
	misc_deregister(&quietwarn_dev);
	__free_page(page);
	WARN_ON(!strcmp(at, "exit"));
}

module_init(quietwarn_init);
module_exit(quietwarn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmaprig fixture: a WARN the console is told not to show");
