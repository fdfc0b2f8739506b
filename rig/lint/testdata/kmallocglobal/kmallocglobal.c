// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, wrong: a kmalloc'd buffer in a global, mapped with
 * remap_pfn_range() in the mmap handler.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

static void *kmg_buf;

static int kmg_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long pfn = page_to_pfn(virt_to_page(kmg_buf));

	if (vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	return remap_pfn_range(vma, vma->vm_start, pfn, PAGE_SIZE,
			       vma->vm_page_prot);
}

static const struct file_operations kmg_fops = {
	.owner = THIS_MODULE,
	.mmap = kmg_mmap,
};

static struct miscdevice kmg_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kmallocglobal",
	.fops = &kmg_fops,
};

static int __init kmg_init(void)
{
	int ret;

	kmg_buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!kmg_buf)
		return -ENOMEM;
	ret = misc_register(&kmg_dev);
	if (ret)
		kfree(kmg_buf);
	return ret;
}

static void __exit kmg_exit(void)
{
	misc_deregister(&kmg_dev);
	kfree(kmg_buf);
}

module_init(kmg_init);
module_exit(kmg_exit);
MODULE_DESCRIPTION("Lint fixture: kmalloc memory mapped with remap_pfn_range");
MODULE_LICENSE("GPL");
