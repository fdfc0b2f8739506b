// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, wrong, in two files: the buffer is kcalloc'd here and mapped in
 * tf_mmap.c by a helper that the mmap handler calls.
 */
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "twofiles.h"

#define TF_PAGES	2

void *tf_buf;

static struct miscdevice tf_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "twofiles",
	.fops = &tf_fops,
};

static int __init tf_init(void)
{
	int ret;

	tf_buf = kcalloc(TF_PAGES, PAGE_SIZE, GFP_KERNEL);
	if (!tf_buf)
		return -ENOMEM;
	ret = misc_register(&tf_dev);
	if (ret)
		kfree(tf_buf);
	return ret;
}

static void __exit tf_exit(void)
{
	misc_deregister(&tf_dev);
	kfree(tf_buf);
}

module_init(tf_init);
module_exit(tf_exit);
MODULE_DESCRIPTION("Lint fixture: kcalloc memory mapped from another file");
MODULE_LICENSE("GPL");
