// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: its mmap writes through a NULL pointer in a helper that the
 * compiler inlines into it, twice deep. The symbolizer's tests find the
 * lines by the markers in the comments. Its exit function lies in
 * .exit.text, at the same offset in its section as the mmap in .text.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static int *inlineoops_ptr;

static __always_inline void inlineoops_poke(int v)
{
	WRITE_ONCE(*inlineoops_ptr, v); /* mmaprig: faults */
}

static __always_inline void inlineoops_touch(struct vm_area_struct *vma)
{
	inlineoops_poke(vma->vm_pgoff == 0); /* mmaprig: calls poke */
}

static int inlineoops_mmap(struct file *file, struct vm_area_struct *vma)
{
	inlineoops_touch(vma); /* mmaprig: calls touch */
	return -EIO;
}

static const struct file_operations inlineoops_fops = {
	.owner = THIS_MODULE,
	.mmap = inlineoops_mmap,
};

static struct miscdevice inlineoops_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &inlineoops_fops,
};

static int __init inlineoops_init(void)
{
	return misc_register(&inlineoops_dev);
}

static void __exit inlineoops_exit(void)
{
	misc_deregister(&inlineoops_dev); /* mmaprig: exit */
}

module_init(inlineoops_init);
module_exit(inlineoops_exit);
MODULE_LICENSE("GPL");
