// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: ordinary text calls a function in .init.text, which the
 * kernel frees after the module's init: modpost reports a section
 * mismatch, an error unless the kernel sets SECTION_MISMATCH_WARN_ONLY.
 */
#include <linux/init.h>
#include <linux/module.h>
#include <linux/printk.h>

static noinline int __init sectionmismatch_setup(void)
{
	pr_info("sectionmismatch: setup\n");
	return 0;
}

static noinline int sectionmismatch_again(void)
{
	return sectionmismatch_setup();
}

static int __init sectionmismatch_init(void)
{
	return sectionmismatch_again();
}

static void __exit sectionmismatch_exit(void)
{
}

module_init(sectionmismatch_init);
module_exit(sectionmismatch_exit);
MODULE_LICENSE("GPL");
