// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a mymap that maps its page through a .fault handler, which
 * hands each fault a private snapshot of the page instead of the page
 * itself.  Every mapping starts with the right bytes, so the reader
 * passes; but what one process writes through its mapping reaches neither
 * the driver's page (read()) nor any other mapping.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static struct page *page;

static void stalefault_dontexpand(struct vm_area_struct *vma)
{
#ifdef HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
}

static vm_fault_t stalefault_fault(struct vm_fault *vmf)
{
	struct page *copy;

	if (vmf->pgoff)
		return VM_FAULT_SIGBUS;
	copy = alloc_page(GFP_KERNEL);
	if (!copy)
		return VM_FAULT_OOM;
	copy_highpage(copy, page);	/* the bug: a snapshot, not the page */
	vmf->page = copy;		/* the mapping owns this reference */
	return 0;
}

static const struct vm_operations_struct stalefault_vm_ops = {
	.fault = stalefault_fault,
};

static int stalefault_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	stalefault_dontexpand(vma);
	vma->vm_ops = &stalefault_vm_ops;
	return 0;
}

static ssize_t stalefault_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, page_address(page),
				       PAGE_SIZE);
}

static ssize_t stalefault_write(struct file *file, const char __user *buf,
				size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(page), PAGE_SIZE, ppos, buf,
				      count);
}

static const struct file_operations stalefault_fops = {
	.owner = THIS_MODULE,
	.mmap = stalefault_mmap,
	.read = stalefault_read,
	.write = stalefault_write,
	.llseek = default_llseek,
};

static struct miscdevice stalefault_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &stalefault_fops,
};

static int __init stalefault_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&stalefault_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit stalefault_exit(void)
{
	misc_deregister(&stalefault_dev);
	__free_page(page);
}

module_init(stalefault_init);
module_exit(stalefault_exit);
MODULE_LICENSE("GPL");
