// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: module/mymap.c with one W=1 warning: onewarn_llseek() is
 * global, with no prototype before it (-Wmissing-prototypes).  Everything
 * else is the project's driver, so the run passes, warning and all.
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

#define ONEWARN_PATTERN_LEN	10

static struct page *onewarn_page;

/*
 * vm_flags became read-only in v6.3, where vm_flags_set() was added; some
 * vendor kernels carry it earlier.  Kbuild detects it in the target tree.
 */
static void onewarn_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef ONEWARN_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static int onewarn_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* A private mapping would copy the page on write and share nothing. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;

	/* mremap() must not grow the mapping past the one page we own. */
	onewarn_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);

	/*
	 * vm_insert_page() takes a reference on the page for the mapping and
	 * uses vma->vm_page_prot, so the caller's protection is honoured.
	 */
	return vm_insert_page(vma, vma->vm_start, onewarn_page);
}

static ssize_t onewarn_read(struct file *file, char __user *buf, size_t count,
			  loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos,
				       page_address(onewarn_page), PAGE_SIZE);
}

static ssize_t onewarn_write(struct file *file, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(onewarn_page), PAGE_SIZE, ppos,
				      buf, count);
}

loff_t onewarn_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

static const struct file_operations onewarn_fops = {
	.owner = THIS_MODULE,
	.mmap = onewarn_mmap,
	.read = onewarn_read,
	.write = onewarn_write,
	.llseek = onewarn_llseek,
};

static struct miscdevice onewarn_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &onewarn_fops,
};

static int __init onewarn_init(void)
{
	u8 *data;
	int i, ret;

	/* The page must hold its bytes before the device can be opened. */
	onewarn_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!onewarn_page)
		return -ENOMEM;

	data = page_address(onewarn_page);
	for (i = 0; i < ONEWARN_PATTERN_LEN; i++)
		data[i] = i;

	ret = misc_register(&onewarn_dev);
	if (ret) {
		__free_page(onewarn_page);
		return ret;
	}
	return 0;
}

/*
 * An open file or a live mapping pins this module through fops.owner, so
 * exit runs only when no one can reach the page.  Mappings also hold their
 * own page references, taken by vm_insert_page().
 */
static void __exit onewarn_exit(void)
{
	misc_deregister(&onewarn_dev);
	__free_page(onewarn_page);
}

module_init(onewarn_init);
module_exit(onewarn_exit);

MODULE_DESCRIPTION("Fixture: module/mymap.c with one W=1 warning");
MODULE_LICENSE("GPL");
