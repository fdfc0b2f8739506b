// SPDX-License-Identifier: GPL-2.0
/*
 * pages: an example driver for the rig's guest tests.  /dev/pages maps
 * npages pages (a module parameter, 2 by default), page i filled with the
 * byte i, with mmap(MAP_SHARED) at offset 0 and no more than npages pages.
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static unsigned int npages = 2;
module_param(npages, uint, 0444);
MODULE_PARM_DESC(npages, "how many pages /dev/pages maps (1 to 16)");

static struct page *pages_pages[16];

static void pages_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef PAGES_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static int pages_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long n = vma_pages(vma);
	unsigned long i;
	int ret;

	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || n > npages)
		return -EINVAL;

	pages_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	for (i = 0; i < n; i++) {
		ret = vm_insert_page(vma, vma->vm_start + i * PAGE_SIZE,
				     pages_pages[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static const struct file_operations pages_fops = {
	.owner = THIS_MODULE,
	.mmap = pages_mmap,
};

static struct miscdevice pages_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "pages",
	.fops = &pages_fops,
};

static void pages_free(unsigned int n)
{
	while (n--)
		__free_page(pages_pages[n]);
}

static int __init pages_init(void)
{
	unsigned int i;
	int ret;

	if (npages < 1 || npages > ARRAY_SIZE(pages_pages))
		return -EINVAL;

	for (i = 0; i < npages; i++) {
		pages_pages[i] = alloc_page(GFP_KERNEL);
		if (!pages_pages[i]) {
			pages_free(i);
			return -ENOMEM;
		}
		memset(page_address(pages_pages[i]), i, PAGE_SIZE);
	}

	ret = misc_register(&pages_dev);
	if (ret)
		pages_free(npages);
	return ret;
}

static void __exit pages_exit(void)
{
	misc_deregister(&pages_dev);
	pages_free(npages);
}

module_init(pages_init);
module_exit(pages_exit);

MODULE_DESCRIPTION("Map npages pages, page i filled with the byte i");
MODULE_LICENSE("GPL");
