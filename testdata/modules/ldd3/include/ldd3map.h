/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ldd3map.h: what the ldd3map driver shares with its tree, kept in the
 * tree's include/ as LDD3's examples keep theirs (lddbus.h, ...).
 */
#ifndef _LDD3MAP_H
#define _LDD3MAP_H

#include <linux/mm.h>
#include <linux/version.h>

#define LDD3MAP_NAME		"mymap"
#define LDD3MAP_PATTERN_LEN	10

/* vm_flags became read-only in v6.3, where vm_flags_set() was added. */
static inline void ldd3map_vm_flags_set(struct vm_area_struct *vma,
					vm_flags_t flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

#endif /* _LDD3MAP_H */
