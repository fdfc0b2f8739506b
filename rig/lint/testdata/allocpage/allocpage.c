// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, correct: pages from alloc_page(), kept in a kzalloc'd private
 * struct, each mapped with vm_insert_page().  The struct itself is slab
 * memory, but only the pages it points to reach user space.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#define ALP_NPAGES	2

struct alp_dev {
	struct miscdevice misc;
	struct page *pages[ALP_NPAGES];
};

static struct alp_dev *alp;

static int alp_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct alp_dev *dev = container_of(file->private_data,
					   struct alp_dev, misc);
	unsigned long i, n = vma_pages(vma);
	int ret;

	if (vma->vm_pgoff != 0 || n > ALP_NPAGES)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		ret = vm_insert_page(vma, vma->vm_start + i * PAGE_SIZE,
				     dev->pages[i]);
		if (ret)
			return ret;
	}
	return 0;
}

static const struct file_operations alp_fops = {
	.owner = THIS_MODULE,
	.mmap = alp_mmap,
};

static void alp_free(struct alp_dev *dev)
{
	int i;

	for (i = 0; i < ALP_NPAGES; i++)
		if (dev->pages[i])
			__free_page(dev->pages[i]);
	kfree(dev);
}

static int __init alp_init(void)
{
	int i, ret;

	alp = kzalloc(sizeof(*alp), GFP_KERNEL);
	if (!alp)
		return -ENOMEM;
	for (i = 0; i < ALP_NPAGES; i++) {
		alp->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!alp->pages[i]) {
			alp_free(alp);
			return -ENOMEM;
		}
	}
	alp->misc.minor = MISC_DYNAMIC_MINOR;
	alp->misc.name = "allocpage";
	alp->misc.fops = &alp_fops;
	ret = misc_register(&alp->misc);
	if (ret)
		alp_free(alp);
	return ret;
}

static void __exit alp_exit(void)
{
	misc_deregister(&alp->misc);
	alp_free(alp);
}

module_init(alp_init);
module_exit(alp_exit);
MODULE_DESCRIPTION("Lint fixture: alloc_page memory mapped with vm_insert_page");
MODULE_LICENSE("GPL");
