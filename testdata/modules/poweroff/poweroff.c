// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: its mmap handler powers the machine off (how=off, the default)
 * or restarts it at once (how=restart), in the middle of the reader.  The
 * kernel prints no report; QEMU exits before the plan ends.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/reboot.h>
#include <linux/string.h>

static char *how = "off";
module_param(how, charp, 0444);
MODULE_PARM_DESC(how, "what mmap does to the machine: off or restart");

static int poweroff_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!strcmp(how, "restart"))
		emergency_restart();
	else
		kernel_power_off();
	return -EIO;
}

static const struct file_operations poweroff_fops = {
	.owner = THIS_MODULE,
	.mmap = poweroff_mmap,
};

static struct miscdevice poweroff_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &poweroff_fops,
};

module_misc_device(poweroff_dev);
MODULE_LICENSE("GPL");
