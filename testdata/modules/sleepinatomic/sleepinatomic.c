// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a correct mymap, except that its mmap handler takes a mutex
 * while it holds a spinlock. The default kernel says nothing; a kernel with
 * DEBUG_ATOMIC_SLEEP and PROVE_LOCKING reports "BUG: sleeping function
 * called from invalid context".
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

static struct page *page;
static DEFINE_SPINLOCK(state_lock);
static DEFINE_MUTEX(map_mutex);
static unsigned long maps;

static void sleepinatomic_dontexpand(struct vm_area_struct *vma)
{
#ifdef HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
}

static int sleepinatomic_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE) || vma->vm_pgoff ||
	    vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;

	spin_lock(&state_lock);
	mutex_lock(&map_mutex);		/* the bug: may sleep under a spinlock */
	maps++;
	mutex_unlock(&map_mutex);
	spin_unlock(&state_lock);

	sleepinatomic_dontexpand(vma);
	return vm_insert_page(vma, vma->vm_start, page);
}

static ssize_t sleepinatomic_read(struct file *file, char __user *buf,
				  size_t count, loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, page_address(page),
				       PAGE_SIZE);
}

static ssize_t sleepinatomic_write(struct file *file, const char __user *buf,
				   size_t count, loff_t *ppos)
{
	return simple_write_to_buffer(page_address(page), PAGE_SIZE, ppos, buf,
				      count);
}

static const struct file_operations sleepinatomic_fops = {
	.owner = THIS_MODULE,
	.mmap = sleepinatomic_mmap,
	.read = sleepinatomic_read,
	.write = sleepinatomic_write,
	.llseek = default_llseek,
};

static struct miscdevice sleepinatomic_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &sleepinatomic_fops,
};

static int __init sleepinatomic_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&sleepinatomic_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void __exit sleepinatomic_exit(void)
{
	misc_deregister(&sleepinatomic_dev);
	__free_page(page);
}

module_init(sleepinatomic_init);
module_exit(sleepinatomic_exit);
MODULE_LICENSE("GPL");
