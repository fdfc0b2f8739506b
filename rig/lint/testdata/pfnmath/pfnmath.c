// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: kzalloc memory mapped to user space, its pfn computed the ways
 * tutorials compute it.  Each mmap handler maps one buffer in one form.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

static char *pm_a, *pm_b, *pm_c, *pm_d, *pm_e;

/* The most common tutorial form. */
static int pm_mmap_a(struct file *file, struct vm_area_struct *vma)
{
	return remap_pfn_range(vma, vma->vm_start,
			       (virt_to_phys(pm_a) >> PAGE_SHIFT) + vma->vm_pgoff,
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

static int pm_mmap_b(struct file *file, struct vm_area_struct *vma)
{
	return remap_pfn_range(vma, vma->vm_start, __pa(pm_b) / PAGE_SIZE,
			       PAGE_SIZE, vma->vm_page_prot);
}

static int pm_mmap_c(struct file *file, struct vm_area_struct *vma)
{
	unsigned long pfn = PHYS_PFN(virt_to_phys(pm_c));

	return remap_pfn_range(vma, vma->vm_start, pfn + vma->vm_pgoff,
			       PAGE_SIZE, vma->vm_page_prot);
}

static int pm_mmap_d(struct file *file, struct vm_area_struct *vma)
{
	return remap_pfn_range(vma, vma->vm_start,
			       virt_to_pfn(pm_d + (vma->vm_pgoff << PAGE_SHIFT)),
			       PAGE_SIZE, vma->vm_page_prot);
}

static int pm_mmap_e(struct file *file, struct vm_area_struct *vma)
{
	return remap_pfn_range(vma, vma->vm_start,
			       page_to_pfn(virt_to_page(pm_e)) + vma->vm_pgoff,
			       PAGE_SIZE, vma->vm_page_prot);
}

static const struct file_operations pm_fops_a = {
	.owner = THIS_MODULE,
	.mmap = pm_mmap_a,
};

static const struct file_operations pm_fops_b = {
	.owner = THIS_MODULE,
	.mmap = pm_mmap_b,
};

static const struct file_operations pm_fops_c = {
	.owner = THIS_MODULE,
	.mmap = pm_mmap_c,
};

static const struct file_operations pm_fops_d = {
	.owner = THIS_MODULE,
	.mmap = pm_mmap_d,
};

static const struct file_operations pm_fops_e = {
	.owner = THIS_MODULE,
	.mmap = pm_mmap_e,
};

static struct miscdevice pm_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "pfnmath",
	.fops = &pm_fops_a,
};

static int __init pm_init(void)
{
	pm_a = kzalloc(PAGE_SIZE, GFP_KERNEL);
	pm_b = kzalloc(PAGE_SIZE, GFP_KERNEL);
	pm_c = kzalloc(PAGE_SIZE, GFP_KERNEL);
	pm_d = kzalloc(PAGE_SIZE, GFP_KERNEL);
	pm_e = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (!pm_a || !pm_b || !pm_c || !pm_d || !pm_e)
		return -ENOMEM;
	return misc_register(&pm_dev);
}

static void __exit pm_exit(void)
{
	misc_deregister(&pm_dev);
	kfree(pm_a);
	kfree(pm_b);
	kfree(pm_c);
	kfree(pm_d);
	kfree(pm_e);
}

module_init(pm_init);
module_exit(pm_exit);
MODULE_DESCRIPTION("Lint fixture: pfn arithmetic on kzalloc memory");
MODULE_LICENSE("GPL");
