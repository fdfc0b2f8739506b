// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a classic char driver.  It registers a major by name with
 * register_chrdev() and creates no device node: user space makes them
 * (mknod /dev/chrmap0 c MAJOR 0), as for scull.  Each of its two minors
 * shares one zeroed page of its own, mapped with remap_pfn_range(): minor
 * 0's starts with the bytes 0..9, minor 1's with 9..0.
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>

#define CHRMAP_NAME		"chrmap"
#define CHRMAP_MINORS		2
#define CHRMAP_PATTERN_LEN	10

static int chrmap_major;
static struct page *chrmap_pages[CHRMAP_MINORS];

static int chrmap_open(struct inode *inode, struct file *file)
{
	unsigned int minor = iminor(inode);

	if (minor >= CHRMAP_MINORS)
		return -ENXIO;
	file->private_data = chrmap_pages[minor];
	return 0;
}

static int chrmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct page *page = file->private_data;

	/* A private mapping would copy the page on write and share nothing. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;

	/*
	 * remap_pfn_range() takes no page reference: the page lives until the
	 * module's exit, and the mapping's file pins the module (fops.owner),
	 * so the page outlives every mapping.  It also sets VM_DONTEXPAND, so
	 * mremap() cannot grow the mapping past the page.
	 */
	return remap_pfn_range(vma, vma->vm_start, page_to_pfn(page), PAGE_SIZE,
			       vma->vm_page_prot);
}

static ssize_t chrmap_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	struct page *page = file->private_data;

	return simple_read_from_buffer(buf, count, ppos, page_address(page),
				       PAGE_SIZE);
}

static ssize_t chrmap_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *ppos)
{
	struct page *page = file->private_data;

	return simple_write_to_buffer(page_address(page), PAGE_SIZE, ppos, buf,
				      count);
}

static loff_t chrmap_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

static const struct file_operations chrmap_fops = {
	.owner = THIS_MODULE,
	.open = chrmap_open,
	.mmap = chrmap_mmap,
	.read = chrmap_read,
	.write = chrmap_write,
	.llseek = chrmap_llseek,
};

static void chrmap_free_pages(void)
{
	int i;

	for (i = 0; i < CHRMAP_MINORS; i++) {
		if (chrmap_pages[i])
			__free_page(chrmap_pages[i]);
		chrmap_pages[i] = NULL;
	}
}

static int __init chrmap_init(void)
{
	int i, j;
	u8 *data;

	/* The pages must hold their bytes before the major can be opened. */
	for (i = 0; i < CHRMAP_MINORS; i++) {
		chrmap_pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!chrmap_pages[i]) {
			chrmap_free_pages();
			return -ENOMEM;
		}
		data = page_address(chrmap_pages[i]);
		for (j = 0; j < CHRMAP_PATTERN_LEN; j++)
			data[j] = i == 0 ? j : CHRMAP_PATTERN_LEN - 1 - j;
	}

	/* A dynamic major, listed in /proc/devices as "chrmap". */
	chrmap_major = register_chrdev(0, CHRMAP_NAME, &chrmap_fops);
	if (chrmap_major < 0) {
		chrmap_free_pages();
		return chrmap_major;
	}
	return 0;
}

static void __exit chrmap_exit(void)
{
	unregister_chrdev(chrmap_major, CHRMAP_NAME);
	chrmap_free_pages();
}

module_init(chrmap_init);
module_exit(chrmap_exit);
MODULE_LICENSE("GPL");
