// SPDX-License-Identifier: GPL-2.0
/* Fixture: a correct mymap, except that the page holds 9..0. */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static struct page *page;

static int wrongbytes_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations wrongbytes_fops = {
	.owner = THIS_MODULE,
	.mmap = wrongbytes_mmap,
};

static struct miscdevice wrongbytes_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &wrongbytes_fops,
};

static int __init wrongbytes_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = 9 - i;
	ret = misc_register(&wrongbytes_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit wrongbytes_exit(void)
{
	misc_deregister(&wrongbytes_dev);
	__free_page(page);
}

module_init(wrongbytes_init);
module_exit(wrongbytes_exit);
MODULE_LICENSE("GPL");
