// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>

MODULE_DESCRIPTION("A module its Makefile never names");
MODULE_LICENSE("GPL");
