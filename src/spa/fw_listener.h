/* SPDX-License-Identifier: MIT */
/*
 * spa/fw_listener: the `listener` backend. A classic-BPF socket filter
 * (SO_ATTACH_FILTER) on every tunnel listening socket passes packets only
 * from sources with a live grant for that socket's port; the kernel drops
 * the rest before TCP sees them, so a SYN gets no SYN-ACK and no RST and
 * the port looks filtered. cBPF needs no privilege (eBPF maps would need
 * CAP_BPF); the price is a program rebuilt and re-attached on every change
 * and a size bound (BPF_MAXINSNS), see FW_LISTENER_MAX_*.
 */
#ifndef POSTERN_SPA_FW_LISTENER_H
#define POSTERN_SPA_FW_LISTENER_H

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#include "spa/grant.h"

enum {
	FW_LISTENER_MAX_FDS = 16, /* as many as the server's listeners */
	FW_LISTENER_INSNS = 4096, /* BPF_MAXINSNS */
	FW_LISTENER_FIXED = 10,	  /* instructions besides the sources */
	FW_LISTENER_V4_INSNS = 2, /* per IPv4 source */
	FW_LISTENER_V6_INSNS = 9, /* per IPv6 source */
};

/*
 * fw_listener_build(t, port, prog, cap): the filter for a listener on TCP
 * ${port}: accept packets from the sources of ${t}'s tcp grants for
 * ${port} (each source once), drop all else. Pure. Returns the number of
 * instructions, or -1 when they exceed ${cap}.
 */
long fw_listener_build(const struct spa_table *t, uint16_t port, struct sock_filter *prog,
		       size_t cap);

struct fw_listener;

/* fw_listener_new(t): a backend that reads its grants from ${t}. */
struct fw_listener *fw_listener_new(const struct spa_table *t);

void fw_listener_free(struct fw_listener *fl);

/*
 * fw_listener_guard(fl, fd, err): filter the listening socket ${fd} from now
 * on (at once: with no grant it drops everything). Returns 0 or -1.
 */
int fw_listener_guard(struct fw_listener *fl, int fd, char *err);

/* fw_listener_unguard(fl, fd): ${fd} is closing; forget it. */
void fw_listener_unguard(struct fw_listener *fl, int fd);

/*
 * fw_listener_accepted(fd): an accepted socket inherits its listener's
 * filter; remove it, so a session outlives the grant that let it in.
 */
void fw_listener_accepted(int fd);

/* fw_listener_ops(fl, ops): the backend interface; ctx is ${fl}. */
void fw_listener_ops(struct spa_backend_ops *ops);

#endif
