// SPDX-License-Identifier: GPL-2.0
/*
 * mapdev: the mymap device of a two-module driver. Its page comes from
 * pagecore_new_page(), which pagecore exports: pagecore must be loaded
 * first, and cannot be unloaded while mapdev is.
 */

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/version.h>

#include "pagecore.h"

static struct page *mapdev_page;

static int mapdev_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
	return vm_insert_page(vma, vma->vm_start, mapdev_page);
}

static ssize_t mapdev_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos,
				       page_address(mapdev_page), PAGE_SIZE);
}

static ssize_t mapdev_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(mapdev_page), PAGE_SIZE,
				      ppos, buf, count);
}

static loff_t mapdev_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

static const struct file_operations mapdev_fops = {
	.owner = THIS_MODULE,
	.mmap = mapdev_mmap,
	.read = mapdev_read,
	.write = mapdev_write,
	.llseek = mapdev_llseek,
};

static struct miscdevice mapdev_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &mapdev_fops,
};

static int __init mapdev_init(void)
{
	int ret;

	mapdev_page = pagecore_new_page();
	if (!mapdev_page)
		return -ENOMEM;
	ret = misc_register(&mapdev_dev);
	if (ret)
		__free_page(mapdev_page);
	return ret;
}

static void __exit mapdev_exit(void)
{
	misc_deregister(&mapdev_dev);
	__free_page(mapdev_page);
}

module_init(mapdev_init);
module_exit(mapdev_exit);

MODULE_DESCRIPTION("The device of a two-module mmap driver");
MODULE_LICENSE("GPL");
