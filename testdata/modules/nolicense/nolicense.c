// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: compiles, but has no MODULE_LICENSE(), so modpost refuses to
 * link it ("ERROR: modpost: missing MODULE_LICENSE() in ...").
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init nolicense_init(void)
{
	return 0;
}

static void __exit nolicense_exit(void)
{
}

module_init(nolicense_init);
module_exit(nolicense_exit);
