// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: compiles, but calls a function that neither it nor the kernel
 * defines, so modpost refuses to link it ("ERROR: modpost:
 * "mmaprig_no_such_symbol" [...] undefined!").
 */
#include <linux/init.h>
#include <linux/module.h>

int mmaprig_no_such_symbol(void);

static int __init undefsym_init(void)
{
	return mmaprig_no_such_symbol();
}

static void __exit undefsym_exit(void)
{
}

module_init(undefsym_init);
module_exit(undefsym_exit);
MODULE_LICENSE("GPL");
