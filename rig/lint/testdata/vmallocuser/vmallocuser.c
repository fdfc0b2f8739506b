// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, correct: vmalloc_user() memory mapped with
 * remap_vmalloc_range(), the way vmalloc memory is meant to reach user
 * space.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/vmalloc.h>

#define VMU_SIZE	(4 * PAGE_SIZE)

static void *vmu_buf;

static int vmu_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start > VMU_SIZE)
		return -EINVAL;
	return remap_vmalloc_range(vma, vmu_buf, vma->vm_pgoff);
}

static const struct file_operations vmu_fops = {
	.owner = THIS_MODULE,
	.mmap = vmu_mmap,
};

static struct miscdevice vmu_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vmallocuser",
	.fops = &vmu_fops,
};

static int __init vmu_init(void)
{
	int ret;

	vmu_buf = vmalloc_user(VMU_SIZE);
	if (!vmu_buf)
		return -ENOMEM;
	ret = misc_register(&vmu_dev);
	if (ret)
		vfree(vmu_buf);
	return ret;
}

static void __exit vmu_exit(void)
{
	misc_deregister(&vmu_dev);
	vfree(vmu_buf);
}

module_init(vmu_init);
module_exit(vmu_exit);
MODULE_DESCRIPTION("Lint fixture: vmalloc_user memory mapped with remap_vmalloc_range");
MODULE_LICENSE("GPL");
