/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TWOFILES_H
#define TWOFILES_H

#include <linux/fs.h>

extern void *tf_buf;
extern const struct file_operations tf_fops;

#endif /* TWOFILES_H */
