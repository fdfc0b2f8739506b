// SPDX-License-Identifier: GPL-2.0
/* Fixture: its init sleeps forever, so insmod never returns. */
#include <linux/module.h>
#include <linux/wait.h>

static DECLARE_WAIT_QUEUE_HEAD(hangload_never);

static int __init hangload_init(void)
{
	pr_info("hangload: sleeping forever in init\n");
	wait_event_interruptible(hangload_never, false);
	return -EINTR;
}

module_init(hangload_init);
MODULE_LICENSE("GPL");
