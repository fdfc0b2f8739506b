// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, wrong: the mmap handler maps nothing itself; the vma's fault
 * handler hands out pages of a kmalloc_array'd buffer on demand.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

#define FSL_PAGES	4

static char *fsl_buf;

static vm_fault_t fsl_fault(struct vm_fault *vmf)
{
	struct page *page;

	if (vmf->pgoff >= FSL_PAGES)
		return VM_FAULT_SIGBUS;
	page = virt_to_page(fsl_buf + (vmf->pgoff << PAGE_SHIFT));
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct fsl_vm_ops = {
	.fault = fsl_fault,
};

static int fsl_mmap(struct file *file, struct vm_area_struct *vma)
{
	vma->vm_ops = &fsl_vm_ops;
	return 0;
}

static const struct file_operations fsl_fops = {
	.owner = THIS_MODULE,
	.mmap = fsl_mmap,
};

static struct miscdevice fsl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "faultslab",
	.fops = &fsl_fops,
};

static int __init fsl_init(void)
{
	int ret;

	fsl_buf = kmalloc_array(FSL_PAGES, PAGE_SIZE, GFP_KERNEL | __GFP_ZERO);
	if (!fsl_buf)
		return -ENOMEM;
	ret = misc_register(&fsl_dev);
	if (ret)
		kfree(fsl_buf);
	return ret;
}

static void __exit fsl_exit(void)
{
	misc_deregister(&fsl_dev);
	kfree(fsl_buf);
}

module_init(fsl_init);
module_exit(fsl_exit);
MODULE_DESCRIPTION("Lint fixture: kmalloc_array pages handed out by a fault handler");
MODULE_LICENSE("GPL");
