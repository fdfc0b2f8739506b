// SPDX-License-Identifier: GPL-2.0
/* Fixture: does not compile. */
#include <linux/module.h>

static int __init nobuild_init(void)
{
	return this_symbol_does_not_exist;
}

module_init(nobuild_init);
MODULE_LICENSE("GPL");
