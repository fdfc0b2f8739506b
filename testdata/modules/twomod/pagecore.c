// SPDX-License-Identifier: GPL-2.0
/*
 * pagecore: the half of a two-module driver that the other needs loaded
 * first. It exports the function that makes the device's page.
 */

#include <linux/export.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>

#include "pagecore.h"

/* pagecore_new_page returns a zeroed page that starts with 0..9. */
struct page *pagecore_new_page(void)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	u8 *data;
	int i;

	if (!page)
		return NULL;
	data = page_address(page);
	for (i = 0; i < PAGECORE_PATTERN_LEN; i++)
		data[i] = i;
	return page;
}
EXPORT_SYMBOL_GPL(pagecore_new_page);

MODULE_DESCRIPTION("The page maker of a two-module mmap driver");
MODULE_LICENSE("GPL");
