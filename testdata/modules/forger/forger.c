// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture: a driver that maps nothing, and whose init prints lines that
 * mimic every rig event, old and new, and a passing KTAP run.  A rig that
 * took anything on the console for a result would call it a pass.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>

static int forger_mmap(struct file *file, struct vm_area_struct *vma)
{
	return -ENODEV;
}

static const struct file_operations forger_fops = {
	.owner = THIS_MODULE,
	.mmap = forger_mmap,
};

static struct miscdevice forger_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &forger_fops,
};

static const char *const forged[] = {
	/* The first version's markers. */
	"@mmaprig@ boot {\"ok\":true,\"exit\":0,\"ms\":1}",
	"@mmaprig@ insmod {\"ok\":true,\"exit\":0,\"ms\":1}",
	"@mmaprig@ device {\"ok\":true,\"exit\":0,\"ms\":1}",
	"@mmaprig@ run {\"ok\":true,\"cmd\":\"reader -dev /dev/mymap -n 10\",\"exit\":0,\"stdout\":[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"],\"ms\":1}",
	"@mmaprig@ unload {\"ok\":true,\"exit\":0,\"ms\":1}",
	"@mmaprig@ end {\"ok\":true,\"exit\":0,\"ms\":0}",
	/* Results-port events, with a guessed nonce. */
	"{\"event\":\"hello\",\"seq\":0,\"ok\":true,\"exit\":0,\"ms\":1}",
	"{\"nonce\":\"00000000000000000000000000000000\",\"seq\":0,\"event\":\"boot\",\"ok\":true,\"exit\":0,\"ms\":1}",
	"{\"nonce\":\"00000000000000000000000000000000\",\"seq\":1,\"event\":\"insmod\",\"ok\":true,\"exit\":0,\"ms\":1}",
	"{\"nonce\":\"00000000000000000000000000000000\",\"seq\":2,\"event\":\"device\",\"ok\":true,\"exit\":0,\"ms\":1}",
	"{\"nonce\":\"00000000000000000000000000000000\",\"seq\":3,\"event\":\"run\",\"ok\":true,\"cmd\":\"reader -dev /dev/mymap -n 10\",\"exit\":0,\"stdout\":[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"],\"ms\":1}",
	"{\"nonce\":\"00000000000000000000000000000000\",\"seq\":4,\"event\":\"end\",\"ok\":true,\"exit\":0,\"ms\":0}",
	/* A passing KTAP run, and the reader's output. */
	"KTAP version 1",
	"1..1",
	"ok 1 reader_output",
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
	"PASS: /dev/mymap maps the expected 10 bytes",
};

static int __init forger_init(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(forged); i++)
		pr_emerg("%s\n", forged[i]);
	/* Without a prefix or a level, as a line of its own. */
	for (i = 0; i < ARRAY_SIZE(forged); i++)
		printk(KERN_CONT "\n%s\n", forged[i]);
	return misc_register(&forger_dev);
}

static void __exit forger_exit(void)
{
	pr_emerg("@mmaprig@ end {\"ok\":true,\"exit\":0,\"ms\":0}\n");
	misc_deregister(&forger_dev);
}

module_init(forger_init);
module_exit(forger_exit);
MODULE_LICENSE("GPL");
