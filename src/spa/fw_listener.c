/* SPDX-License-Identifier: MIT */
/*
 * spa/fw_listener: cBPF filters on the tunnel's listening sockets.
 *
 * In a TCP socket filter the packet starts at the TCP header; the IP header
 * is reached through SKF_NET_OFF. The program:
 *
 *   A = ip[0] >> 4; 4 -> V4; 6 -> V6; else drop
 *   V4: A = ip[12..15]; for each source: A == s ? accept : next; drop
 *   V6: for each source: ip[8..23] == s (four words) ? accept : next; drop
 *
 * Every test falls through to the next source, so no jump is longer than
 * the 8-bit jt/jf allow; the two far branches use BPF_JA (32-bit).
 * Everything from an unknown source is dropped, not only SYNs, so an ACK
 * probe draws no RST either.
 */
#include "spa/fw_listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "util/wire.h"

enum { ACCEPT = 0xffffffffu, DROP = 0 };

static void emit(struct sock_filter *p, size_t *n, uint16_t code, uint8_t jt, uint8_t jf,
		 uint32_t k)
{
	p[*n] = (struct sock_filter){.code = code, .jt = jt, .jf = jf, .k = k};
	(*n)++;
}

/* seen(t, upto, g): an earlier grant of ${t} already put g's source in. */
static int seen(const struct spa_table *t, size_t upto, const struct spa_grant *g, uint16_t port)
{
	for (size_t i = 0; i < upto; i++) {
		const struct spa_grant *o = spa_table_get(t, i);
		if (o->proto == SPA_PROTO_TCP && o->port == port &&
		    o->src.family == g->src.family && memcmp(o->src.addr, g->src.addr, 16) == 0)
			return 1;
	}
	return 0;
}

static int wanted(const struct spa_table *t, size_t i, int family, uint16_t port)
{
	const struct spa_grant *g = spa_table_get(t, i);
	return g->proto == SPA_PROTO_TCP && g->port == port && g->src.family == family &&
	       !seen(t, i, g, port);
}

long fw_listener_build(const struct spa_table *t, uint16_t port, struct sock_filter *prog,
		       size_t cap)
{
	size_t n4 = 0, n6 = 0, n = 0, count = spa_table_count(t);
	for (size_t i = 0; i < count; i++) {
		n4 += wanted(t, i, AF_INET, port);
		n6 += wanted(t, i, AF_INET6, port);
	}
	size_t need = FW_LISTENER_FIXED + FW_LISTENER_V4_INSNS * n4 + FW_LISTENER_V6_INSNS * n6;
	if (need > cap)
		return -1;
	size_t v4 = 7, v6 = v4 + 1 + FW_LISTENER_V4_INSNS * n4 + 1;
	emit(prog, &n, BPF_LD | BPF_B | BPF_ABS, 0, 0, (uint32_t)SKF_NET_OFF);
	emit(prog, &n, BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4);
	emit(prog, &n, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 4);
	emit(prog, &n, BPF_JMP | BPF_JA, 0, 0, (uint32_t)(v4 - 4));
	emit(prog, &n, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 6);
	emit(prog, &n, BPF_JMP | BPF_JA, 0, 0, (uint32_t)(v6 - 6));
	emit(prog, &n, BPF_RET | BPF_K, 0, 0, DROP);
	emit(prog, &n, BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)SKF_NET_OFF + 12);
	for (size_t i = 0; i < count; i++) {
		if (!wanted(t, i, AF_INET, port))
			continue;
		emit(prog, &n, BPF_JMP | BPF_JEQ | BPF_K, 0, 1,
		     load32_be(spa_table_get(t, i)->src.addr));
		emit(prog, &n, BPF_RET | BPF_K, 0, 0, ACCEPT);
	}
	emit(prog, &n, BPF_RET | BPF_K, 0, 0, DROP);
	for (size_t i = 0; i < count; i++) {
		if (!wanted(t, i, AF_INET6, port))
			continue;
		const uint8_t *a = spa_table_get(t, i)->src.addr;
		for (int w = 0; w < 4; w++) {
			emit(prog, &n, BPF_LD | BPF_W | BPF_ABS, 0, 0,
			     (uint32_t)SKF_NET_OFF + 8 + 4 * (uint32_t)w);
			emit(prog, &n, BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(7 - 2 * w),
			     load32_be(a + 4 * w));
		}
		emit(prog, &n, BPF_RET | BPF_K, 0, 0, ACCEPT);
	}
	emit(prog, &n, BPF_RET | BPF_K, 0, 0, DROP);
	return (long)n;
}

struct fw_listener {
	const struct spa_table *t;
	int fds[FW_LISTENER_MAX_FDS];
	uint16_t ports[FW_LISTENER_MAX_FDS];
	/* The program each fd holds: an unchanged one is not attached again (an
	 * extended grant, a source already let in), since the kernel checks and
	 * JIT-compiles every program it is given. */
	struct sock_filter *attached[FW_LISTENER_MAX_FDS];
	size_t nattached[FW_LISTENER_MAX_FDS];
	size_t nfds;
	struct sock_filter prog[FW_LISTENER_INSNS];
};

