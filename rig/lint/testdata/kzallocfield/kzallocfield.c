// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, wrong: a kzalloc'd buffer kept in a field of the driver's
 * private struct, mapped through virt_to_phys() >> PAGE_SHIFT.
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>

struct kzf_dev {
	struct miscdevice misc;
	u8 *buf;
	size_t size;
};

static struct kzf_dev *kzf;

static int kzf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kzf_dev *dev = container_of(file->private_data,
					   struct kzf_dev, misc);
	unsigned long size = vma->vm_end - vma->vm_start;

	if (size > dev->size)
		return -EINVAL;
	return remap_pfn_range(vma, vma->vm_start,
			       virt_to_phys(dev->buf) >> PAGE_SHIFT,
			       size, vma->vm_page_prot);
}

static const struct file_operations kzf_fops = {
	.owner = THIS_MODULE,
	.mmap = kzf_mmap,
};

static int __init kzf_init(void)
{
	int ret;

	kzf = kzalloc(sizeof(*kzf), GFP_KERNEL);
	if (!kzf)
		return -ENOMEM;
	kzf->size = PAGE_SIZE;
	kzf->buf = kzalloc(kzf->size, GFP_KERNEL);
	if (!kzf->buf) {
		ret = -ENOMEM;
		goto free_dev;
	}
	kzf->misc.minor = MISC_DYNAMIC_MINOR;
	kzf->misc.name = "kzallocfield";
	kzf->misc.fops = &kzf_fops;
	ret = misc_register(&kzf->misc);
	if (ret)
		goto free_buf;
	return 0;

free_buf:
	kfree(kzf->buf);
free_dev:
	kfree(kzf);
	return ret;
}

static void __exit kzf_exit(void)
{
	misc_deregister(&kzf->misc);
	kfree(kzf->buf);
	kfree(kzf);
}

module_init(kzf_init);
module_exit(kzf_exit);
MODULE_DESCRIPTION("Lint fixture: kzalloc memory in a struct field mapped to user space");
MODULE_LICENSE("GPL");
