/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MAPCORE_H
#define _MAPCORE_H

#define MAPCORE_PATTERN_LEN	10

struct page *mapcore_new_page(void);

#endif /* _MAPCORE_H */
