// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct one-page mmap driver, as module/mymap.c, except that
 * its read() refuses any offset from READOFFSET_LIMIT on with -EINVAL.  A
 * read() at offset 0 works, so the driver has a read(): the error at
 * offset 200 is a bug that the contract must fail, not a missing read()
 * that it may skip.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

#define READOFFSET_LIMIT	200

static struct page *page;

static void readoffset_dontexpand(struct vm_area_struct *vma)
{
#ifdef HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
}

static int readoffset_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	readoffset_dontexpand(vma);
	return vm_insert_page(vma, vma->vm_start, page);
}

static ssize_t readoffset_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	/* The fault: a bound that should be PAGE_SIZE. */
	if (*ppos >= READOFFSET_LIMIT)
		return -EINVAL;
	return simple_read_from_buffer(buf, count, ppos, page_address(page),
				       PAGE_SIZE);
}

static ssize_t readoffset_write(struct file *file, const char __user *buf,
				size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(page), PAGE_SIZE, ppos, buf,
				      count);
}

static loff_t readoffset_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

static const struct file_operations readoffset_fops = {
	.owner = THIS_MODULE,
	.mmap = readoffset_mmap,
	.read = readoffset_read,
	.write = readoffset_write,
	.llseek = readoffset_llseek,
};

static struct miscdevice readoffset_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &readoffset_fops,
};

static int __init readoffset_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&readoffset_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit readoffset_exit(void)
{
	misc_deregister(&readoffset_dev);
	__free_page(page);
}

module_init(readoffset_init);
module_exit(readoffset_exit);
MODULE_DESCRIPTION("Fixture: an mmap driver whose read() refuses offsets from 200 on");
MODULE_LICENSE("GPL");
