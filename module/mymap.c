// SPDX-License-Identifier: GPL-2.0
/*
 * mymap: a misc device that shares one kernel page with user space.
 *
 * At load the driver allocates one zeroed page from the page allocator and
 * writes the bytes 0..9 at its start.  A process maps that page with
 * mmap(MAP_SHARED, one page, offset 0) on /dev/mymap; any other request is
 * refused.  The same page can also be read and written with read() and
 * write(), so a test can compare what user space and the kernel see.
 */

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

#define MYMAP_PATTERN_LEN	10

static struct page *mymap_page;

/*
 * vm_flags became read-only in v6.3, where vm_flags_set() was added; some
 * vendor kernels carry it earlier.  Kbuild detects it in the target tree.
 */
static void mymap_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef MYMAP_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static int mymap_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* A private mapping would copy the page on write and share nothing. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;

	/* mremap() must not grow the mapping past the one page we own. */
	mymap_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);

	/*
	 * vm_insert_page() takes a reference on the page for the mapping and
	 * uses vma->vm_page_prot, so the caller's protection is honoured.
	 */
	return vm_insert_page(vma, vma->vm_start, mymap_page);
}

static ssize_t mymap_read(struct file *file, char __user *buf, size_t count,
			  loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos,
				       page_address(mymap_page), PAGE_SIZE);
}

static ssize_t mymap_write(struct file *file, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(mymap_page), PAGE_SIZE, ppos,
				      buf, count);
}

static loff_t mymap_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, PAGE_SIZE);
}

/*
 * .mmap rather than .mmap_prepare (v6.17): a prepare hook runs before the
 * VMA exists and cannot insert the page.  .mmap is still called, through
 * v6.18, for a driver without .mmap_prepare, so one hook serves v6.1 on.
 */
static const struct file_operations mymap_fops = {
	.owner = THIS_MODULE,
	.mmap = mymap_mmap,
	.read = mymap_read,
	.write = mymap_write,
	.llseek = mymap_llseek,
};

static struct miscdevice mymap_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &mymap_fops,
};

static int __init mymap_init(void)
{
	u8 *data;
	int i, ret;

	/* The page must hold its bytes before the device can be opened. */
	mymap_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!mymap_page)
		return -ENOMEM;

	data = page_address(mymap_page);
	for (i = 0; i < MYMAP_PATTERN_LEN; i++)
		data[i] = i;

	ret = misc_register(&mymap_dev);
	if (ret) {
		__free_page(mymap_page);
		return ret;
	}
	return 0;
}

/*
 * An open file or a live mapping pins this module through fops.owner, so
 * exit runs only when no one can reach the page.  Mappings also hold their
 * own page references, taken by vm_insert_page().
 */
static void __exit mymap_exit(void)
{
	misc_deregister(&mymap_dev);
	__free_page(mymap_page);
}

module_init(mymap_init);
module_exit(mymap_exit);

MODULE_DESCRIPTION("Share one kernel page with user space through mmap");
MODULE_LICENSE("GPL");
