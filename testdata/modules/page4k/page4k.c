// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: module/mymap.c as a driver author writes it who knows that a
 * page is 4096 bytes.  Its buffer, its mmap length check and its read()
 * and write() bounds are PAGE4K_SIZE, not PAGE_SIZE.  On a 4K-page kernel
 * that is the same number, and the driver is correct; on arm64 with 64K
 * (or 16K) pages, user space maps one page, 65536 bytes, and the driver
 * refuses it with -EINVAL.
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/version.h>

/* One page: the buffer user space maps. */
#define PAGE4K_SHIFT		12
#define PAGE4K_SIZE		(1UL << PAGE4K_SHIFT)
#define PAGE4K_PATTERN_LEN	10

static struct page *page4k_page;

/* vm_flags became read-only in v6.3, where vm_flags_set() was added. */
static void page4k_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static int page4k_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	/* The fault: a one-page mapping is 4096 bytes only on 4K kernels. */
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE4K_SIZE)
		return -EINVAL;
	page4k_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return vm_insert_page(vma, vma->vm_start, page4k_page);
}

static ssize_t page4k_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos,
				       page_address(page4k_page), PAGE4K_SIZE);
}

static ssize_t page4k_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(page4k_page), PAGE4K_SIZE,
				      ppos, buf, count);
}

static loff_t page4k_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE4K_SIZE);
}

static const struct file_operations page4k_fops = {
	.owner = THIS_MODULE,
	.mmap = page4k_mmap,
	.read = page4k_read,
	.write = page4k_write,
	.llseek = page4k_llseek,
};

static struct miscdevice page4k_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &page4k_fops,
};

static int __init page4k_init(void)
{
	u8 *data;
	int i, ret;

	page4k_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page4k_page)
		return -ENOMEM;
	data = page_address(page4k_page);
	for (i = 0; i < PAGE4K_PATTERN_LEN; i++)
		data[i] = i;
	ret = misc_register(&page4k_dev);
	if (ret)
		__free_page(page4k_page);
	return ret;
}

static void __exit page4k_exit(void)
{
	misc_deregister(&page4k_dev);
	__free_page(page4k_page);
}

module_init(page4k_init);
module_exit(page4k_exit);

MODULE_DESCRIPTION("Share one 4096-byte page with user space through mmap");
MODULE_LICENSE("GPL");
