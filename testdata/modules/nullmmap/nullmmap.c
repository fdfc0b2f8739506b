// SPDX-License-Identifier: GPL-2.0
/* Fixture: its mmap handler writes through a NULL pointer. */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static int *nullmmap_ptr;

static int nullmmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	WRITE_ONCE(*nullmmap_ptr, 1); /* mmaprig: faults */
	return -EIO;
}

static const struct file_operations nullmmap_fops = {
	.owner = THIS_MODULE,
	.mmap = nullmmap_mmap,
};

static struct miscdevice nullmmap_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &nullmmap_fops,
};

module_misc_device(nullmmap_dev);
MODULE_LICENSE("GPL");
