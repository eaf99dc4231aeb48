/* SPDX-License-Identifier: MIT */
/*
 * util/caps: keep CAP_NET_ADMIN across the drop from root to `user =`, so
 * the nftables backend still changes its table after the drop. Plain
 * prctl(2) and capset(2): no libcap. Every other capability is gone after
 * caps_keep_net_admin(), and none survives an exec (no ambient set).
 */
#ifndef POSTERN_CAPS_H
#define POSTERN_CAPS_H

#include <stddef.h>

enum { CAPS_ERR_MAX = 128 };

/*
 * caps_keep_begin(err): before setuid(): ask the kernel to keep the
 * permitted set across the uid change (PR_SET_KEEPCAPS). 0, or -1 with
 * ${err} (CAPS_ERR_MAX bytes).
 */
int caps_keep_begin(char *err);

/*
 * caps_keep_net_admin(err): after setuid(): permitted and effective become
 * CAP_NET_ADMIN alone, inheritable empty, and PR_SET_KEEPCAPS is cleared
 * again. 0, or -1 with ${err}: the caller must not run on without it.
 */
int caps_keep_net_admin(char *err);

#endif
