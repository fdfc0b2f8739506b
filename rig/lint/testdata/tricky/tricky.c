// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: harder cases for the mmap_slab rule, one misc device each.
 *   a: an array of kmalloc'd buffers                       (wrong)
 *   b: fops filled in at run time, and a vzalloc'd buffer
 *      reached through a getter's return value             (wrong)
 *   c: vmalloc() memory given to remap_vmalloc_range()     (wrong)
 *   d: a page-allocator page, in a local named like a
 *      kmalloc'd local of another function                 (right)
 *   e: kvzalloc() memory given to vmalloc_to_page()        (wrong)
 */
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#define TRK_NBUFS	2

static void *trk_bufs[TRK_NBUFS];
static void *trk_vbuf;
static void *trk_plain;
static void *trk_kv;
static struct page *trk_page;

static int trk_mmap_a(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff >= TRK_NBUFS)
		return -EINVAL;
	return remap_pfn_range(vma, vma->vm_start,
			       virt_to_phys(trk_bufs[vma->vm_pgoff]) >> PAGE_SHIFT,
			       PAGE_SIZE, vma->vm_page_prot);
}

static void *trk_get_buf(void)
{
	return trk_vbuf;
}

static int trk_mmap_b(struct file *file, struct vm_area_struct *vma)
{
	void *p = trk_get_buf();

	return vm_insert_page(vma, vma->vm_start, virt_to_page(p));
}

static int trk_mmap_c(struct file *file, struct vm_area_struct *vma)
{
	return remap_vmalloc_range(vma, trk_plain, vma->vm_pgoff);
}

static int trk_mmap_d(struct file *file, struct vm_area_struct *vma)
{
	void *buf = page_address(trk_page);

	return remap_pfn_range(vma, vma->vm_start, virt_to_phys(buf) >> PAGE_SHIFT,
			       PAGE_SIZE, vma->vm_page_prot);
}

static int trk_mmap_e(struct file *file, struct vm_area_struct *vma)
{
	return vm_insert_page(vma, vma->vm_start, vmalloc_to_page(trk_kv));
}

static const struct file_operations trk_fops_a = {
	.owner = THIS_MODULE,
	.mmap = trk_mmap_a,
};

static struct file_operations trk_fops_b;

static const struct file_operations trk_fops_c = {
	.owner = THIS_MODULE,
	.mmap = trk_mmap_c,
};

static const struct file_operations trk_fops_d = {
	.owner = THIS_MODULE,
	.mmap = trk_mmap_d,
};

static const struct file_operations trk_fops_e = {
	.owner = THIS_MODULE,
	.mmap = trk_mmap_e,
};

static struct miscdevice trk_devs[] = {
	{ .minor = MISC_DYNAMIC_MINOR, .name = "trk_a", .fops = &trk_fops_a },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "trk_b", .fops = &trk_fops_b },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "trk_c", .fops = &trk_fops_c },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "trk_d", .fops = &trk_fops_d },
	{ .minor = MISC_DYNAMIC_MINOR, .name = "trk_e", .fops = &trk_fops_e },
};

static void trk_free(void)
{
	int i;

	for (i = 0; i < TRK_NBUFS; i++)
		kfree(trk_bufs[i]);
	vfree(trk_vbuf);
	vfree(trk_plain);
	kvfree(trk_kv);
	if (trk_page)
		__free_page(trk_page);
}

static int __init trk_init(void)
{
	char *buf;
	int i, ret;

	/* A scratch buffer, never mapped, named like trk_mmap_d's local. */
	buf = kmalloc(64, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	snprintf(buf, 64, "%s", "scratch");
	kfree(buf);

	for (i = 0; i < TRK_NBUFS; i++)
		trk_bufs[i] = kmalloc(PAGE_SIZE, GFP_KERNEL);
	trk_vbuf = vzalloc(PAGE_SIZE);
	trk_plain = vmalloc(PAGE_SIZE);
	trk_kv = kvzalloc(PAGE_SIZE, GFP_KERNEL);
	trk_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!trk_bufs[0] || !trk_bufs[1] || !trk_vbuf || !trk_plain ||
	    !trk_kv || !trk_page) {
		trk_free();
		return -ENOMEM;
	}

	trk_fops_b.owner = THIS_MODULE;
	trk_fops_b.mmap = trk_mmap_b;

	for (i = 0; i < ARRAY_SIZE(trk_devs); i++) {
		ret = misc_register(&trk_devs[i]);
		if (ret) {
			while (--i >= 0)
				misc_deregister(&trk_devs[i]);
			trk_free();
			return ret;
		}
	}
	return 0;
}

static void __exit trk_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(trk_devs); i++)
		misc_deregister(&trk_devs[i]);
	trk_free();
}

module_init(trk_init);
module_exit(trk_exit);
MODULE_DESCRIPTION("Lint fixture: harder cases for the mmap_slab rule");
MODULE_LICENSE("GPL");
