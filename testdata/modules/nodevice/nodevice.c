// SPDX-License-Identifier: GPL-2.0
/* Fixture: loads fine, but never registers /dev/mymap. */
#include <linux/module.h>

static int __init nodevice_init(void)
{
	pr_info("nodevice: loaded, registering nothing\n");
	return 0;
}

static void __exit nodevice_exit(void)
{
}

module_init(nodevice_init);
module_exit(nodevice_exit);
MODULE_LICENSE("GPL");
