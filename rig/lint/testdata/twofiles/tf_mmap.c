// SPDX-License-Identifier: GPL-2.0
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>

#include "twofiles.h"

static int tf_map(struct vm_area_struct *vma, void *start, unsigned long size)
{
	return remap_pfn_range(vma, vma->vm_start, __pa(start) >> PAGE_SHIFT,
			       size, vma->vm_page_prot);
}

static int tf_do_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long off = vma->vm_pgoff << PAGE_SHIFT;

	return tf_map(vma, tf_buf + off, vma->vm_end - vma->vm_start);
}

const struct file_operations tf_fops = {
	.owner = THIS_MODULE,
	.mmap = tf_do_mmap,
};
