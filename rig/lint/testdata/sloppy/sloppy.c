// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: something for each lint tool to find, on a known line.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

/* sparse: not static, and declared in no header. */
int sloppy_opens;

static void *sloppy_buf;

static int sloppy_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long pfn = virt_to_phys(sloppy_buf) >> PAGE_SHIFT;

	sloppy_opens++;
	return remap_pfn_range(vma, vma->vm_start, pfn, PAGE_SIZE,
			       vma->vm_page_prot);
}

static const struct file_operations sloppy_fops = {
	.owner = THIS_MODULE,
	.mmap = sloppy_mmap,
};

static struct miscdevice sloppy_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "sloppy",
	.fops = &sloppy_fops,
};

static int __init sloppy_init(void)
{
	sloppy_buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (!sloppy_buf)
		return -ENOMEM;
	printk(KERN_INFO "sloppy: loaded\n");
	return misc_register(&sloppy_dev);
}

static void __exit sloppy_exit(void)
{
	misc_deregister(&sloppy_dev);
	if (sloppy_buf)
		kfree(sloppy_buf);
}

module_init(sloppy_init);
module_exit(sloppy_exit);
MODULE_DESCRIPTION("Lint fixture: one finding per tool");
MODULE_LICENSE("GPL");
