// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct driver that builds for 6.1 and 6.12, choosing between
 * vma->vm_flags and vm_flags_set() by the kernel's version, as out-of-tree
 * drivers do.  lint must find nothing in it.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/version.h>

static struct page *vg_page;

static int vg_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
	return vm_insert_page(vma, vma->vm_start, vg_page);
}

static const struct file_operations vg_fops = {
	.owner = THIS_MODULE,
	.mmap = vg_mmap,
};

static struct miscdevice vg_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "versionguard",
	.fops = &vg_fops,
};

static int __init vg_init(void)
{
	int err;

	vg_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!vg_page)
		return -ENOMEM;
	err = misc_register(&vg_dev);
	if (err)
		__free_page(vg_page);
	return err;
}

static void __exit vg_exit(void)
{
	misc_deregister(&vg_dev);
	__free_page(vg_page);
}

module_init(vg_init);
module_exit(vg_exit);
MODULE_DESCRIPTION("Lint fixture: a version conditional around vm_flags_set()");
MODULE_LICENSE("GPL");
