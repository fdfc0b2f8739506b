// SPDX-License-Identifier: GPL-2.0
/*
 * exitwork: the exit starts a kernel thread whose thread function is
 * msleep() itself (a core function, argument 500), and queues on it, with
 * task_work_add(), a callback in this module. The thread's stack holds
 * only core frames (msleep, kthread), its timer runs process_timeout (a
 * core function), and task works are not traced; 500 ms after the unload
 * the thread exits and do_exit() runs the callback in freed module text.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/version.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/task_work.h>

static struct page *page;

static int mymap_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTEXPAND);
#else
	vma->vm_flags |= VM_DONTEXPAND;
#endif
	return vm_insert_page(vma, vma->vm_start, page);
}

static const struct file_operations mymap_fops = {
	.owner = THIS_MODULE,
	.mmap = mymap_mmap,
};

static struct miscdevice mymap_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mymap",
	.fops = &mymap_fops,
};

static int __init mymap_init(void)
{
	u8 *data;
	int i, ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	data = page_address(page);
	for (i = 0; i < 10; i++)
		data[i] = i;
	ret = misc_register(&mymap_dev);
	if (ret)
		__free_page(page);
	return ret;
}

static void exitwork_cb(struct callback_head *cb)
{
	kfree(cb);
}

static void leave_behind(void)
{
	/* Leaked on purpose: it runs, and frees itself, when the thread exits. */
	struct callback_head *cb = kzalloc(sizeof(*cb), GFP_KERNEL);
	int (*fn)(void *) = (int (*)(void *))(void *)msleep;
	struct task_struct *t;

	if (!cb)
		return;
	t = kthread_create(fn, (void *)500UL, "exitwork");
	if (IS_ERR(t)) {
		kfree(cb);
		return;
	}
	init_task_work(cb, exitwork_cb);
	if (task_work_add(t, cb, TWA_NONE))
		kfree(cb);
	wake_up_process(t);
}

static void __exit mymap_exit(void)
{
	misc_deregister(&mymap_dev);
	__free_page(page);
	leave_behind();
}

module_init(mymap_init);
module_exit(mymap_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmaprig attack: exitwork");
