/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _PAGECORE_H
#define _PAGECORE_H

#define PAGECORE_PATTERN_LEN	10

struct page *pagecore_new_page(void);

#endif /* _PAGECORE_H */
