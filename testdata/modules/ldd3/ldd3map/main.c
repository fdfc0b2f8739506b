// SPDX-License-Identifier: GPL-2.0
/*
 * ldd3map: the mymap device, laid out as LDD3's examples are: a driver
 * directory whose Makefile passes the tree's include directory, and a
 * header in ../include.
 *
 * At load it allocates one zeroed page and writes the bytes 0..9 at its
 * start; a process maps that page with mmap(MAP_SHARED, one page, offset
 * 0) on the device, and reads or writes it with read() and write().
 *
 * As LDD3's drivers do, it registers a char major by name and creates no
 * node: user space reads the major from /proc/devices and runs mknod
 * (the rig: -device /dev/mymap=c:mymap:0).
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/module.h>

#include "../include/ldd3map.h"

static struct page *ldd3map_page;

static int ldd3map_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	ldd3map_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	return vm_insert_page(vma, vma->vm_start, ldd3map_page);
}

static ssize_t ldd3map_read(struct file *file, char __user *buf, size_t count,
			    loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos,
				       page_address(ldd3map_page), PAGE_SIZE);
}

static ssize_t ldd3map_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(ldd3map_page), PAGE_SIZE,
				      ppos, buf, count);
}

static loff_t ldd3map_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

static const struct file_operations ldd3map_fops = {
	.owner = THIS_MODULE,
	.mmap = ldd3map_mmap,
	.read = ldd3map_read,
	.write = ldd3map_write,
	.llseek = ldd3map_llseek,
};

/* The major, dynamic: register_chrdev() picks a free one. */
static int ldd3map_major;

static int ldd3map_register(void)
{
	int major = register_chrdev(0, LDD3MAP_NAME, &ldd3map_fops);

	if (major < 0)
		return major;
	ldd3map_major = major;
	return 0;
}

static void ldd3map_unregister(void)
{
	unregister_chrdev(ldd3map_major, LDD3MAP_NAME);
}

static int __init ldd3map_init(void)
{
	u8 *data;
	int i, ret;

	ldd3map_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!ldd3map_page)
		return -ENOMEM;
	data = page_address(ldd3map_page);
	for (i = 0; i < LDD3MAP_PATTERN_LEN; i++)
		data[i] = i;

	ret = ldd3map_register();
	if (ret)
		__free_page(ldd3map_page);
	return ret;
}

static void __exit ldd3map_exit(void)
{
	ldd3map_unregister();
	__free_page(ldd3map_page);
}

module_init(ldd3map_init);
module_exit(ldd3map_exit);

MODULE_DESCRIPTION("The mymap device, built as LDD3's examples are");
MODULE_LICENSE("GPL");
