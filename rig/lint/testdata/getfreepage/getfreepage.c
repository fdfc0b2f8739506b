// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, correct: a page from __get_free_page() mapped with
 * remap_pfn_range(virt_to_phys()).  __get_free_page() memory comes from the
 * page allocator and lies in the linear map, so this is fine.  The driver
 * also kmallocs a descriptor and takes its physical address for a device,
 * outside any mmap path; that is fine too.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

struct gfp_desc {
	u64 addr;
	u32 len;
};

static void *gfp_buf;
static struct gfp_desc *gfp_desc;
static phys_addr_t gfp_desc_phys;

static int gfp_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	return remap_pfn_range(vma, vma->vm_start,
			       virt_to_phys(gfp_buf) >> PAGE_SHIFT,
			       PAGE_SIZE, vma->vm_page_prot);
}

static const struct file_operations gfp_fops = {
	.owner = THIS_MODULE,
	.mmap = gfp_mmap,
};

static struct miscdevice gfp_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "getfreepage",
	.fops = &gfp_fops,
};

static int __init gfp_init(void)
{
	int ret = -ENOMEM;

	gfp_buf = (void *)__get_free_page(GFP_KERNEL | __GFP_ZERO);
	if (!gfp_buf)
		return -ENOMEM;
	gfp_desc = kzalloc(sizeof(*gfp_desc), GFP_KERNEL);
	if (!gfp_desc)
		goto free_page;
	gfp_desc->addr = virt_to_phys(gfp_buf);
	gfp_desc->len = PAGE_SIZE;
	gfp_desc_phys = virt_to_phys(gfp_desc);
	ret = misc_register(&gfp_dev);
	if (ret)
		goto free_desc;
	return 0;

free_desc:
	kfree(gfp_desc);
free_page:
	free_page((unsigned long)gfp_buf);
	return ret;
}

static void __exit gfp_exit(void)
{
	misc_deregister(&gfp_dev);
	kfree(gfp_desc);
	free_page((unsigned long)gfp_buf);
}

module_init(gfp_init);
module_exit(gfp_exit);
MODULE_DESCRIPTION("Lint fixture: __get_free_page memory mapped with remap_pfn_range");
MODULE_LICENSE("GPL");
