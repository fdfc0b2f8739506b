// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a one-page mmap driver whose page is a kzalloc(PAGE_SIZE)
 * buffer, handed to vm_insert_page(). On SLOB a PAGE_SIZE kmalloc is a
 * plain page allocation and the insert works; on SLUB and SLAB (every
 * distribution's kernel) it is a slab object, and since 5.8
 * vm_insert_page() refuses slab pages with -EINVAL, so every mmap fails.
 * The rig's base kernel must be the users' kind, and fail it.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

static u8 *buffer;

static void slabinsert_dontexpand(struct vm_area_struct *vma)
{
#ifdef HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
}

static int slabinsert_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	slabinsert_dontexpand(vma);
	return vm_insert_page(vma, vma->vm_start, virt_to_page(buffer));
}

static const struct file_operations slabinsert_fops = {
	.owner = THIS_MODULE,
	.mmap = slabinsert_mmap,
};

static struct miscdevice slabinsert_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &slabinsert_fops,
};

static int __init slabinsert_init(void)
{
	int i, ret;

	buffer = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buffer)
		return -ENOMEM;
	for (i = 0; i < 10; i++)
		buffer[i] = i;
	ret = misc_register(&slabinsert_dev);
	if (ret)
		kfree(buffer);
	return ret;
}

static void __exit slabinsert_exit(void)
{
	misc_deregister(&slabinsert_dev);
	kfree(buffer);
}

module_init(slabinsert_init);
module_exit(slabinsert_exit);
MODULE_LICENSE("GPL");
