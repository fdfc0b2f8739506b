// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: the seed's driver, bugs and all. Its mmap maps whatever length
 * it is asked for from a kmalloc'd buffer, so a 2-page request hands user
 * space a page of memory that is not the driver's.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

static u8 *buffer;

static int twopages_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long size = vma->vm_end - vma->vm_start;

	return remap_pfn_range(vma, vma->vm_start, virt_to_phys(buffer) >> PAGE_SHIFT,
			       size, vma->vm_page_prot);
}

static const struct file_operations twopages_fops = {
	.owner = THIS_MODULE,
	.mmap = twopages_mmap,
};

static struct miscdevice twopages_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &twopages_fops,
};

static int __init twopages_init(void)
{
	int i, ret;

	buffer = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	for (i = 0; i < 10; i++)
		buffer[i] = i;
	ret = misc_register(&twopages_dev);
	if (ret)
		kfree(buffer);
	return ret;
}

static void __exit twopages_exit(void)
{
	misc_deregister(&twopages_dev);
	kfree(buffer);
}

module_init(twopages_init);
module_exit(twopages_exit);
MODULE_LICENSE("GPL");
