/* SPDX-License-Identifier: MIT */
/*
 * spa/ring: the packet ring behind [spa] receive = ring (see ring.h for why).
 * The kernel owns a block until it marks it TP_STATUS_USER; we hand it back
 * by writing TP_STATUS_KERNEL, and the two sides meet only through that word,
 * hence the acquire and release.
 */
#include "spa/ring.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spa/request.h"
#include "util/wire.h"

struct spa_ring {
	int fd;
	uint8_t *map;
	size_t nblocks, cur;
	struct sockaddr_storage listen;
	uint64_t drops;
};

/* ---- parsing (pure) ---- */

static int udp_take(const uint8_t *udp, size_t room, size_t captured, uint16_t port,
		    struct spa_frame *out)
{
	if (room < 8 || captured < 8 || load16_be(udp + 2) != port)
		return 0;
	size_t ulen = load16_be(udp + 4);
	if (ulen < 8 || ulen > room)
		return 0;
	size_t len = ulen - 8;
	/* Too long is all the receiver needs to know of a long datagram. */
	if (len > SPA_DATAGRAM_MAX)
		len = SPA_DATAGRAM_MAX + 1;
	if (captured - 8 < len)
		return 0;
	out->payload = udp + 8;
	out->len = len;
	return 1;
}

static int parse_v4(const uint8_t *p, size_t caplen, size_t wirelen, const struct sockaddr_in *l,
		    struct spa_frame *out)
{
	static const uint8_t any[4];
	if (caplen < 20 || p[0] >> 4 != 4)
		return 0;
	size_t ihl = (size_t)(p[0] & 0x0f) * 4, tot = load16_be(p + 2);
	if (ihl < 20 || tot < ihl || tot > wirelen || caplen < ihl || p[9] != IPPROTO_UDP ||
	    (load16_be(p + 6) & 0x3fff) != 0)
		return 0;
	if (memcmp(&l->sin_addr, any, 4) != 0 && memcmp(&l->sin_addr, p + 16, 4) != 0)
		return 0;
	if (!udp_take(p + ihl, tot - ihl, caplen - ihl, ntohs(l->sin_port), out))
		return 0;
	struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	memcpy(&s->sin_addr, p + 12, 4);
	memcpy(&s->sin_port, p + ihl, 2);
	out->srclen = sizeof(*s);
	return 1;
}

static int parse_v6(const uint8_t *p, size_t caplen, size_t wirelen, const struct sockaddr_in6 *l,
		    struct spa_frame *out)
{
	/* Extension headers are not walked: a knock needs none, and the ring's
	 * filter passes only packets whose first next header is UDP. */
	if (caplen < 40 || p[0] >> 4 != 6 || p[6] != IPPROTO_UDP)
		return 0;
	size_t plen = load16_be(p + 4);
	if (40 + plen > wirelen)
		return 0;
	if (!IN6_IS_ADDR_UNSPECIFIED(&l->sin6_addr) && memcmp(&l->sin6_addr, p + 24, 16) != 0)
		return 0;
	if (!udp_take(p + 40, plen, caplen - 40, ntohs(l->sin6_port), out))
		return 0;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
	memset(s, 0, sizeof(*s));
	s->sin6_family = AF_INET6;
	memcpy(&s->sin6_addr, p + 8, 16);
	memcpy(&s->sin6_port, p + 40, 2);
	out->srclen = sizeof(*s);
	return 1;
}

int spa_frame_parse(const uint8_t *pkt, size_t caplen, size_t wirelen,
		    const struct sockaddr *listen, struct spa_frame *out)
{
	if (pkt == NULL || listen == NULL || caplen > wirelen)
		return 0;
	if (listen->sa_family == AF_INET)
		return parse_v4(pkt, caplen, wirelen, (const struct sockaddr_in *)listen, out);
	if (listen->sa_family == AF_INET6)
		return parse_v6(pkt, caplen, wirelen, (const struct sockaddr_in6 *)listen, out);
	return 0;
}

/* ---- the ring ---- */

/* UDP to ${port}, unfragmented, the whole packet; offsets from the network header. */
static int attach_filter(int fd, int family, uint16_t port)
{
	struct sock_filter v4[] = {
	    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 6),
	    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 4, 0),
	    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
	    BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_filter v6[] = {
	    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 3),
	    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = family == AF_INET
				     ? (struct sock_fprog){sizeof(v4) / sizeof(v4[0]), v4}
				     : (struct sock_fprog){sizeof(v6) / sizeof(v6[0]), v6};
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