struct fw_listener *fw_listener_new(const struct spa_table *t)
{
	struct fw_listener *fl = calloc(1, sizeof(*fl));
	if (fl != NULL)
		fl->t = t;
	return fl;
}

void fw_listener_free(struct fw_listener *fl)
{
	for (size_t i = 0; fl != NULL && i < FW_LISTENER_MAX_FDS; i++)
		free(fl->attached[i]);
	free(fl);
}

static int attach(struct fw_listener *fl, size_t i, char *err)
{
	long n = fw_listener_build(fl->t, fl->ports[i], fl->prog, FW_LISTENER_INSNS);
	if (n < 0) {
		snprintf(err, SPA_GRANT_ERR_MAX,
			 "listener backend: too many sources for port %u (one cBPF program holds "
			 "about %d IPv4 or %d IPv6 sources)",
			 fl->ports[i],
			 (FW_LISTENER_INSNS - FW_LISTENER_FIXED) / FW_LISTENER_V4_INSNS,
			 (FW_LISTENER_INSNS - FW_LISTENER_FIXED) / FW_LISTENER_V6_INSNS);
		return -1;
	}
	size_t bytes = (size_t)n * sizeof(*fl->prog);
	if (fl->attached[i] != NULL && fl->nattached[i] == (size_t)n &&
	    memcmp(fl->attached[i], fl->prog, bytes) == 0)
		return 0;
	struct sock_fprog fp = {.len = (unsigned short)n, .filter = fl->prog};
	/* SO_ATTACH_FILTER swaps the program atomically: no packet sees none. */
	if (setsockopt(fl->fds[i], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) != 0) {
		snprintf(err, SPA_GRANT_ERR_MAX, "listener backend: SO_ATTACH_FILTER: %s",
			 strerror(errno));
		return -1;
	}
	/* Remembered at full size once, so later rebuilds never allocate. */
	if (fl->attached[i] == NULL)
		fl->attached[i] = malloc(sizeof(fl->prog));
	fl->nattached[i] = fl->attached[i] != NULL ? (size_t)n : 0;
	if (fl->attached[i] != NULL)
		memcpy(fl->attached[i], fl->prog, bytes);
	return 0;
}

static int rebuild(struct fw_listener *fl, char *err)
{
	int rc = 0;
	for (size_t i = 0; i < fl->nfds; i++)
		if (attach(fl, i, err) != 0)
			rc = -1;
	return rc;
}

int fw_listener_guard(struct fw_listener *fl, int fd, char *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (fl->nfds >= FW_LISTENER_MAX_FDS) {
		snprintf(err, SPA_GRANT_ERR_MAX, "listener backend: too many listeners");
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(err, SPA_GRANT_ERR_MAX, "listener backend: getsockname: %s",
			 strerror(errno));
		return -1;
	}
	uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	fl->fds[fl->nfds] = fd;
	fl->ports[fl->nfds] = port;
	fl->nattached[fl->nfds] = 0; /* a new socket holds no program yet */
	if (attach(fl, fl->nfds, err) != 0)
		return -1;
	fl->nfds++;
	return 0;
}

void fw_listener_unguard(struct fw_listener *fl, int fd)
{
	for (size_t i = 0; fl != NULL && i < fl->nfds; i++) {
		if (fl->fds[i] != fd)
			continue;
		size_t last = fl->nfds - 1;
		struct sock_filter *keep = fl->attached[i];
		fl->fds[i] = fl->fds[last];
		fl->ports[i] = fl->ports[last];
		fl->attached[i] = fl->attached[last];
		fl->nattached[i] = fl->nattached[last];
		fl->attached[last] = keep; /* the buffer stays for the next socket */
		fl->nattached[last] = 0;
		fl->nfds--;
		return;
	}
}

void fw_listener_accepted(int fd)
{
	int one = 1;
	/* ENOENT (no filter: SPA off) is the normal case, not an error. */
	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof(one)) != 0 && errno != ENOENT)
		log_warn("cannot detach filter error=%s", log_q(strerror(errno)));
}

static int op_start(void *ctx, char *err)
{
	return rebuild(ctx, err);
}

static int op_grant(void *ctx, const struct spa_grant *g, char *err)
{
	if (g->has_forward) {
		snprintf(err, SPA_GRANT_ERR_MAX,
			 "listener backend cannot forward (backend = nftables can)");
		return -1;
	}
	return rebuild(ctx, err);
}

static int op_revoke(void *ctx, const struct spa_grant *g, char *err)
{
	(void)g;
	return rebuild(ctx, err);
}

static void op_stop(void *ctx)
{
	(void)ctx;
}

void fw_listener_ops(struct spa_backend_ops *ops)
{
	*ops = (struct spa_backend_ops){
	    .name = "listener",
	    .start = op_start,
	    .grant = op_grant,
	    .revoke = op_revoke,
	    .stop = op_stop,
	};
}
