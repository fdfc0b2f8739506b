// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: module/mymap.c, whose exit path writes through a NULL pointer.
 * Everything up to the first unload is right, so every contract case
 * passes until unload_reload, which does the first unload: its rmmod
 * oopses in exitoops_release.  The verdict must name that case, and list
 * the cases before it as passed.
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

#define MYMAP_PATTERN_LEN	10

static struct page *exitoops_page;

/*
 * vm_flags became read-only in v6.3, where vm_flags_set() was added; some
 * vendor kernels carry it earlier.  Kbuild detects it in the target tree.
 */
static void exitoops_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef EXITOOPS_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static int exitoops_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* A private mapping would copy the page on write and share nothing. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;

	/* mremap() must not grow the mapping past the one page we own. */
	exitoops_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);

	/*
	 * vm_insert_page() takes a reference on the page for the mapping and
	 * uses vma->vm_page_prot, so the caller's protection is honoured.
	 */
	return vm_insert_page(vma, vma->vm_start, exitoops_page);
}

static ssize_t exitoops_read(struct file *file, char __user *buf, size_t count,
			  loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos,
				       page_address(exitoops_page), PAGE_SIZE);
}

static ssize_t exitoops_write(struct file *file, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(exitoops_page), PAGE_SIZE, ppos,
				      buf, count);
}

static loff_t exitoops_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

static const struct file_operations exitoops_fops = {
	.owner = THIS_MODULE,
	.mmap = exitoops_mmap,
	.read = exitoops_read,
	.write = exitoops_write,
	.llseek = exitoops_llseek,
};

static struct miscdevice exitoops_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &exitoops_fops,
};

static int __init exitoops_init(void)
{
	u8 *data;
	int i, ret;

	/* The page must hold its bytes before the device can be opened. */
	exitoops_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!exitoops_page)
		return -ENOMEM;

	data = page_address(exitoops_page);
	for (i = 0; i < MYMAP_PATTERN_LEN; i++)
		data[i] = i;

	ret = misc_register(&exitoops_dev);
	if (ret) {
		__free_page(exitoops_page);
		return ret;
	}
	return 0;
}

/* The reference the exit path drops; nothing ever sets it. */
static int *exitoops_ref;

static noinline void exitoops_release(void)
{
	int *ref = READ_ONCE(exitoops_ref);

	*ref = 0;
}

static void __exit exitoops_exit(void)
{
	misc_deregister(&exitoops_dev);
	exitoops_release();
	__free_page(exitoops_page);
}

module_init(exitoops_init);
module_exit(exitoops_exit);

MODULE_DESCRIPTION("Share one kernel page with user space through mmap");
MODULE_LICENSE("GPL");