int spa_socket_drop_all(int fd)
{
	struct sock_filter drop[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
	struct sock_fprog prog = {1, drop};
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static int fail(char *err, const char *what)
{
	int e = errno;
	snprintf(err, SPA_RING_ERR_MAX, "packet ring: %s: %s%s", what, strerror(e),
		 e == EPERM || e == EACCES ? " (receive = ring needs CAP_NET_RAW)" : "");
	return -1;
}

static int setup(struct spa_ring *r, const struct sockaddr *listen, size_t bytes, char *err)
{
	int family = listen->sa_family;
	uint16_t port = family == AF_INET ? ntohs(((const struct sockaddr_in *)listen)->sin_port)
					  : ntohs(((const struct sockaddr_in6 *)listen)->sin6_port);
	int v = TPACKET_V3, one = 1;
	/* Protocol 0 until bind(): nothing arrives before the filter is on. */
	r->fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return fail(err, "socket");
	if (attach_filter(r->fd, family, port) != 0)
		return fail(err, "filter");
	if (setsockopt(r->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0)
		return fail(err, "TPACKET_V3");
	/* What we send ourselves would come back through the ring on loopback. */
	if (setsockopt(r->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0)
		return fail(err, "PACKET_IGNORE_OUTGOING");
	r->nblocks = bytes / SPA_RING_BLOCK;
	struct tpacket_req3 req = {
	    .tp_block_size = SPA_RING_BLOCK,
	    .tp_block_nr = (unsigned)r->nblocks,
	    .tp_frame_size = TPACKET_ALIGNMENT << 7,
	    .tp_frame_nr = (unsigned)(r->nblocks * (SPA_RING_BLOCK / (TPACKET_ALIGNMENT << 7))),
	    .tp_retire_blk_tov = SPA_RING_RETIRE_MS,
	};
	if (setsockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0)
		return fail(err, "PACKET_RX_RING");
	void *m =
	    mmap(NULL, r->nblocks * SPA_RING_BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (m == MAP_FAILED)
		return fail(err, "mmap");
	r->map = m;
	struct sockaddr_ll ll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(family == AF_INET ? ETH_P_IP : ETH_P_IPV6),
	    .sll_ifindex = 0, /* every interface, as a wildcard socket hears them all */
	};
	if (bind(r->fd, (struct sockaddr *)&ll, sizeof(ll)) != 0)
		return fail(err, "bind");
	return 0;
}

struct spa_ring *spa_ring_open(const struct sockaddr *listen, size_t bytes, char *err)
{
	struct spa_ring *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, SPA_RING_ERR_MAX, "packet ring: out of memory");
		return NULL;
	}
	r->fd = -1;
	if (listen->sa_family != AF_INET && listen->sa_family != AF_INET6) {
		snprintf(err, SPA_RING_ERR_MAX, "packet ring: not an IP address");
		goto fail;
	}
	if (bytes < SPA_RING_MIN || bytes > SPA_RING_MAX) {
		snprintf(err, SPA_RING_ERR_MAX, "packet ring: size out of range");
		goto fail;
	}
	memcpy(&r->listen, listen,
	       listen->sa_family == AF_INET ? sizeof(struct sockaddr_in)
					    : sizeof(struct sockaddr_in6));
	if (setup(r, listen, bytes, err) != 0)
		goto fail;
	return r;
fail:
	spa_ring_close(r);
	return NULL;
}

int spa_ring_fd(const struct spa_ring *r)
{
	return r->fd;
}

static void read_block(struct spa_ring *r, const struct tpacket_block_desc *bd,
		       void (*fn)(void *arg, const struct spa_frame *f), void *arg, size_t *n)
{
	const uint8_t *base = (const uint8_t *)bd;
	size_t off = bd->hdr.bh1.offset_to_first_pkt;
	/* The kernel wrote these offsets; a wrong one still must not walk us off the block. */
	for (unsigned i = 0; i < bd->hdr.bh1.num_pkts; i++) {
		/* TPACKET3_HDRLEN: the header and the sockaddr_ll after it. */
		if (off > SPA_RING_BLOCK - TPACKET3_HDRLEN)
			return;
		const struct tpacket3_hdr *h = (const void *)(base + off);
		const struct sockaddr_ll *ll =
		    (const void *)(base + off + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
		struct spa_frame f;
		(*n)++;
		if ((size_t)h->tp_net + h->tp_snaplen <= SPA_RING_BLOCK - off &&
		    ll->sll_pkttype == PACKET_HOST &&
		    spa_frame_parse(base + off + h->tp_net, h->tp_snaplen, h->tp_len,
				    (const struct sockaddr *)&r->listen, &f) &&
		    f.len > 0)
			fn(arg, &f);
		if (h->tp_next_offset == 0)
			return;
		off += h->tp_next_offset;
	}
}

size_t spa_ring_read(struct spa_ring *r, void (*fn)(void *arg, const struct spa_frame *f),
		     void *arg, size_t max)
{
	size_t n = 0;
	while (n < max) {
		struct tpacket_block_desc *bd = (void *)(r->map + r->cur * SPA_RING_BLOCK);
		if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		     TP_STATUS_USER) == 0)
			break;
		read_block(r, bd, fn, arg, &n);
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		r->cur = (r->cur + 1) % r->nblocks;
	}
	return n;
}

uint64_t spa_ring_drops(struct spa_ring *r)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);
	/* Reading the counters resets them: they are summed here. */
	if (r != NULL && getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		r->drops += st.tp_drops;
	return r == NULL ? 0 : r->drops;
}

void spa_ring_close(struct spa_ring *r)
{
	if (r == NULL)
		return;
	if (r->map != NULL)
		munmap(r->map, r->nblocks * SPA_RING_BLOCK);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
