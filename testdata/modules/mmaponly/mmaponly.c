// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct one-page mmap driver with no read() or write(), like
 * many real ones. The contract must skip the read/write case, not fail it.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static struct page *page;

static void mmaponly_dontexpand(struct vm_area_struct *vma)
{
#ifdef HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
}

static int mmaponly_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	mmaponly_dontexpand(vma);
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations mmaponly_fops = {
	.owner = THIS_MODULE,
	.mmap = mmaponly_mmap,
};

static struct miscdevice mmaponly_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &mmaponly_fops,
};

static int __init mmaponly_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&mmaponly_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit mmaponly_exit(void)
{
	misc_deregister(&mmaponly_dev);
	__free_page(page);
}

module_init(mmaponly_init);
module_exit(mmaponly_exit);
MODULE_LICENSE("GPL");
