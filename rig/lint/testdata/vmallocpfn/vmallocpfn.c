// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, wrong: a vmalloc'd buffer mapped with
 * remap_pfn_range(virt_to_pfn()).  vmalloc memory is not in the linear
 * map, so virt_to_pfn() does not give its page frames.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pfn.h>
#include <linux/vmalloc.h>

/* Not every architecture had virt_to_pfn() in every version. */
#ifndef virt_to_pfn
#define virt_to_pfn(kaddr) PHYS_PFN(__pa(kaddr))
#endif

static void *vpf_buf;

static int vpf_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	return remap_pfn_range(vma, vma->vm_start, virt_to_pfn(vpf_buf),
			       PAGE_SIZE, vma->vm_page_prot);
}

static const struct file_operations vpf_fops = {
	.owner = THIS_MODULE,
	.mmap = vpf_mmap,
};

static struct miscdevice vpf_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vmallocpfn",
	.fops = &vpf_fops,
};

static int __init vpf_init(void)
{
	int ret;

	vpf_buf = vmalloc(PAGE_SIZE);
	if (!vpf_buf)
		return -ENOMEM;
	ret = misc_register(&vpf_dev);
	if (ret)
		vfree(vpf_buf);
	return ret;
}

static void __exit vpf_exit(void)
{
	misc_deregister(&vpf_dev);
	vfree(vpf_buf);
}

module_init(vpf_init);
module_exit(vpf_exit);
MODULE_DESCRIPTION("Lint fixture: vmalloc memory mapped with virt_to_pfn");
MODULE_LICENSE("GPL");
