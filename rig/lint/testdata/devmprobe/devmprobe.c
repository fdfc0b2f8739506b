// SPDX-License-Identifier: GPL-2.0
/*
 * Fixture, wrong: a platform driver whose probe allocates its buffer with
 * devm_kzalloc() and whose mmap hands it to vm_insert_page(), which
 * refuses slab pages since 5.8.
 */
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

struct dmp_priv {
	struct miscdevice misc;
	void *buf;
};

static int dmp_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct dmp_priv *priv = container_of(file->private_data,
					     struct dmp_priv, misc);

	if (vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	return vm_insert_page(vma, vma->vm_start, virt_to_page(priv->buf));
}

static const struct file_operations dmp_fops = {
	.owner = THIS_MODULE,
	.mmap = dmp_mmap,
};

static int dmp_probe(struct platform_device *pdev)
{
	struct dmp_priv *priv;
	void *buf;

	priv = devm_kzalloc(&pdev->dev, sizeof(*priv), GFP_KERNEL);
	if (!priv)
		return -ENOMEM;
	buf = devm_kzalloc(&pdev->dev, PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	priv->buf = buf;
	priv->misc.minor = MISC_DYNAMIC_MINOR;
	priv->misc.name = "devmprobe";
	priv->misc.fops = &dmp_fops;
	platform_set_drvdata(pdev, priv);
	return misc_register(&priv->misc);
}

static int dmp_remove(struct platform_device *pdev)
{
	struct dmp_priv *priv = platform_get_drvdata(pdev);

	misc_deregister(&priv->misc);
	return 0;
}

static struct platform_driver dmp_driver = {
	.probe = dmp_probe,
	.remove = dmp_remove,
	.driver = {
		.name = "devmprobe",
	},
};

static struct platform_device *dmp_pdev;

static int __init dmp_init(void)
{
	int ret;

	ret = platform_driver_register(&dmp_driver);
	if (ret)
		return ret;
	dmp_pdev = platform_device_register_simple("devmprobe", -1, NULL, 0);
	if (IS_ERR(dmp_pdev)) {
		platform_driver_unregister(&dmp_driver);
		return PTR_ERR(dmp_pdev);
	}
	return 0;
}

static void __exit dmp_exit(void)
{
	platform_device_unregister(dmp_pdev);
	platform_driver_unregister(&dmp_driver);
}

module_init(dmp_init);
module_exit(dmp_exit);
MODULE_DESCRIPTION("Lint fixture: devm_kzalloc memory mapped with vm_insert_page");
MODULE_LICENSE("GPL");
