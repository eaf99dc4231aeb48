/* SPDX-License-Identifier: MIT */
/*
 * spa/ring: knocks read from a packet ring (AF_PACKET, TPACKET_V3) instead
 * of the UDP socket ([spa] receive = ring, CAP_NET_RAW).
 *
 * Why: on a socket every datagram costs a system call's share, a copy and a
 * free of a buffer another CPU wrote, and a receiver that keeps up wakes for
 * every few datagrams; that was most of a knock's CPU. The kernel copies
 * matching packets into the ring in the sender's (or the NIC's) context, and
 * hands over a block of them at a time, when it is full or 2 ms after its
 * first packet: one wake-up per block, no system call per packet.
 *
 * The UDP socket stays bound, with a filter that drops everything, so the
 * port answers as before (nothing, no ICMP) and stays ours. The ring's own
 * cBPF filter keeps only UDP to the port, unfragmented; spa_frame_parse()
 * then checks each packet as the UDP layer would have. Unlike the socket, a
 * ring also sees packets the host routes to others (fwknopd's pcap mode does
 * too): they are judged like any datagram, and a knock for another host can
 * open here only what its key may open here, as its replay by anyone on the
 * path could.
 */
#ifndef POSTERN_SPA_RING_H
#define POSTERN_SPA_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	SPA_RING_BLOCK = 1 << 16, /* bytes per block: hundreds of knocks */
	SPA_RING_RETIRE_MS = 2,	  /* a block's first packet waits at most this long */
	SPA_RING_MIN = 2 * SPA_RING_BLOCK,
	SPA_RING_MAX = 1 << 26,
	SPA_RING_ERR_MAX = 256,
};

/* One packet of a block, as spa_frame_parse() found it. */
struct spa_frame {
	const uint8_t *payload;	     /* the UDP payload */
	size_t len;		     /* its length (never more than the bytes captured) */
	struct sockaddr_storage src; /* the sender, as recvfrom() would give it */
	socklen_t srclen;
};

/*
 * spa_frame_parse(pkt, caplen, wirelen, listen, out): an IPv4 or IPv6 packet
 * (network header first, ${caplen} bytes of its ${wirelen} captured) that
 * the UDP layer would hand to a socket bound to ${listen}: the right
 * version, a whole header, UDP, not a fragment, lengths that agree, the
 * listen port and, unless ${listen} is a wildcard, its address. 1 with
 * ${out}; 0 for a packet that is not for us (the caller drops it silently,
 * as the kernel would). Untrusted bytes: fuzzed (fuzz/fuzz_spa_frame.c).
 */
int spa_frame_parse(const uint8_t *pkt, size_t caplen, size_t wirelen,
		    const struct sockaddr *listen, struct spa_frame *out);

struct spa_ring;

/*
 * spa_ring_open(listen, bytes, err): a ring of ${bytes} (rounded down to
 * whole blocks) receiving what the kernel would deliver to ${listen}. NULL
 * with ${err} (SPA_RING_ERR_MAX bytes): no CAP_NET_RAW, or no memory.
 */
struct spa_ring *spa_ring_open(const struct sockaddr *listen, size_t bytes, char *err);

/* spa_ring_fd(r): the descriptor to poll: readable when a block is ready. */
int spa_ring_fd(const struct spa_ring *r);

/*
 * spa_ring_read(r, fn, arg, max): hand every packet of the ready blocks to
 * ${fn} (parsed: packets that are not for us are skipped), block by block,
 * until none is ready or ${max} packets went by; ${fn} must copy what it
 * keeps, as the block returns to the kernel after it. Returns the packets
 * handed over.
 */
size_t spa_ring_read(struct spa_ring *r, void (*fn)(void *arg, const struct spa_frame *f),
		     void *arg, size_t max);

/* spa_ring_drops(r): packets the kernel dropped because the ring was full, in all. */
uint64_t spa_ring_drops(struct spa_ring *r);

/* spa_ring_close(r): unmap and close. NULL is a no-op. */
void spa_ring_close(struct spa_ring *r);

/* spa_socket_drop_all(fd): attach a filter that drops every datagram. 0 or -1 (errno). */
int spa_socket_drop_all(int fd);

#endif
